"""Host driver for a lognet board: the protocol of :mod:`lognet.boards.protocol` over any
byte transport.

The transport is anything with ``write(bytes)`` and ``read(n) -> bytes`` (returning fewer bytes
when its timeout expires): a ``serial.Serial`` for a real board, or
:class:`~lognet.boards.simlink.SimSerial` for the simulated top. The same class drives both.

    with LognetDevice("/dev/ttyUSB0") as dev:
        dev.load_spec_weights(config_writes(spec), pause=needs_pause(spec))
        y = dev.infer(x)
        dev.retune(spec, tuned)  # only the words that differ, then a commit

:func:`retune_writes` (pure, no device) lists the words that change between two weight sets of
one core and refuses a set the core's tunability tier cannot take.
"""

from __future__ import annotations

import dataclasses

from lognet.base.errors import InputError
from lognet.hw.regmap import (
    ADDR_CTRL,
    ADDR_ID,
    ADDR_STATUS,
    CTRL_PAUSE,
    ID_VALUE,
    STATUS_SAFE,
    RegisterMap,
    config_writes,
    needs_pause,
    register_map,
)
from lognet.model.arch import Arith, SpecError, Tunable
from lognet.model.spec import LayerSpec

from . import protocol as P

__all__ = ["DeviceError", "DeviceTimeout", "LognetDevice", "needs_pause", "open_serial",
           "retune_writes", "write_regions"]

#: what a weight set may change in a built core (the rest is wired in or is provenance)
_WEIGHTS = ("levels", "bias", "signs", "indices", "meta")

#: the core's ID register value (``lognet.hw.regmap.ID_VALUE``), read by
#: :meth:`LognetDevice.check_core`
CORE_ID = ID_VALUE


class DeviceError(RuntimeError):
    """The device answered something the protocol does not allow (NAK, bad ID, garbage)."""


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""


