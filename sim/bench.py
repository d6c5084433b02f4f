"""The testbench: the stream driver, sink and monitor, the configuration driver, the reference
model and the scoreboard, stepped together once per clock.

One :meth:`Bench.step` is one clock: after the falling edge every piece drives its pins, then,
once the design has settled (``ReadOnly``), every piece samples what the coming rising edge will
see. That single loop is all the Python that runs per cycle, so long runs stay fast.

The bench drives the clock itself: a 10 ns period, each edge its own time step, the clock and
every input written with ``Immediate`` at the start of the step, before the simulator evaluates
it. So the design is evaluated once per edge; cocotb's ``Clock`` with deposited writes costs
Verilator two to three full evaluations per edge, which dominates on large cores.

Weight-set tracking (docs/interfaces.md): a vector accepted at or before the rising edge that
takes a commit write meets the old weight set; later vectors meet the new one. The bench keeps
the active set per that rule, and the scoreboard checks every output against the reference of
the set its vector met.

The core keeps its weights across reset and across the cocotb tests of one simulation, so the
module remembers which set the core holds and :meth:`Bench.start` reloads the built spec when a
previous test left another one.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from pathlib import Path

import numpy as np
from cocotb.handle import Immediate
from cocotb.triggers import ReadOnly, Timer
from cocotb.utils import get_sim_time

from lognet.hw.regmap import config_writes, needs_pause

from .bus import ConfigDriver, WishboneConfigDriver
from .results import ScenarioResult
from .scoreboard import RefModel, Scoreboard
from .stream import (
    StreamDriver,
    StreamMonitor,
    StreamSink,
    Transfer,
    bursts,
    gaps,
    join,
    pack,
    split,
)
from .tbconfig import TbConfig, config_path

__all__ = ["Bench", "TbConfig", "load_config"]

#: the weight set the simulated core holds (None: its power-on set, the built spec)
_core_weights = None


def load_config() -> TbConfig:
    """The :class:`~lognet.sim.tbconfig.TbConfig` the runner wrote (named by
    ``LOGNET_TB_CONFIG``)."""
    return TbConfig.read(config_path())


#: cycle budget of one :meth:`Bench.run` wait, cycles before any vector: reset, the start-up
#: of the stream and a configuration poll fit comfortably
BUDGET_BASE = 2000
#: cycles per cycle of core latency: the pipeline fills and drains (with stalls on either side)
BUDGET_PER_LATENCY = 4
#: slack factor on the expected cycles per vector still to go (random valid gaps and ready
#: backpressure make the real figure vary around the mean)
BUDGET_SLACK = 8
#: cycles per queued configuration bus operation (a write or a read takes at most a few)
BUDGET_PER_BUS_OP = 4
#: the lowest offer / ready probability counted when the mean wait is estimated (1 / p)
BUDGET_MIN_P = 0.05


class Bench:
    """Everything one scenario needs around the DUT.

    Parameters
    ----------
    X:
        The input vectors the scenario may send (rows are referred to by index).
    sets:
        The weight sets; set 0 must be the built spec.
    p_valid, p_ready, longest:
        Offer and ready probabilities per cycle; ``longest > 1`` makes ready come in runs.
    """

    def __init__(self, dut, cfg: TbConfig, scenario: str, X, sets, *, p_valid=None,
                 p_ready=None, longest: int = 1):
        self.dut, self.cfg, self.scenario = dut, cfg, scenario
        self.spec = cfg.spec
        self.sets = list(sets)
        self.rng = random.Random(f"{cfg.seed}:{scenario}")
        pv = cfg.p_valid if p_valid is None else p_valid
        pr = cfg.p_ready if p_ready is None else p_ready
        self.p_valid, self.p_ready = pv, pr
        self.X = np.asarray(X, dtype=np.int64)
        self.words = [pack(row, self.spec.in_fmt.width) for row in self.X.tolist()]
        # a core with beats takes each vector as ``ib`` transfers and gives each output as
        # ``ob``; the bench speaks of whole vectors everywhere else
        spec = self.spec
        self.ib = spec.n_in // spec.in_beat_size
        self.ob = spec.n_out // spec.out_beat_size
        self._in_bits = spec.in_beat_size * spec.in_fmt.width
        self._out_bits = spec.out_beat_size * spec.out_fmt.width
        self._out_beats: list[int] = []
        #: single-copy connection words: the bus pauses the core before a load
        self.single = needs_pause(spec)
        self.driver = StreamDriver(dut, "i_stream__", gaps(pv, self.rng), group=self.ib)
        self.sink = StreamSink(dut, "o_stream__", bursts(pr, self.rng, longest))
        self.monitor = StreamMonitor(dut, "o_stream__", ready=lambda: self.sink.ready)
        self.bus = WishboneConfigDriver(dut) if cfg.wishbone else ConfigDriver(dut)
        self.model = RefModel(self.sets, self.X, corrupt=cfg.corrupt)
        self.board = Scoreboard(self.model, top=cfg.top, layer=cfg.layer, scenario=scenario,
                                now=lambda: get_sim_time("ns") + 5)  # the coming rising edge
        self.rows: list[int] = []  # row of X per sent vector
        self.per_set = [0] * len(self.sets)  # vectors accepted under each weight set
        self.active = 0  # the weight set the core uses now
        self.commit_queue: deque[int] = deque()  # sets whose commit write is queued
        self.cycle = 0
        self.clk = dut.clk
        self.half = Timer(5, unit="ns")
        self.ro = ReadOnly()
        self.t0 = 0.0
        self.limit = 0
        #: outputs checked at which the progress file is next written (None: no progress)
        self._progress_at = 0 if cfg.progress else None

    # -- set-up --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Clock, reset, and the built weight set in the core."""
        global _core_weights
        d = self.dut
        # time 0: Icarus drops Immediate writes made before the first time step, so deposit
        for pin in (d.clk, d.rst, d.i_stream__valid, d.i_stream__payload, d.o_stream__ready):
            pin.value = int(pin is d.rst)
        self.bus.idle_pins(immediate=False)
        for _ in range(3):
            await self.tick()
        d.rst.value = Immediate(0)
        if _core_weights is not None and _core_weights != self.spec:
            self.load(0)
            await self.run(lambda: self.bus.idle, "restore the built weight set")
        _core_weights = None
        self.t0 = time.perf_counter()

    # -- one clock -----------------------------------------------------------------------------

    async def tick(self) -> None:
        """A rising edge, then the falling edge; returns in the falling edge's time step, where
        inputs may be written (with ``Immediate``)."""
        await self.half
        self.clk.value = Immediate(1)
        await self.half
        self.clk.value = Immediate(0)
        self.cycle += 1

    async def step(self) -> None:
        """One clock with every piece driving and sampling (:meth:`tick` inlined: this is the
        loop that runs tens of thousands of times)."""
        await self.half
        self.clk.value = Immediate(1)
        await self.half
        self.clk.value = Immediate(0)
        self.cycle = c = self.cycle + 1
        self.driver.drive()
        self.sink.drive()
        self.bus.drive()
        await self.ro
        t = self.monitor.sample(c)
        if t is not None and self.ob > 1:
            self._out_beats.append(t.word)
            if len(self._out_beats) < self.ob:
                t = None
            else:
                t = Transfer(join(self._out_beats, self._out_bits), c)
                self._out_beats = []
        if t is not None:
            self.board.check(t)
            if self._progress_at is not None and self.board.checked >= self._progress_at:
                self._progress()
        i = self.driver.sample(c)
        if i is not None and i % self.ib == self.ib - 1:  # the last beat of a vector
            i //= self.ib
            self.board.expect(i, self.rows[i], self.active, c)
            self.per_set[self.active] += 1
        self.bus.sample(c)
        if self.bus.committed:
            self.active = self.commit_queue.popleft()

    async def run(self, until, what: str) -> None:
        """Step until ``until()`` is true; fail after the cycle budget."""
        self.limit += self._budget()
        while not until():
            if self.cycle >= self.limit:
                d, b = self.driver, self.board
                raise AssertionError(
                    f"{self.cfg.top}, scenario {self.scenario}: {what} did not happen within "
                    f"{self.limit} clock cycles ({self.accepted} of {len(d.words) // self.ib} "
                    f"vectors accepted, "
                    f"{len(b.pending)} accepted vectors without an output, bus "
                    f"{'idle' if self.bus.idle else 'busy'})")
            await self.step()

    def _budget(self) -> int:
        left = (len(self.driver.words) - self.driver.next) / self.ib + len(self.board.pending)
        # mean cycles per vector: the core's own, plus the mean wait for valid and for ready
        per = (self.cfg.cycles_per_vector + 1 / max(self.p_valid, BUDGET_MIN_P)
               + 1 / max(self.p_ready, BUDGET_MIN_P))
        return int(BUDGET_BASE + BUDGET_PER_LATENCY * self.cfg.latency
                   + BUDGET_SLACK * left * per + BUDGET_PER_BUS_OP * len(self.bus.queue))

    # -- actions ---------------------------------------------------------------------------------

    def send(self, rows=None) -> None:
        """Queue rows of X (default: all of them) for the stream."""
        rows = range(len(self.X)) if rows is None else rows
        rows = [int(r) for r in rows]
        self.rows.extend(rows)
        if self.ib == 1:
            self.driver.send([self.words[r] for r in rows])
        else:
            self.driver.send([b for r in rows for b in split(self.words[r], self.ib,
                                                              self._in_bits)])

    def load(self, s: int, commit: bool = True) -> None:
        """Queue the writes that load weight set ``s``, the commit, and the STATUS poll."""
        self.bus.load(config_writes(self.spec, self.sets[s]), commit=commit, pause=self.single)
        if commit:
            self.commit_queue.append(s)

    async def retune(self, s: int) -> int:
        """Write only the words in which weight set ``s`` differs from the active one, commit,
        and return after the swap (the stream keeps running). Returns the words written."""
        from lognet.boards.host import retune_writes

        await self.run(lambda: self.bus.idle, "the bus before a retune")
        writes = retune_writes(self.sets[self.active], self.sets[s], core=self.spec)
        self.bus.load(writes, pause=self.single)
        self.commit_queue.append(s)
        await self.run(lambda: self.bus.idle, f"retuning to weight set {s}")
        return len(writes)

    async def reprogram(self, s: int) -> None:
        """Load weight set ``s`` while the stream keeps running; returns after the swap."""
        self.load(s)
        await self.run(lambda: self.bus.idle, f"loading weight set {s}")

    async def drain(self) -> None:
        """Stop offering vectors and wait until every accepted one has come out."""
        self.driver.hold = True
        await self.run(lambda: not self.driver.offering and not self.board.pending, "draining")

    async def until_sent(self, n: int) -> None:
        await self.run(lambda: self.accepted >= n, f"sending {n} vectors")

    @property
    def accepted(self) -> int:
        """Vectors whose last beat the core has taken."""
        return self.driver.next // self.ib

    async def finish_stream(self) -> None:
        """Send everything queued and wait for every output."""
        self.driver.hold = False
        await self.run(lambda: self.driver.done and not self.board.pending and self.bus.idle,
                       "the end of the stream")

    async def reset(self, cycles: int = 3) -> int:
        """Assert ``rst`` for ``cycles`` clocks in the middle of whatever runs; the vectors
        inside the core are discarded. Returns how many."""
        assert self.bus.idle, "reset with a bus operation in flight"
        await self.tick()
        self.dut.rst.value = Immediate(1)
        self.driver.park()
        self.sink.park()
        self.monitor.park()
        self._out_beats = []
        self.bus.idle_pins()
        dropped = self.board.flush()
        for _ in range(cycles):
            await self.tick()
        self.dut.rst.value = Immediate(0)
        return dropped

    # -- the end -------------------------------------------------------------------------------

    def result(self, error: str | None = None) -> ScenarioResult:
        b = self.board
        return ScenarioResult(
            scenario=self.scenario, top=self.cfg.top, layer=self.cfg.layer,
            vectors=len(self.rows), accepted=self.accepted, checked=b.checked,
            dropped_by_reset=b.dropped, mismatches=b.mismatches,
            first_mismatch=b.first.describe() if b.first else None,
            first_mismatch_detail=b.first,
            cycles=self.cycle, sim_seconds=time.perf_counter() - self.t0,
            commits=self.bus.commits, bus_writes=self.bus.writes,
            weight_sets=len(self.sets), vectors_per_set=tuple(self.per_set),
            corrupted_reference=self.cfg.corrupt, error=error)

    def _progress(self) -> None:
        """Tell the runner how far this scenario is (``scenario checked total``, one line,
        replaced atomically); about 200 writes per scenario."""
        n, total = self.board.checked, len(self.rows) or len(self.X)
        self._progress_at = n + max(1, total // 200)
        path = Path(self.cfg.progress)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{self.scenario} {n} {max(total, n)}\n")
        os.replace(tmp, path)

    def record(self, error: str | None = None) -> ScenarioResult:
        """Write the result for the runner and remember which weights the core holds."""
        global _core_weights
        res = self.result(error)
        if self.cfg.outputs and self.scenario == "random":
            self._save_outputs()
        self.cfg.write_result(self.scenario, res)
        _core_weights = self.sets[self.active]
        return res

    def _save_outputs(self) -> None:
        """The outputs seen for each input row, in row order (rows never seen stay 0)."""
        Y = np.zeros((len(self.X), self.spec.n_out), dtype=np.int64)
        for _, row, word in self.board.seen:
            Y[row] = self.model.values(word)
        np.save(self.cfg.outputs, Y)

    def check(self) -> None:
        """Fail on the first mismatch, or when outputs went missing or were duplicated."""
        b = self.board
        if b.first is not None:
            raise AssertionError(b.first.describe())
        sent = len(self.rows)
        if b.checked + b.dropped != sent or self.accepted != sent:
            raise AssertionError(
                f"{self.cfg.top}, scenario {self.scenario}: {sent} vectors sent, "
                f"{self.accepted} accepted, {b.checked} outputs checked, {b.dropped} "
                f"discarded by reset")
