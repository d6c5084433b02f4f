"""Configuration-bus drivers: the native bus of docs/interfaces.md (``cfg__*`` pins) and the
Wishbone B4 classic front of :mod:`lognet.hw.wishbone` (``wb__*`` pins).

Both take the same queued operations (:class:`BusOp`): ``write``, ``read``, ``commit`` (a write
of 1 to CTRL) and ``wait_commit`` (poll STATUS until bit 0 reads 0, as a host must before it
writes the next weight set). The bench steps them once per clock like the stream pieces:
``drive()`` after the falling edge, ``sample(cycle)`` before the rising edge. After ``sample``,
:attr:`committed` is True in the cycle whose rising edge performs a commit write, so the bench
can tell which weight set each input vector meets.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from cocotb.handle import Immediate

from lognet.hw.regmap import CTRL_PAUSE, READ_LATENCY, STATUS_SAFE

from .stream import read_int

__all__ = ["CTRL", "STATUS", "BusOp", "ConfigDriver", "WishboneConfigDriver"]

#: header registers (docs/interfaces.md)
CTRL = 2
STATUS = 3


@dataclass
class BusOp:
    """One bus transaction. ``kind`` is ``"write"``, ``"read"`` or ``"wait_commit"``; a read's
    ``data`` is filled in when it completes, and ``cycle`` is when it did."""

    kind: str
    addr: int = 0
    data: int = 0
    cycle: int = field(default=-1, compare=False)
    done: bool = field(default=False, compare=False)


class _Queue:
    """Operation queue shared by both drivers."""

    def __init__(self):
        self.queue: deque[BusOp] = deque()
        self.op: BusOp | None = None  # the operation on the bus
        self.committed = False
        self.commits = 0
        self.writes = 0

    @property
    def idle(self) -> bool:
        return self.op is None and not self.queue

    def write(self, addr: int, word: int) -> BusOp:
        op = BusOp("write", int(addr), int(word) & 0xFFFFFFFF)
        self.queue.append(op)
        return op

    def read(self, addr: int) -> BusOp:
        op = BusOp("read", int(addr))
        self.queue.append(op)
        return op

    def wait_commit(self) -> BusOp:
        op = BusOp("wait_commit", STATUS)
        self.queue.append(op)
        return op

    def wait_safe(self) -> BusOp:
        """Poll STATUS until bit 1 (paused and empty: ``single_copy`` words may be written)."""
        op = BusOp("wait_safe", STATUS)
        self.queue.append(op)
        return op

    def commit(self, wait: bool = True) -> BusOp:
        """Write 1 to CTRL; with ``wait``, then poll STATUS until the swap is done."""
        op = self.write(CTRL, 1)
        if wait:
            return self.wait_commit()
        return op

    def load(self, writes, commit: bool = True, pause: bool = False) -> None:
        """Queue ``(address, word)`` writes (e.g. :func:`lognet.hw.regmap.config_writes`), then
        a commit and the STATUS poll. With ``pause`` (cores with ``single_copy`` layers) the
        core is paused first and the writes wait until STATUS says it is empty; the commit
        resumes it."""
        if pause:
            self.write(CTRL, CTRL_PAUSE)
            self.wait_safe()
        for addr, word in writes:
            self.write(addr, word)
        if commit:
            self.commit()

    def _finish(self, cycle: int, data: int | None = None) -> None:
        op = self.op
        if op.kind == "wait_commit":
            if data & 1:  # still pending: read STATUS again
                return
        elif op.kind == "wait_safe":
            if not data & STATUS_SAFE:  # not yet paused and empty: read STATUS again
                return
        elif data is not None:
            op.data = data
        op.cycle, op.done = cycle, True
        self.op = None


class ConfigDriver(_Queue):
    """The native bus: one write per cycle, always accepted; read data is valid
    :data:`~lognet.hw.regmap.READ_LATENCY` cycles after ``r_en``. A write takes one cycle, a
    read (a STATUS poll too) ``READ_LATENCY + 1``."""

    def __init__(self, dut):
        super().__init__()
        self.addr = dut.cfg__addr
        self.w_data = dut.cfg__w_data
        self.w_en = dut.cfg__w_en
        self.r_en = dut.cfg__r_en
        self.r_data = dut.cfg__r_data
        self.strobe = None  # "w" or "r" while a strobe is up this cycle
        self.wait = 0  # clocks until a strobed read's data is on r_data

    def idle_pins(self, immediate: bool = True) -> None:
        """All strobes low (``immediate=False`` at time 0, before the first time step)."""
        for pin in (self.addr, self.w_data, self.w_en, self.r_en):
            pin.value = Immediate(0) if immediate else 0
        self.strobe = None

    def drive(self) -> None:
        self.committed = False
        if self.op is None and self.queue:
            self.op = self.queue.popleft()
            self.wait = 0
        op = self.op
        want = None
        if op is not None and not self.wait:
            self.addr.value = Immediate(op.addr)
            if op.kind == "write":
                self.w_data.value = Immediate(op.data)
                want = "w"
                self.committed = op.addr == CTRL and bool(op.data & 1)
            else:
                want = "r"
        if want != self.strobe:  # pins are written only on a change
            if self.strobe is not None:
                (self.w_en if self.strobe == "w" else self.r_en).value = Immediate(0)
            if want is not None:
                (self.w_en if want == "w" else self.r_en).value = Immediate(1)
            self.strobe = want

    def sample(self, cycle: int) -> None:
        op = self.op
        if op is None:
            return
        if self.strobe == "w":
            self.writes += 1
            if self.committed:
                self.commits += 1
            self._finish(cycle)
        elif self.wait:
            self.wait -= 1
            if not self.wait:
                self._finish(cycle, read_int(self.r_data, "cfg r_data", cycle))
        elif self.strobe == "r":
            self.wait = READ_LATENCY


class WishboneConfigDriver(_Queue):
    """The same operations through the Wishbone B4 classic front (``wb__*`` pins): each access
    raises ``cyc``/``stb`` and holds them, with address and data unchanged, until ``ack``;
    ``dat_r`` is taken with the ack. Writes use ``sel = 0b1111`` (whole words)."""

    def __init__(self, dut):
        super().__init__()
        self.adr, self.dat_w, self.dat_r = dut.wb__adr, dut.wb__dat_w, dut.wb__dat_r
        self.sel, self.cyc, self.stb = dut.wb__sel, dut.wb__cyc, dut.wb__stb
        self.we, self.ack = dut.wb__we, dut.wb__ack
        self.up = False  # cyc/stb are high
        self.raised: BusOp | None = None  # the request on the pins
        self.started = False  # the front has taken self.op (a write has landed)

    def idle_pins(self, immediate: bool = True) -> None:
        """All strobes low (``immediate=False`` at time 0, before the first time step)."""
        for pin in (self.adr, self.dat_w, self.sel, self.cyc, self.stb, self.we):
            pin.value = Immediate(0) if immediate else 0
        self.up = False
        self.raised = None

    def drive(self) -> None:
        self.committed = False
        if self.op is None:
            if not self.queue:
                if self.up:
                    self.cyc.value = Immediate(0)
                    self.stb.value = Immediate(0)
                    self.up = False
                return
            self.op = self.queue.popleft()
            self.started = False
        if self.started or self.raised is self.op:
            return  # hold the request until the ack
        op = self.op
        self.adr.value = Immediate(op.addr)
        is_write = op.kind == "write"
        self.we.value = Immediate(int(is_write))
        self.dat_w.value = Immediate(op.data if is_write else 0)
        self.sel.value = Immediate(0xF)
        if not self.up:
            self.cyc.value = Immediate(1)
            self.stb.value = Immediate(1)
            self.up = True
        self.raised = op

    def sample(self, cycle: int) -> None:
        op = self.op
        if op is None or not self.up:
            return
        ack = bool(self.ack.value)
        if not ack and not self.started:
            # the front takes a request in a cycle without ack: a write lands at this edge
            self.started = True
            if op.kind == "write":
                self.writes += 1
                if op.addr == CTRL and op.data & 1:
                    self.committed = True
                    self.commits += 1
        elif ack and self.started:
            data = read_int(self.dat_r, "wb dat_r", cycle) if op.kind != "write" else None
            self._finish(cycle, data)
            if op.kind in ("wait_commit", "wait_safe") and not op.done:
                self.started = False  # poll again: a new request
                self.raised = None