def open_serial(port: str, baud: int = 115200, timeout: float = 2.0):
    """A ``serial.Serial`` (pyserial) for ``port``; pyserial URLs such as ``loop://`` work too.

    Raises InputError with the port name when it cannot be opened."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                     timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as e:
        raise InputError(f"cannot open serial port {port!r} ({e}); check the name (e.g. "
                         f"/dev/ttyUSB1 for an iCEBreaker, /dev/ttyUSB0 for a ULX3S) and "
                         f"your permission to use it") from None


def retune_writes(old, new, core=None) -> list[tuple[int, int]]:
    """The ``(address, word)`` writes that turn weight set ``old`` into ``new`` in a core built
    from ``core`` (default: ``old``): only the words that differ, in register-map order.

    Raises :class:`SpecError` when ``new`` needs a register the core does not have: another
    shape, format, activation or architecture (wired in), new levels or biases in a
    ``tunable=none`` core, new signs or indices in a ``tunable=levels`` one, or a level a
    shift build cannot encode."""
    core = old if core is None else core
    if isinstance(old, LayerSpec) != isinstance(new, LayerSpec) or (
            len(old.layers) != len(new.layers)):
        raise SpecError("the tuned spec has other layers than the core's; regenerate the core")
    for a, b in zip(old.layers, new.layers):
        for f in dataclasses.fields(LayerSpec):
            if f.name in _WEIGHTS or (f.name == "arch" and _same_arch(a.arch, b.arch)):
                continue
            if getattr(a, f.name) != getattr(b, f.name):
                raise SpecError(f"layer {a.name!r}: the new weight set changes {f.name}, which "
                                f"is wired into the core; regenerate it")
        if a.arch.tunable is Tunable.NONE and (a.levels != b.levels or a.bias != b.bias
                                               or a.signs != b.signs or a.indices != b.indices):
            raise SpecError(f"layer {a.name!r} is built with tunable=none: its weights are wired "
                            f"in; rebuild the core with --tunable levels or all")
    was, now = config_writes(core, old), config_writes(core, new)
    return [(addr, w) for (addr, v), (_, w) in zip(was, now) if v != w]


def _same_arch(a, b) -> bool:
    """The same build: ``arith=auto`` matches the mode it resolves to (whether the levels
    can be encoded is then the register map's check)."""
    return (a.kind, a.lanes, a.tunable) == (b.kind, b.lanes, b.tunable) and (
        a.arith == b.arith or Arith.AUTO in (a.arith, b.arith))


def write_regions(core, writes) -> list[dict]:
    """``{"layer", "region", "words", "of"}`` per register region that ``writes`` touch in a
    core built from ``core`` (``of``: the words the region has), in address order."""
    rm = register_map(core)
    counts: dict[tuple[str, str], list[int]] = {}
    spans = []
    for m in [rm] if isinstance(rm, RegisterMap) else rm.layers:
        for r in sorted(m.regions.values(), key=lambda r: r.base):
            key = (m.spec.name, r.name)
            counts[key] = [0, r.count]
            spans.append((m.base + r.base, m.base + r.base + r.count, key))
    for addr, _ in writes:
        key = next(k for lo, hi, k in spans if lo <= addr < hi)
        counts[key][0] += 1
    return [{"layer": k[0], "region": k[1], "words": n, "of": total}
            for k, (n, total) in counts.items() if n]


class LognetDevice:
    """A lognet board (or its simulation) behind a byte transport.

    Parameters
    ----------
    port_or_transport:
        A serial port name / pyserial URL, or an open transport object.
    baud, timeout:
        Used only when a port name is given.
    """

    def __init__(self, port_or_transport, *, baud: int = 115200, timeout: float = 2.0):
        if isinstance(port_or_transport, str):
            self.transport = open_serial(port_or_transport, baud, timeout)
            self._owns = True
        else:
            self.transport = port_or_transport
            self._owns = False
        self._info: P.DeviceInfo | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def _read_exact(self, n: int, what: str) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.transport.read(n - len(data))
            if not chunk:
                raise DeviceTimeout(f"no answer to {what} ({len(data)} of {n} bytes); is the "
                                    f"board programmed and the port right?")
            data += chunk
        return data

    def _command(self, frame: bytes, answer_len: int, what: str) -> bytes:
        self.transport.write(frame)
        status = self._read_exact(1, what)[0]
        if status == P.NAK:
            raise DeviceError(f"device refused {what} (NAK): the link is out of step or this "
                              f"is not a lognet board")
        if status != P.ACK:
            raise DeviceError(f"device answered {what} with 0x{status:02x}, not ACK")
        return self._read_exact(answer_len, what) if answer_len else b""

    # -- protocol commands -------------------------------------------------------------------

    def id(self) -> P.DeviceInfo:
        """Shape of the core behind the bridge (the ID command); cached afterwards."""
        data = self._command(bytes([P.CMD_ID]), P.INFO_LEN, "ID")
        try:
            self._info = P.DeviceInfo.from_bytes(data)
        except ValueError as e:
            raise DeviceError(str(e)) from None
        return self._info

    @property
    def info(self) -> P.DeviceInfo:
        return self._info if self._info is not None else self.id()

    def _check_addr(self, addr: int) -> None:
        aw = self.info.addr_width
        if not 0 <= int(addr) < 1 << aw:
            raise InputError(f"address {addr} outside the core's {aw}-bit address space")

    def write_config(self, addr: int, word: int) -> None:
        """Write one configuration word."""
        self._check_addr(addr)
        self._command(P.encode_write(addr, word), 0, f"WRITE {addr}")

    def read_config(self, addr: int) -> int:
        """Read one configuration word."""
        self._check_addr(addr)
        return int.from_bytes(self._command(P.encode_read(addr), 4, f"READ {addr}"), "little")

    def commit(self) -> None:
        """Make the written weight set active; returns once the core has swapped it in."""
        self._command(bytes([P.CMD_COMMIT]), 0, "COMMIT")

    def send(self, vector) -> None:
        """Hand one input vector to the core (SEND). A core that takes vectors in beats gets
        each beat as its bytes arrive; the ACK comes once it has taken the last, and nothing
        else differs here."""
        info = self.info
        vector = list(vector)
        if len(vector) != info.n_in:
            raise InputError(f"input vector has {len(vector)} elements; the core takes "
                             f"{info.n_in}")
        frame = bytes([P.CMD_SEND]) + P.encode_vector(vector, info.in_width, info.in_signed)
        self._command(frame, 0, "SEND")

    def receive(self) -> list[int]:
        """The next output vector (RECV)."""
        info = self.info
        data = self._command(bytes([P.CMD_RECV]), info.recv_len, "RECV")
        return P.decode_vector(data, info.n_out, info.out_width, info.out_signed)

    # -- conveniences ------------------------------------------------------------------------

    def infer(self, vectors) -> list[list[int]]:
        """Output vectors for input ``vectors`` (an iterable of integer vectors, or a 2-D
        array), one SEND/RECV pair per vector."""
        out = []
        for v in vectors:
            self.send(v)
            out.append(self.receive())
        return out

    def pause(self, polls: int = 10_000) -> None:
        """Pause the core (CTRL bit 1) and wait until STATUS says it is paused and empty: what
        a core with ``single_copy`` connection words needs before they are written. A commit
        (or any CTRL write without the bit) resumes it."""
        self.write_config(ADDR_CTRL, CTRL_PAUSE)
        for _ in range(polls):
            if self.read_config(ADDR_STATUS) & STATUS_SAFE:
                return
        raise DeviceError(f"the core did not report paused and empty within {polls} STATUS "
                          f"reads; is its output being read?")

    def load_spec_weights(self, register_writes, *, commit: bool = True,
                          pause: bool = False) -> int:
        """Write ``(addr, word)`` pairs (e.g. ``lognet.hw.regmap.config_writes(spec)``), then
        commit. ``pause``: pause the core first (:meth:`pause`; cores with ``single_copy``
        layers, see :func:`needs_pause`); the commit resumes it. Returns the number of words
        written."""
        if pause:
            self.pause()
        n = 0
        for addr, word in register_writes:
            self.write_config(addr, word)
            n += 1
        if commit:
            self.commit()
        return n

    def retune(self, old, new, *, core=None, commit: bool = True) -> int:
        """Write only the words in which weight set ``new`` differs from ``old`` (the set the
        core holds; ``core``: the spec it was built from, default ``old``), then commit.
        Returns the number of words written; raises :class:`SpecError` before any write when
        the core's tier cannot take ``new`` (:func:`retune_writes`)."""
        writes = retune_writes(old, new, core)
        return self.load_spec_weights(writes, commit=commit and bool(writes),
                                      pause=bool(writes) and needs_pause(old if core is None
                                                                         else core))

    def check_core(self) -> None:
        """Check that the core answers its ID register (address 0) with ``LGNT``."""
        got = self.read_config(ADDR_ID)
        if got != CORE_ID:
            raise DeviceError(f"core ID register reads 0x{got:08x}, not 0x{CORE_ID:08x}")

    def close(self) -> None:
        if self._owns:
            self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
