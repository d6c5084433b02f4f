"""What a runner hands to its cocotb testbench: one JSON file named by ``LOGNET_TB_CONFIG``.

:class:`TbConfig` configures the core bench (:mod:`lognet.sim.tb_core`, written by
:func:`lognet.sim.runner.run_sim`), :class:`BoardTbConfig` the board-top bench
(:mod:`lognet.sim.tb_board`, written by :func:`lognet.sim.board.run_board_sim`). The defaults
live here only; neither record imports cocotb, so the runners write them without it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lognet.base.records import json_fields
from lognet.boards.uart import SIM_DIVISOR

__all__ = ["CONFIG_ENV", "BoardTbConfig", "TbConfig", "config_path"]

#: the environment variable (or plusarg) naming the config file
CONFIG_ENV = "LOGNET_TB_CONFIG"


def config_path(plusargs=None) -> str:
    """The config file named in the environment, else in the plusarg ``+LOGNET_TB_CONFIG=``."""
    path = os.environ.get(CONFIG_ENV) or (plusargs or {}).get(CONFIG_ENV)
    if not path or path is True:
        raise RuntimeError(f"{CONFIG_ENV} is not set: run the bench through "
                           f"lognet.sim.runner.run_sim or lognet.sim.board.run_board_sim")
    return str(path)


class _Config:
    def to_json(self) -> dict:
        return json_fields(self)

    def write(self, path) -> Path:
        """Write the config as JSON to ``path``; returns it."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path

    @classmethod
    def read(cls, path):
        with open(path) as f:
            return cls.from_json(json.load(f))

    @cached_property
    def spec(self):
        """The spec the core was built from (loaded once)."""
        from lognet.model.specjson import load_spec

        return load_spec(self.spec_path)

    @cached_property
    def X(self):
        """The input vectors, (N, n_in) integers (loaded once)."""
        import numpy as np

        return np.load(self.vectors, allow_pickle=False)


@dataclass(frozen=True)
class TbConfig(_Config):
    """Configuration of the core bench (one simulation, one or more scenarios)."""

    #: the spec JSON the core was built from (arith resolved)
    spec_path: str
    #: an .npy of input rows (N, n_in)
    vectors: str
    #: the top module's name
    top: str
    #: seed of the bench's random stalls and weight sets
    seed: int = 0
    #: per-cycle probability of offering an input vector
    p_valid: float = 0.8
    #: per-cycle probability of accepting an output vector
    p_ready: float = 0.8
    #: compare with a reference one LSB off (the mutation check: the run must fail)
    corrupt: bool = False
    #: drive the configuration through the Wishbone front
    wishbone: bool = False
    #: the core's cycles per vector (for the cycle budget)
    cycles_per_vector: int | float = 1
    #: the core's latency in cycles (for the cycle budget)
    latency: int = 8
    #: where each scenario's result is written (JSON, keyed by scenario; None: nowhere)
    results: str | None = None
    #: where the ``random`` scenario's outputs are written (.npy; None: nowhere)
    outputs: str | None = None
    #: spec JSONs of further weight sets for the core (the ``retune`` scenario's)
    weight_sets: tuple[str, ...] = ()
    #: a file the bench keeps up to date with ``scenario checked total`` (None: no progress)
    progress: str | None = None

    def to_json(self) -> dict:
        d = json_fields(self)
        d["spec"] = d.pop("spec_path")
        d["weight_sets"] = list(self.weight_sets)
        return d

    @classmethod
    def from_json(cls, d: dict) -> TbConfig:
        d = dict(d)
        return cls(spec_path=d.pop("spec"), vectors=d.pop("vectors"), top=d.pop("top"),
                   seed=int(d.pop("seed", 0)), p_valid=float(d.pop("p_valid", 0.8)),
                   p_ready=float(d.pop("p_ready", 0.8)), corrupt=bool(d.pop("corrupt", False)),
                   wishbone=bool(d.pop("wishbone", False)),
                   cycles_per_vector=d.pop("cycles_per_vector", 1),
                   latency=int(d.pop("latency", 8)), results=d.pop("results", None),
                   outputs=d.pop("outputs", None),
                   weight_sets=tuple(d.pop("weight_sets", ())),
                   progress=d.pop("progress", None))

    @property
    def layer(self) -> str:
        """Name of the layer whose outputs leave the core (the last one of a network)."""
        return self.spec.layers[-1].name

    def write_result(self, scenario: str, result) -> None:
        """Add one scenario's result (a :class:`~lognet.sim.results.ScenarioResult`) to the
        results file, atomically."""
        if not self.results:
            return
        try:
            with open(self.results) as f:
                allres = json.load(f)
        except (OSError, ValueError):
            allres = {}
        allres[scenario] = result.to_json()
        tmp = f"{self.results}.tmp"
        with open(tmp, "w") as f:
            json.dump(allres, f, indent=1)
        os.replace(tmp, self.results)


@dataclass(frozen=True)
class BoardTbConfig(_Config):
    """Configuration of the board-top bench (host driver through the UART)."""

    #: the core's spec JSON (arith resolved)
    spec_path: str
    #: an .npy of input rows (N, n_in)
    vectors: str
    #: spec JSONs whose weights are loaded and checked in turn
    weight_sets: tuple[str, ...]
    #: where the counts (and on failure a one-line ``error``) are written
    results: str
    #: clocks per UART bit of the simulated top
    divisor: int = SIM_DIVISOR
    #: the mutation check: the expected output of set 0, vector 0, output 0 made wrong by one
    corrupt: bool = False
    #: the transport's read budget, clock cycles per byte
    timeout_cycles: int = 4000

    def to_json(self) -> dict:
        d = json_fields(self)
        d["spec"] = d.pop("spec_path")
        return d

    @classmethod
    def from_json(cls, d: dict) -> BoardTbConfig:
        return cls(spec_path=d["spec"], vectors=d["vectors"],
                   weight_sets=tuple(d["weight_sets"]), results=d["results"],
                   divisor=int(d.get("divisor", SIM_DIVISOR)),
                   corrupt=bool(d.get("corrupt", False)),
                   timeout_cycles=int(d.get("timeout_cycles", 4000)))
