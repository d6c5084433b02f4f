"""The stream and bus drivers against pin-level models in plain Python (no simulator): the
driver keeps valid and the payload until the transfer, the monitor catches a core that breaks
the stream rules, and both configuration drivers follow their bus timing (native: read data
``READ_LATENCY`` cycles after ``r_en``; Wishbone B4 classic: request held until ``ack``), poll
STATUS after a commit, and flag the commit in the cycle whose edge takes the write."""

import random

import pytest
from cocotb.handle import Immediate

from lognet.hw.regmap import READ_LATENCY
from lognet.sim.bus import ConfigDriver, WishboneConfigDriver
from lognet.sim.stream import StreamDriver, StreamMonitor, StreamSink, bursts, gaps, pack


class Val(int):
    """A pin value: truthy like cocotb's Logic, ``str()`` gives the bit string."""

    def __str__(self):
        return format(int(self), "b")


class Pin:
    def __init__(self, v=0):
        self._v = v

    @property
    def value(self):
        return self._v if isinstance(self._v, str) else Val(self._v)

    @value.setter
    def value(self, v):
        self._v = v.value if isinstance(v, Immediate) else v


class Dut:
    def __init__(self, *names):
        for n in names:
            setattr(self, n, Pin())


STREAM = ("i_stream__valid", "i_stream__payload", "i_stream__ready")


def test_driver_to_monitor_loopback_keeps_order_and_stream_rules():
    """Driver -> wire -> monitor with random gaps and random ready: every word arrives once,
    in order, and the monitor's hold check (valid and payload kept until the transfer)
    never fires."""
    rng = random.Random(1)
    dut = Dut(*STREAM)
    drv = StreamDriver(dut, "i_stream__", gaps(0.5, rng))
    sink = StreamSink(dut, "i_stream__", bursts(0.4, rng, longest=5))
    mon = StreamMonitor(dut, "i_stream__", ready=lambda: sink.ready)
    words = [rng.getrandbits(40) for _ in range(300)]
    drv.send(words)
    got, idx = [], []
    for cycle in range(5000):
        drv.drive()
        sink.drive()
        t = mon.sample(cycle)
        i = drv.sample(cycle)
        if t is not None:
            got.append(t.word)
        if i is not None:
            idx.append(i)
        if drv.done:
            break
    assert got == words and idx == list(range(300))


def _stalled_monitor():
    dut = Dut(*STREAM)
    mon = StreamMonitor(dut, "i_stream__", ready=lambda: False)
    dut.i_stream__valid.value = 1
    dut.i_stream__payload.value = 0b1010
    assert mon.sample(0) is None
    return dut, mon


def test_monitor_catches_a_payload_change_while_stalled():
    dut, mon = _stalled_monitor()
    dut.i_stream__payload.value = 0b1011
    with pytest.raises(AssertionError, match="payload changed from 0xa to 0xb at clock cycle 1"):
        mon.sample(1)


def test_monitor_catches_valid_dropped_while_stalled():
    dut, mon = _stalled_monitor()
    dut.i_stream__valid.value = 0
    with pytest.raises(AssertionError, match="valid dropped at clock cycle 1"):
        mon.sample(1)
    dut, mon = _stalled_monitor()
    mon.park()  # a reset withdraws the offer legitimately
    dut.i_stream__valid.value = 0
    assert mon.sample(1) is None


def test_monitor_rejects_x_bits():
    dut = Dut(*STREAM)
    mon = StreamMonitor(dut, "i_stream__", ready=lambda: True)
    dut.i_stream__valid.value = 1
    dut.i_stream__payload.value = "01X1"
    with pytest.raises(AssertionError, match="X/Z bits"):
        mon.sample(7)


