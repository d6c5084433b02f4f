"""Testbench pieces for cores with the lognet interface (docs/interfaces.md), cycle based.

Each piece is a small class with a ``drive()`` step (called at the falling edge, when it may
write pins) and a ``sample()`` step (called once the design has settled, read only). The
testbench calls them once per clock, which keeps per-cycle Python work small (speed matters:
tens of thousands of vectors per run).

- :class:`StreamDriver`: offers input vectors with random valid gaps; valid stays high with the
  payload unchanged until the transfer.
- :class:`StreamSink`: random ready backpressure on the output.
- :class:`StreamMonitor`: turns pin activity into :class:`Transfer` transactions.
- :class:`ConfigDriver`: register writes, commits, and STATUS polling on the native bus.
- :class:`Scoreboard`: exact comparison against the reference, with the first mismatch named.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ConfigDriver",
    "WishboneConfigDriver",
    "Mismatch",
    "Scoreboard",
    "StreamDriver",
    "StreamMonitor",
    "StreamSink",
    "Transfer",
    "pack",
    "unpack",
]


def pack(values, width: int) -> int:
    """Elements (two's complement when negative) into one integer, element i at bit i*width."""
    mask = (1 << width) - 1
    out = 0
    for i, v in enumerate(values):
        out |= (int(v) & mask) << (i * width)
    return out


def unpack(word: int, n: int, width: int, signed: bool) -> list[int]:
    mask = (1 << width) - 1
    half = 1 << (width - 1)
    out = []
    for i in range(n):
        v = (word >> (i * width)) & mask
        if signed and v >= half:
            v -= 1 << width
        out.append(v)
    return out


@dataclass(frozen=True)
class Transfer:
    """One stream transfer: its values and the clock cycle it happened in."""

    values: tuple[int, ...]
    cycle: int = field(compare=False)


class StreamDriver:
    def __init__(self, dut, vectors, width: int, p_valid: float, rng: random.Random):
        self.dut = dut
        self.words = [pack(v, width) for v in vectors]
        self.p_valid = p_valid
        self.rng = rng
        self.next = 0
        self.presenting = False

    @property
    def done(self) -> bool:
        return self.next >= len(self.words) and not self.presenting

    def drive(self):
        if not self.presenting and self.next < len(self.words) and (
                self.p_valid >= 1 or self.rng.random() < self.p_valid):
            self.presenting = True
            self.dut.i_stream__payload.value = self.words[self.next]
        self.dut.i_stream__valid.value = int(self.presenting)

    def sample(self) -> int | None:
        """Index of the vector transferred this cycle, if any."""
        if self.presenting and self.dut.i_stream__ready.value:
            self.presenting = False
            self.next += 1
            return self.next - 1
        return None


class StreamSink:
    def __init__(self, dut, p_ready: float, rng: random.Random):
        self.dut = dut
        self.p_ready = p_ready
        self.rng = rng
        self.ready = False

    def drive(self):
        self.ready = self.p_ready >= 1 or self.rng.random() < self.p_ready
        self.dut.o_stream__ready.value = int(self.ready)


class StreamMonitor:
    def __init__(self, dut, n: int, width: int, signed: bool):
        self.dut = dut
        self.n, self.width, self.signed = n, width, signed

    def sample(self, ready: bool, cycle: int) -> Transfer | None:
        if ready and self.dut.o_stream__valid.value:
            v = self.dut.o_stream__payload.value
            if not v.is_resolvable:
                raise AssertionError(f"output payload has X/Z bits while valid, cycle {cycle}")
            word = v.to_unsigned()
            return Transfer(tuple(unpack(word, self.n, self.width, self.signed)), cycle)
        return None


class ConfigDriver:
    """Queued bus operations, one per cycle. After a commit it polls STATUS until the swap, as
    a host must (docs/interfaces.md). Read data is valid the cycle after the strobe."""

    def __init__(self, dut):
        self.dut = dut
        self.queue: list[tuple[int, int]] = []
        self.polling = False
        self.strobed_now = False
        self.strobed_last = False
        self.commit_now = False

    @property
    def idle(self) -> bool:
        return not self.queue and not self.polling

    def load(self, writes, commit: bool = True):
        self.queue += list(writes)
        if commit:
            self.queue.append((2, 1))

    def drive(self):
        d = self.dut
        d.cfg__w_en.value = 0
        d.cfg__r_en.value = 0
        self.commit_now = False
        self.strobed_last, self.strobed_now = self.strobed_now, False
        if self.polling:
            if not self.strobed_last:
                d.cfg__addr.value = 3
                d.cfg__r_en.value = 1
                self.strobed_now = True
            return
        if self.queue:
            addr, word = self.queue.pop(0)
            d.cfg__addr.value = addr
            d.cfg__w_data.value = word & 0xFFFFFFFF
            d.cfg__w_en.value = 1
            self.commit_now = addr == 2 and bool(word & 1)

    def sample(self):
        if self.strobed_last:
            self.polling = bool(self.dut.cfg__r_data.value.to_unsigned() & 1)
        if self.commit_now:
            self.polling = True


class WishboneConfigDriver(ConfigDriver):
    """The same bus operations through the Wishbone B4 classic front (``wb__*`` pins): each
    access holds cyc/stb until ``ack``; reads return ``dat_r`` with the ack."""

    def __init__(self, dut):
        super().__init__(dut)
        self.busy = False
        self.is_read = False
        self.pending_commit = False

    def drive(self):
        d = self.dut
        self.commit_now = False
        if self.busy:
            return  # keep the request up until the ack
        op = None
        if self.polling:
            op = (3, None)
        elif self.queue:
            op = self.queue.pop(0)
        if op is None:
            d.wb__cyc.value = 0
            d.wb__stb.value = 0
            return
        addr, word = op
        d.wb__adr.value = addr
        d.wb__sel.value = 0xF
        d.wb__we.value = int(word is not None)
        d.wb__dat_w.value = (word or 0) & 0xFFFFFFFF
        d.wb__cyc.value = 1
        d.wb__stb.value = 1
        self.busy = True
        self.is_read = word is None
        self.pending_commit = addr == 2 and word is not None and bool(word & 1)

    def sample(self):
        if self.busy and self.dut.wb__ack.value:
            self.busy = False
            if self.is_read:
                self.polling = bool(self.dut.wb__dat_r.value.to_unsigned() & 1)
            elif self.pending_commit:
                self.commit_now = True
                self.polling = True


@dataclass
class Mismatch:
    vector: int
    output: int
    expected: int
    actual: int
    cycle: int

    def describe(self, top: str) -> str:
        return (f"{top}: vector {self.vector}, output {self.output}: expected {self.expected}, "
                f"got {self.actual} (cycle {self.cycle})")


class Scoreboard:
    """Expected outputs are ``refs[generation][vector]``; transfers are matched in order."""

    def __init__(self, refs: list[np.ndarray], top: str):
        self.refs = [r.tolist() for r in refs]
        self.top = top
        self.pending: list[tuple[int, int]] = []  # (vector, generation) in flight
        self.checked = 0
        self.mismatches = 0
        self.first: Mismatch | None = None

    def expect(self, vector: int, generation: int):
        self.pending.append((vector, generation))

    def flush(self):
        """A reset discards what was in flight."""
        dropped = len(self.pending)
        self.pending.clear()
        return dropped

    def check(self, t: Transfer):
        if not self.pending:
            self.mismatches += 1
            if self.first is None:
                self.first = Mismatch(-1, -1, 0, 0, t.cycle)
            return
        vector, gen = self.pending.pop(0)
        exp = self.refs[gen][vector]
        self.checked += 1
        if list(t.values) != exp:
            self.mismatches += 1
            if self.first is None:
                j = next(k for k, (a, b) in enumerate(zip(t.values, exp)) if a != b)
                self.first = Mismatch(vector, j, exp[j], t.values[j], t.cycle)
