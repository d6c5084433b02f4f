"""The byte protocol between a host and a lognet board top (UART bridge + core).

Shared by the gateware (:mod:`lognet.boards.bridge`), the host driver
(:mod:`lognet.boards.host`) and the tests; plain Python, no hardware. The same text is in
docs/protocol.md.

Link
----
UART, 8 data bits, no parity, 1 stop bit (8N1), 115200 baud by default. The host is the
initiator: it sends one command, then reads the whole answer before it sends the next command.
The device answers every command. All multi-byte numbers are little-endian.

Commands (host -> device: one command byte, then the argument bytes)

======== ====== ============================= ==========================================
command  byte   arguments                     answer (device -> host)
======== ====== ============================= ==========================================
ID       ``I``  none                          ACK, 14 info bytes (below)
WRITE    ``W``  addr: u32, data: u32          ACK (after the word is written)
READ     ``R``  addr: u32                     ACK, data: u32
COMMIT   ``C``  none                          ACK once STATUS bit 0 reads 0 again
SEND     ``S``  n_in elements                 ACK once the core has taken the vector
RECV     ``O``  none                          ACK, n_out elements (waits for an output)
======== ====== ============================= ==========================================

``ACK`` is 0x06. An unknown command byte is answered by ``NAK`` (0x15) alone and otherwise
ignored. Command bytes are ASCII letters (0x49, 0x57, 0x52, 0x43, 0x53, 0x4F).

- WRITE/READ address the core's configuration bus (word addresses, docs/interfaces.md); the
  device uses the low ``addr_width`` bits of ``addr``.
- COMMIT writes 1 to CTRL (address 2) and polls STATUS (address 3) until bit 0 is 0: when ACK
  arrives the new weight set is active and the next set may be written.
- Vector elements go one after the other, element 0 first, each in ``ceil(width / 8)`` bytes,
  little-endian, two's complement when the format is signed. The device ignores the bits of an
  input element above ``in_width``; it sign-extends (signed) or zero-extends (unsigned) each
  output element to whole bytes.
- SEND waits until the core accepts the vector; RECV waits until the core offers an output. At
  most ``depth`` vectors (from ID; 1 in this version) may be sent ahead of their RECV: with more
  the device stalls in SEND for ever.
- If the link goes quiet in the middle of a command's arguments for longer than the device's
  idle timeout (about 50 ms on the boards), the device drops the partial command and waits for
  a new command byte; a host that lost track waits that long, then sends ID to resynchronise.

ID info (14 bytes)

====== ==== ==============================================================
offset size field
====== ==== ==============================================================
0      4    magic ``b"LGNB"``
4      1    protocol version (1)
5      1    flags: bit 0 input signed, bit 1 output signed
6      1    ``in_width`` (bits per input element)
7      1    ``out_width`` (bits per output element)
8      2    ``n_in`` (elements per input vector)
10     2    ``n_out`` (elements per output vector)
12     1    ``addr_width`` of the configuration bus
13     1    ``depth``: vectors that may be sent ahead of their RECV
====== ==== ==============================================================
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lognet.base.errors import InputError

__all__ = [
    "ACK",
    "CMD_COMMIT",
    "CMD_ID",
    "CMD_READ",
    "CMD_RECV",
    "CMD_SEND",
    "CMD_WRITE",
    "INFO_LEN",
    "MAGIC",
    "NAK",
    "VERSION",
    "FRAME_BITS",
    "DeviceInfo",
    "FramingError",
    "decode_frame",
    "decode_vector",
    "element_bytes",
    "encode_read",
    "encode_vector",
    "encode_write",
    "frame_byte",
]

ACK = 0x06
NAK = 0x15
CMD_ID = ord("I")
CMD_WRITE = ord("W")
CMD_READ = ord("R")
CMD_COMMIT = ord("C")
CMD_SEND = ord("S")
CMD_RECV = ord("O")
COMMANDS = (CMD_ID, CMD_WRITE, CMD_READ, CMD_COMMIT, CMD_SEND, CMD_RECV)

MAGIC = b"LGNB"
VERSION = 1
INFO_LEN = 14
_INFO = struct.Struct("<4sBBBBHHBB")
assert _INFO.size == INFO_LEN


def element_bytes(width: int) -> int:
    """Bytes per vector element of ``width`` bits: ``ceil(width / 8)``."""
    return (width + 7) // 8


@dataclass(frozen=True)
class DeviceInfo:
    """What ID reports: the shape of the core behind the bridge."""

    n_in: int
    n_out: int
    in_width: int
    out_width: int
    in_signed: bool
    out_signed: bool
    addr_width: int
    depth: int = 1
    version: int = VERSION

    def to_bytes(self) -> bytes:
        flags = int(self.in_signed) | int(self.out_signed) << 1
        return _INFO.pack(MAGIC, self.version, flags, self.in_width, self.out_width, self.n_in,
                          self.n_out, self.addr_width, self.depth)

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceInfo:
        """Parse the 14 info bytes; ValueError when the magic is wrong."""
        if len(data) != INFO_LEN:
            raise ValueError(f"ID answer has {len(data)} bytes, expected {INFO_LEN}")
        magic, version, flags, iw, ow, n_in, n_out, aw, depth = _INFO.unpack(data)
        if magic != MAGIC:
            raise ValueError(f"ID answer starts with {magic!r}, not {MAGIC!r}: not a lognet "
                             f"board, or the link is out of step")
        return cls(n_in, n_out, iw, ow, bool(flags & 1), bool(flags & 2), aw, depth, version)

    @property
    def send_len(self) -> int:
        """Argument bytes of SEND."""
        return self.n_in * element_bytes(self.in_width)

    @property
    def recv_len(self) -> int:
        """Data bytes of the RECV answer."""
        return self.n_out * element_bytes(self.out_width)


def _range(width: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


def encode_vector(values, width: int, signed: bool) -> bytes:
    """Elements of one vector, each in ``element_bytes(width)`` bytes, little-endian.

    Raises InputError when a value does not fit ``width`` bits of the given signedness."""
    lo, hi = _range(width, signed)
    nb = element_bytes(width)
    out = bytearray()
    for i, v in enumerate(values):
        v = int(v)
        if not lo <= v <= hi:
            kind = "signed" if signed else "unsigned"
            raise InputError(f"element {i} = {v} does not fit {width}-bit {kind} "
                             f"({lo}..{hi}); quantise the inputs to the core's input format")
        out += (v & ((1 << (8 * nb)) - 1)).to_bytes(nb, "little")
    return bytes(out)


def decode_vector(data: bytes, n: int, width: int, signed: bool) -> list[int]:
    """Inverse of :func:`encode_vector` for ``n`` elements (bits above ``width`` ignored)."""
    nb = element_bytes(width)
    if len(data) != n * nb:
        raise ValueError(f"{len(data)} bytes for {n} elements of {nb} bytes")
    mask = (1 << width) - 1
    out = []
    for i in range(n):
        v = int.from_bytes(data[i * nb:(i + 1) * nb], "little") & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


def _u32(name: str, v: int) -> bytes:
    v = int(v)
    if not 0 <= v < 1 << 32:
        raise InputError(f"{name} {v} is not a 32-bit unsigned word")
    return v.to_bytes(4, "little")


def encode_write(addr: int, word: int) -> bytes:
    """WRITE command bytes."""
    return bytes([CMD_WRITE]) + _u32("address", addr) + _u32("word", word)


def encode_read(addr: int) -> bytes:
    """READ command bytes."""
    return bytes([CMD_READ]) + _u32("address", addr)


# -- the link: UART 8N1 framing ------------------------------------------------------------------

#: line bits per 8N1 frame: start (0), 8 data bits LSB first, stop (1)
FRAME_BITS = 10


class FramingError(ValueError):
    """A frame whose start bit is not 0 or whose stop bit is not 1."""


def frame_byte(byte: int) -> tuple[int, ...]:
    """The line levels of one 8N1 frame of ``byte``, one per bit time: start bit 0, the data
    bits LSB first, stop bit 1 (the line idles high)."""
    byte = int(byte)
    if not 0 <= byte < 256:
        raise ValueError(f"{byte} is not a byte")
    return (0, *((byte >> i) & 1 for i in range(8)), 1)


def decode_frame(bits) -> int:
    """The byte of one 8N1 frame sampled in each bit's middle (``FRAME_BITS`` levels: start,
    data LSB first, stop); :class:`FramingError` when the start bit is not 0 or the stop bit is
    not 1 (a receiver drops such a byte)."""
    bits = [int(b) for b in bits]
    if len(bits) != FRAME_BITS:
        raise ValueError(f"an 8N1 frame has {FRAME_BITS} bits, not {len(bits)}")
    if bits[0] != 0:
        raise FramingError("start bit is 1")
    if bits[-1] != 1:
        raise FramingError("stop bit is 0 (framing error)")
    return sum(b << i for i, b in enumerate(bits[1:9]))