class NativeBus:
    """The native configuration bus of docs/interfaces.md: writes at the edge, read data
    ``READ_LATENCY`` cycles after ``r_en``, STATUS bit 0 set by a commit and cleared
    ``swap_after`` edges later."""

    def __init__(self, swap_after=5):
        self.dut = Dut("cfg__addr", "cfg__w_data", "cfg__w_en", "cfg__r_en", "cfg__r_data")
        self.regs = {0: 0x4C474E54, 1: 1, 3: 0}
        self.swap_after = swap_after
        self.countdown = 0
        self.commit_edges = []
        self.pipe = [None] * (READ_LATENCY - 1)  # reads on their way to r_data

    def edge(self, cycle):
        d = self.dut
        self.pipe.append(self.regs.get(int(d.cfg__addr.value), 0) if d.cfg__r_en.value
                         else None)
        out = self.pipe.pop(0)
        if out is not None:
            d.cfg__r_data.value = out
        if self.countdown:
            self.countdown -= 1
            if not self.countdown:
                self.regs[3] = 0
        if d.cfg__w_en.value:
            a, w = int(d.cfg__addr.value), int(d.cfg__w_data.value)
            if a == 2 and w & 1:
                self.regs[3] = 1
                self.countdown = self.swap_after
                self.commit_edges.append(cycle)
            else:
                self.regs[a] = w


class WishboneBus(NativeBus):
    """The same registers behind lognet.hw.wishbone: ``ack`` registered one clock after a
    write is taken and ``READ_LATENCY`` clocks after a read, the core's strobes pulse in the
    cycle the request is taken."""

    def __init__(self, swap_after=5):
        super().__init__(swap_after)
        self.wb = Dut("wb__adr", "wb__dat_w", "wb__dat_r", "wb__sel", "wb__cyc", "wb__stb",
                      "wb__we", "wb__ack")
        self.ack = 0
        self.flight = [0] * (READ_LATENCY - 1)

    def edge(self, cycle):
        w, d = self.wb, self.dut
        start = w.wb__cyc.value and w.wb__stb.value and not self.ack and not any(self.flight)
        d.cfg__addr.value = int(w.wb__adr.value)
        d.cfg__w_data.value = int(w.wb__dat_w.value)
        d.cfg__w_en.value = int(bool(start and w.wb__we.value and w.wb__sel.value == 0xF))
        d.cfg__r_en.value = int(bool(start and not w.wb__we.value))
        super().edge(cycle)
        read = int(bool(start and not w.wb__we.value))
        if self.flight:
            self.ack = int(bool(start and w.wb__we.value) or self.flight[-1])
            self.flight = [read] + self.flight[:-1]
        else:
            self.ack = int(bool(start))
        w.wb__ack.value = self.ack
        w.wb__dat_r.value = int(d.cfg__r_data.value)


@pytest.mark.parametrize("kind", ["native", "wishbone"])
def test_config_driver_write_read_commit_poll(kind):
    bus = NativeBus() if kind == "native" else WishboneBus()
    drv = ConfigDriver(bus.dut) if kind == "native" else WishboneConfigDriver(bus.wb)
    drv.load([(8, 11), (9, 0x1_0000_0005)])  # words are cut to 32 bits
    reads = [drv.read(a) for a in (0, 1, 8, 9)]
    committed = []
    for cycle in range(200):
        drv.drive()
        drv.sample(cycle)
        if drv.committed:
            committed.append(cycle)
        bus.edge(cycle)
        if drv.idle:
            break
    assert drv.idle
    assert [r.data for r in reads] == [0x4C474E54, 1, 11, 5]
    assert all(r.done for r in reads)
    # the commit is flagged in exactly the cycle whose edge takes the CTRL write
    assert committed == bus.commit_edges and len(committed) == 1
    assert drv.commits == 1 and drv.writes == 3
    # the reads were queued after the commit, so they waited for STATUS to clear
    assert reads[0].cycle > committed[0] + bus.swap_after
    assert bus.regs[3] == 0


def test_pack_matches_the_port_layout():
    # element i at bits [i*w +: w]: the first element is the least significant
    assert pack([1, 2, 3], 8) == 0x030201
