"""Stream pieces for cores with the lognet interface (docs/interfaces.md): a driver with random
valid gaps, a sink with random ready backpressure, and a monitor that turns pin activity into
:class:`Transfer` transactions.

The pieces are cycle based: the bench calls ``drive()`` after the falling clock edge (the only
time pins are written) and ``sample(cycle)`` once the design has settled before the rising edge
(read only), so whatever ``sample`` sees is exactly what the rising edge will see. Payloads are
packed into one Python integer up front and output payloads are read as one integer, which keeps
the per-cycle Python work small (tens of thousands of vectors per run).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from cocotb.handle import Immediate

__all__ = [
    "StreamDriver",
    "StreamMonitor",
    "StreamSink",
    "Transfer",
    "bursts",
    "gaps",
    "pack",
    "read_int",
    "unpack",
]


def read_int(pin, what: str, cycle: int) -> int:
    """The value of ``pin`` as an unsigned integer, straight from the simulator's bit string
    (no per-bit objects: this runs for every transfer). X or Z bits are an error."""
    bits = str(pin.value)
    try:
        return int(bits, 2)
    except ValueError:
        raise AssertionError(f"{what} is {bits} (X/Z bits) at clock cycle {cycle}") from None


def _bit(pin, cycle: int) -> bool:
    try:
        return bool(pin.value)
    except ValueError:  # X or Z
        raise AssertionError(f"{pin._path} is {pin.value} at clock cycle {cycle}") from None


def pack(values, width: int) -> int:
    """Elements (two's complement when negative) into one integer, element i at bit i*width."""
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (i * width)
    return out


def split(word: int, beats: int, bits: int) -> list[int]:
    """A packed vector as ``beats`` packed beats of ``bits`` bits each, the first beat holding
    the first elements (the inverse of :func:`join`)."""
    mask = (1 << bits) - 1
    return [(word >> (k * bits)) & mask for k in range(beats)]


def join(beats, bits: int) -> int:
    """Packed beats of ``bits`` bits each, first beat first, as one packed vector."""
    out = 0
    for k, b in enumerate(beats):
        out |= int(b) << (k * bits)
    return out


def unpack(word: int, n: int, width: int, signed: bool) -> tuple[int, ...]:
    """The inverse of :func:`pack`: ``n`` elements of ``width`` bits."""
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    out = []
    for i in range(n):
        v = (word >> (i * width)) & mask
        if signed and v >= half:
            v -= 1 << width
        out.append(v)
    return tuple(out)


@dataclass(frozen=True)
class Transfer:
    """One stream transfer: the payload as one integer and the clock cycle it happened in.
    Two transfers are equal when their payloads are (the cycle is bookkeeping)."""

    word: int
    cycle: int = field(default=-1, compare=False)


# -- pause generators ----------------------------------------------------------------------------


def gaps(p: float, rng: random.Random) -> Iterator[int]:
    """Idle cycles before each offer: each cycle is taken with probability ``p`` (geometric
    gaps with mean ``(1 - p) / p``); ``p >= 1`` gives back-to-back offers."""
    if p >= 1:
        return itertools.repeat(0)

    def gen():
        while True:
            n = 0
            while rng.random() >= p:
                n += 1
            yield n

    return gen()


def bursts(p: float, rng: random.Random, longest: int = 1) -> Iterator[bool]:
    """Per-cycle ready pattern: ready with probability ``p``. With ``longest > 1`` the pattern
    comes in runs of 1..``longest`` cycles (long stalls, then bursts)."""
    if p >= 1:
        return itertools.repeat(True)

    def gen():
        while True:
            value = rng.random() < p
            for _ in range(rng.randint(1, longest) if longest > 1 else 1):
                yield value

    return gen()


# -- driver, sink, monitor -------------------------------------------------------------------------


class StreamDriver:
    """Offers words on ``<prefix>valid``/``<prefix>payload``, one after the other, with the
    idle gaps of ``pauses``. Once valid is high it stays high, with the payload unchanged,
    until the transfer (stream rules). :attr:`hold` stops new offers (a vector already offered
    stays offered); :meth:`park` drops valid during a reset, the offer resumes afterwards.
    ``group`` words make one vector (a core that takes vectors in beats): a reset in the
    middle of a vector starts it again from its first beat."""

    def __init__(self, dut, prefix: str, pauses: Iterator[int], group: int = 1):
        self.valid = getattr(dut, f"{prefix}valid")
        self.payload = getattr(dut, f"{prefix}payload")
        self.ready = getattr(dut, f"{prefix}ready")
        self.pauses = pauses
        self.words: list[int] = []
        self.next = 0
        self.offering = False
        self.wait = next(pauses)
        self.hold = False
        self.group = group
        self._pin = None  # last value written to valid (pins are written only on a change)

    def send(self, words) -> None:
        """Queue more words (packed payloads)."""
        self.words.extend(words)

    @property
    def done(self) -> bool:
        """Every queued word has been transferred."""
        return self.next >= len(self.words) and not self.offering

    def drive(self) -> None:
        if not self.offering:
            if self.wait:
                self.wait -= 1
            elif self.next < len(self.words) and not self.hold:
                self.offering = True
                self.payload.value = Immediate(self.words[self.next])
        if self._pin is not self.offering:
            self._pin = self.offering
            self.valid.value = Immediate(int(self.offering))

    def park(self) -> None:
        """Valid low (during a reset); the current offer, if any, is repeated afterwards (a
        vector taken in part is sent again from its first beat: the reset dropped its beats)."""
        self._pin = False
        self.valid.value = Immediate(0)
        if self.group > 1 and self.next % self.group:
            self.next -= self.next % self.group
            self.offering = False

    def sample(self, cycle: int) -> int | None:
        """Index of the word transferred at this edge, if any."""
        if self.offering and _bit(self.ready, cycle):
            self.offering = False
            self.wait = next(self.pauses)
            self.next += 1
            return self.next - 1
        return None


class StreamSink:
    """Drives ``<prefix>ready`` from a per-cycle pattern (random backpressure)."""

    def __init__(self, dut, prefix: str, pattern: Iterator[bool]):
        self.ready_pin = getattr(dut, f"{prefix}ready")
        self.pattern = pattern
        self.ready = False
        self._pin = None

    def drive(self) -> None:
        self.ready = next(self.pattern)
        if self._pin is not self.ready:
            self._pin = self.ready
            self.ready_pin.value = Immediate(int(self.ready))

    def park(self) -> None:
        self.ready = self._pin = False
        self.ready_pin.value = Immediate(0)


class StreamMonitor:
    """Watches ``<prefix>valid``/``ready``/``payload`` and returns a :class:`Transfer` for
    each cycle in which both are high. ``ready`` may be given as a callable (the sink's own
    state) to save a pin read. It also checks the stream rule on the watched side: once valid
    is high it stays high, with the payload unchanged, until the transfer. An X or Z bit in a
    transferred or held payload is an error."""

    def __init__(self, dut, prefix: str, ready=None):
        self.name = prefix.rstrip("_")
        self.valid = getattr(dut, f"{prefix}valid")
        self.payload = getattr(dut, f"{prefix}payload")
        pin = getattr(dut, f"{prefix}ready")
        self.ready = ready if ready is not None else (lambda: pin.value)
        self.count = 0
        self.held: int | None = None  # payload offered but not taken last cycle

    def park(self) -> None:
        """A reset: an offer that was not taken is withdrawn legitimately."""
        self.held = None

    def sample(self, cycle: int) -> Transfer | None:
        try:
            valid = bool(self.valid.value)
        except ValueError:  # X or Z
            raise AssertionError(f"{self.name}: valid is {self.valid.value} at clock cycle "
                                 f"{cycle}") from None
        held = self.held
        if not valid:
            if held is not None:
                raise AssertionError(f"{self.name}: valid dropped at clock cycle {cycle} before "
                                     f"the offered payload was taken")
            return None
        word = read_int(self.payload, f"{self.name} payload", cycle)
        if held is not None and word != held:
            raise AssertionError(f"{self.name}: payload changed from {held:#x} to {word:#x} at "
                                 f"clock cycle {cycle} while valid and not ready")
        if self.ready():
            self.held = None
            self.count += 1
            return Transfer(word, cycle)
        self.held = word
        return None
