"""Typed results of simulations: one scenario of the core bench (:class:`ScenarioResult`), a
whole :func:`lognet.sim.runner.run_sim` call (:class:`SimResult`) and a board-top run of
:func:`lognet.sim.board.run_board_sim` (:class:`BoardSimResult`).

Frozen dataclasses with ``to_json()`` (the shape of the run folder's ``summary.json`` /
``results.json``) and ``from_json(d)``; ``SimResult.from_json(s.to_json()) == s`` exactly. No
cocotb import here: the benches write these records, the runners read them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from lognet.base.records import OPTIONAL, json_fields, replace_paths

__all__ = ["BoardSimResult", "Mismatch", "ScenarioResult", "SimResult"]


@dataclass(frozen=True)
class Mismatch:
    """The first wrong output. ``vector`` is -1 for an output no input asked for."""

    top: str
    layer: str
    scenario: str
    vector: int
    output: int
    expected: int | None
    actual: int
    cycle: int
    weight_set: int
    #: simulation time of the rising edge that took the output (ns), for the waveform
    time_ns: float | None = None

    def describe(self) -> str:
        where = f"{self.top} (layer {self.layer}), scenario {self.scenario}"
        at = f"clock cycle {self.cycle}"
        if self.time_ns is not None:
            at += f", {self.time_ns:g} ns"
        if self.vector < 0:
            return (f"{where}: an output transfer at {at} that no input vector caused "
                    f"(duplicated or spurious output)")
        return (f"{where}: first mismatch at vector {self.vector}, output {self.output}: "
                f"expected {self.expected}, got {self.actual} ({at}, weight set "
                f"{self.weight_set})")

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> Mismatch:
        return cls(**d)


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario of the core bench counted."""

    #: scenario name (:data:`lognet.sim.scenarios.SCENARIOS`)
    scenario: str
    #: top module name
    top: str
    #: the layer whose outputs leave the core
    layer: str
    #: vectors the scenario sent
    vectors: int
    #: vectors the core accepted
    accepted: int
    #: outputs compared with the reference
    checked: int
    #: accepted vectors discarded by a reset
    dropped_by_reset: int
    #: outputs that differed
    mismatches: int
    #: the first mismatch in words (None: none)
    first_mismatch: str | None
    #: the first mismatch (None: none)
    first_mismatch_detail: Mismatch | None
    #: clock cycles simulated
    cycles: int
    #: wall time of the scenario inside the simulator, seconds
    sim_seconds: float
    #: commit writes done
    commits: int
    #: configuration bus writes done
    bus_writes: int
    #: weight sets the scenario used
    weight_sets: int
    #: vectors accepted under each weight set
    vectors_per_set: tuple[int, ...]
    #: the reference was deliberately corrupted
    corrupted_reference: bool
    #: one line when the scenario stopped with an exception (None: it ran to its end)
    error: str | None = None

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> ScenarioResult:
        d = dict(d)
        m = d.pop("first_mismatch_detail", None)
        return cls(**{**d, "first_mismatch_detail": None if m is None else Mismatch.from_json(m),
                      "vectors_per_set": tuple(d["vectors_per_set"])})


@dataclass(frozen=True)
class SimResult:
    """One :func:`~lognet.sim.runner.run_sim` call: every scenario's counts summed, the times,
    the folders."""

    #: no mismatch, every scenario ran, no error
    passed: bool
    #: ``verilator`` or ``icarus``
    simulator: str
    #: top module name
    top: str
    #: scenarios run, in order
    scenarios: tuple[str, ...]
    #: outputs compared with the reference, over all scenarios
    checked: int
    #: accepted vectors discarded by resets
    dropped_by_reset: int
    #: outputs that differed
    mismatches: int
    #: the first mismatch in words (None: none)
    first_mismatch: str | None
    #: the first mismatch (None: none)
    first_mismatch_detail: Mismatch | None
    #: clock cycles simulated
    cycles: int
    #: time inside the simulator, seconds (build and start-up excluded)
    sim_seconds: float
    #: checked vectors per second of simulation (None: nothing simulated)
    vectors_per_second: float | None
    #: commit writes done
    commits: int
    #: build time, seconds (0 when cached)
    build_seconds: float
    #: the build was reused
    build_cached: bool
    #: the build folder
    build_dir: str
    #: this run's folder (config, inputs, results, log)
    run_dir: str
    #: the waveform file (None: not asked, or not written)
    waves: str | None
    #: each scenario's own counts, by name
    per_scenario: dict[str, ScenarioResult]
    #: one line when the simulation did not complete (None: it did)
    error: str | None
    #: random vectors per scenario asked for (or the number of given inputs)
    vectors: int = 0
    #: wall time of the simulator process, seconds
    run_seconds: float = 0.0
    #: wall time of the whole call, seconds
    wall_seconds: float = 0.0
    #: the reference was deliberately corrupted (the mutation check)
    corrupted_reference: bool = False
    #: the configuration went through the Wishbone front
    wishbone: bool = False
    #: seed of inputs and stalls
    seed: int = 0
    #: why the waveform is not FST (None: it is, or none was asked)
    waves_note: str | None = field(default=None, metadata=OPTIONAL)
    #: the ``random`` scenario's outputs, one row per input row (not in the JSON)
    outputs: np.ndarray | None = field(default=None, compare=False, repr=False,
                                       metadata={"json": False})

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> SimResult:
        d = {k: v for k, v in d.items() if k != "outputs"}
        m = d.pop("first_mismatch_detail", None)
        return cls(**{
            **d, "scenarios": tuple(d["scenarios"]),
            "first_mismatch_detail": None if m is None else Mismatch.from_json(m),
            "per_scenario": {k: ScenarioResult.from_json(v)
                             for k, v in d["per_scenario"].items()}})

    def relocated(self, old_dir, new_dir) -> SimResult:
        """This result with paths inside ``old_dir`` moved to ``new_dir`` (outputs kept)."""
        moved = SimResult.from_json(replace_paths(self.to_json(), old_dir, new_dir))
        return dataclasses.replace(moved, outputs=self.outputs)


@dataclass(frozen=True)
class BoardSimResult:
    """One :func:`~lognet.sim.board.run_board_sim` call: the host driver against the simulated
    board top."""

    #: every weight set loaded and every output right
    passed: bool
    #: one line when it failed (None: it passed)
    error: str | None
    #: ``verilator`` or ``icarus``
    simulator: str
    #: configuration words written over the UART
    words: int = 0
    #: weight sets loaded and checked
    sets: int = 0
    #: vectors inferred and checked
    vectors: int = 0
    #: bytes the host sent
    bytes_sent: int = 0
    #: bytes the host received
    bytes_received: int = 0
    #: frames from the top's ``tx`` with a bad stop bit
    framing_errors: int = 0
    #: build time, seconds (0 when cached)
    build_seconds: float = 0.0
    #: wall time of the simulator process, seconds
    run_seconds: float = 0.0
    #: this run's folder
    run_dir: str = ""

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> BoardSimResult:
        return cls(**d)

    def relocated(self, old_dir, new_dir) -> BoardSimResult:
        """This result with paths inside ``old_dir`` moved to ``new_dir``."""
        return BoardSimResult.from_json(replace_paths(self.to_json(), old_dir, new_dir))
