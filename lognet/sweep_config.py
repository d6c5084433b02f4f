"""The typed configuration of ``lognet sweep``: one frozen dataclass per TOML section, loaded and
checked like the flow's (:mod:`lognet.config`: an unknown section or key, a wrong type, a choice
that is not one, a size out of range is one line naming ``[section] key`` and, for a
misspelling, the nearest valid name).

    [sweep]                      # out, cache, work_dir, seed, workers
    [networks.NAME]              # one float network: the flow's [model] and [data] keys
    [grid]                       # the axes; every combination is a point
    [[points]]                   # or single points (same keys, one value each)
    [quantise]                   # level_bits, bias_bits, out_bits, topology
    [stages]                     # accuracy, generate, synth, bulk (quantise and plan always)
    [synth]                      # dsp, place, timeout
    [bulk]                       # engine, vectors

Without ``[networks]`` the sweep has one network, ``digits``: the flow's digits MLP.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from dataclasses import dataclass, field
from pathlib import Path

from lognet.base.errors import InputError
from lognet.config import (
    DataConfig,
    ModelConfig,
    _kind,
    _near,
    _opt,
    _plain,
    _section,
    _value,
    read_toml,
)
from lognet.model.arch import Arith, Tunable
from lognet.model.levels import PICKERS
from lognet.model.validate import MAX_LEVELS

__all__ = ["BulkConfig", "GridConfig", "NetworkConfig", "QuantiseOptions", "StageConfig",
           "SweepConfig", "SweepJob", "SynthOptions", "lanes_text"]

#: targets of the synth stage (as ``lognet synth``; checked against boards.synth.TARGETS)
_TARGETS = ("ice40-up5k", "ecp5-25k", "ecp5-85k")
#: most points one sweep file may name (checked from the axis lengths, before any expansion)
MAX_POINTS = 100_000
#: highest clock of the grid in MHz (as ``lognet spec --clock``)
MAX_CLOCK_MHZ = 10_000.0


@dataclass(frozen=True)
class SweepJob:
    """``[sweep]``: the run as a whole."""

    #: results folder (relative to the working directory; ``-o`` overrides it)
    out: str = "sweep"
    #: the stage cache (content-addressed; shared by every sweep that points at it)
    cache: str = "build/sweep-cache"
    #: where workers put Verilog, synthesis runs and simulator builds
    work_dir: str = "build/sweep"
    #: seed of training, pickers and topologies (scikit-learn takes at most 2^32 - 1)
    seed: int = _opt(0, lo=0, hi=2**32 - 1)
    #: local worker processes (0: one per core, fewer if memory is short; ``--workers``)
    workers: int = _opt(0, lo=0, hi=4096)


@dataclass(frozen=True)
class NetworkConfig:
    """``[networks.NAME]``: a float network, with the keys of the flow's ``[model]`` and
    ``[data]`` sections (no keys: the digits MLP)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)


def lanes_text(v) -> str:
    """A lanes value of the grid (an integer P, ``parallel``, ``folded:P`` or ``auto``) as
    the text the stages take; InputError for anything else."""
    if isinstance(v, int):
        return f"folded:{v}"
    if v in ("parallel", "auto"):
        return v
    kind, _, n = str(v).partition(":")
    if kind == "folded" and n.isdigit() and int(n) >= 1:
        return f"folded:{int(n)}"
    raise InputError(f"lanes value {v!r}: give a lane count (1, 2, ...), \"folded:P\", "
                     f"\"parallel\" or \"auto\"")


@dataclass(frozen=True)
class GridConfig:
    """``[grid]``: the axes of the design space (each point is one combination)."""

    #: networks by name (unset: every ``[networks]`` entry)
    network: tuple[str, ...] | None = None
    #: level pickers
    picker: tuple[str, ...] = _opt(None, choices=PICKERS, factory=lambda: ("optimal",))
    #: levels per layer
    K: tuple[int, ...] = _opt(None, lo=1, hi=MAX_LEVELS, factory=lambda: (8,))
    #: arithmetic modes
    arith: tuple[Arith, ...] = (Arith.AUTO,)
    #: tunability tiers
    tunable: tuple[Tunable, ...] = (Tunable.ALL,)
    #: folded lane counts, ``"parallel"``, ``"folded:P"`` or ``"auto"`` (lanes per layer from
    #: the resource plan: the most inferences/s that fit the target)
    lanes: tuple[int | str, ...] = _opt(None, lo=1, factory=lambda: ("parallel",))
    #: synthesis targets (``ice40-up5k``, ``ecp5-25k``, ``ecp5-85k``)
    targets: tuple[str, ...] = _opt(None, choices=_TARGETS, factory=lambda: ("ice40-up5k",))
    #: clocks in MHz (empty: each target's default)
    clock: tuple[float, ...] = _opt((), lo=0.001, hi=MAX_CLOCK_MHZ)


@dataclass(frozen=True)
class QuantiseOptions:
    """``[quantise]``: what every point's quantisation shares (the flow's keys)."""

    level_bits: int = _opt(8, lo=1, hi=32)
    bias_bits: int = _opt(16, lo=2, hi=32)
    out_bits: int = _opt(8, lo=2, hi=32)
    #: ``dense``, ``fanin:F[:random:SEED]``, ``prune:DENSITY`` or ``band:W``
    topology: str = "dense"


@dataclass(frozen=True)
class StageConfig:
    """``[stages]``: which stages each point runs after quantise and the resource plan."""

    #: top-1 of the bit-exact integer reference on the test inputs
    accuracy: bool = True
    #: Verilog, register map, manifest
    generate: bool = False
    #: out-of-context synthesis (and place and route with ``[synth] place``)
    synth: bool = True
    #: the RTL on test vectors in a simulator, compared exactly with the reference
    bulk: bool = False

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in ("accuracy", "generate", "synth", "bulk") if getattr(self, n))


@dataclass(frozen=True)
class SynthOptions:
    """``[synth]``: how the synth stage runs."""

    #: let Yosys use DSP blocks
    dsp: bool = False
    #: run nextpnr (false: Yosys cell counts only, no Fmax)
    place: bool = True
    #: seconds one tool run may take (unset: no limit)
    timeout: float | None = _opt(None, lo=1.0)


@dataclass(frozen=True)
class BulkConfig:
    """``[bulk]``: the optional RTL check."""

    #: ``verilator`` or ``icarus``
    engine: str = _opt("verilator", choices=("verilator", "icarus"))
    #: test vectors per point (at most the network's test split)
    vectors: int = _opt(200, lo=1, hi=10_000_000)


_SECTIONS = {"sweep": SweepJob, "grid": GridConfig, "quantise": QuantiseOptions,
             "stages": StageConfig, "synth": SynthOptions, "bulk": BulkConfig}
_ALL = (*_SECTIONS, "networks", "points")


@dataclass(frozen=True)
class SweepConfig:
    """The whole ``lognet sweep`` configuration."""

    sweep: SweepJob = field(default_factory=SweepJob)
    networks: dict[str, NetworkConfig] = field(
        default_factory=lambda: {"digits": NetworkConfig()})
    grid: GridConfig | None = field(default_factory=GridConfig)
    #: single points (each a GridConfig of one value per axis)
    points: tuple[GridConfig, ...] = ()
    quantise: QuantiseOptions = field(default_factory=QuantiseOptions)
    stages: StageConfig = field(default_factory=StageConfig)
    synth: SynthOptions = field(default_factory=SynthOptions)
    bulk: BulkConfig = field(default_factory=BulkConfig)

    @classmethod
    def from_file(cls, path) -> SweepConfig:
        p = Path(path)
        return cls.from_dict(read_toml(p, "sweep file"), p.parent, source=str(p))

    @classmethod
    def from_dict(cls, d: dict, base_dir=".", *, source: str = "sweep") -> SweepConfig:
        base = Path(base_dir)
        out: dict = {}
        for name, body in d.items():
            if name not in _ALL:
                raise InputError(f"{source}: unknown section [{name}]{_near(name, _ALL)}")
            if name == "points":
                if not isinstance(body, list) or not all(isinstance(b, dict) for b in body):
                    raise InputError(f"{source}: points must be [[points]] tables, not "
                                     f"{_kind(body)}")
                out["points"] = tuple(_point(b, i, base, source) for i, b in enumerate(body))
                continue
            if not isinstance(body, dict):
                raise InputError(f"{source}: [{name}] must be a table of keys, not "
                                 f"{_kind(body)}")
            if name == "networks":
                out["networks"] = _networks(body, base, source)
            else:
                out[name] = _section(_SECTIONS[name], name, body, base, source)
        if "points" in out and "grid" not in out:
            out["grid"] = None
        cfg = cls(**out)
        cfg._check(source)
        return cfg

    def _check(self, source: str) -> None:
        import math

        import numpy as np

        from lognet.model.topology import make_topology

        if not self.networks:
            raise InputError(f"{source}: [networks] is empty; name at least one network")
        try:
            make_topology(np.ones((2, 65535)), self.quantise.topology)  # the text's form alone
        except InputError as e:
            raise InputError(f"{source}: [quantise] {e}") from None
        for where, g in self._axes():
            for name in g.network or ():
                if name not in self.networks:
                    raise InputError(f"{source}: {where} network {name!r} is not in "
                                     f"[networks]{_near(name, self.networks)}")
            for v in g.lanes:
                try:
                    lanes_text(v)
                except InputError as e:
                    raise InputError(f"{source}: {where} {e}") from None
            for axis in ("picker", "K", "arith", "tunable", "lanes", "targets"):
                if not getattr(g, axis):
                    raise InputError(f"{source}: {where} {axis} is empty; give at least one "
                                     f"value")
        n = sum(math.prod(len(v) for v in (g.network or self.networks, g.picker, g.K, g.arith,
                                            g.tunable, g.lanes, g.targets, g.clock or (None,)))
                for _, g in self._axes())
        if n > MAX_POINTS:
            raise InputError(f"{source}: the grid and [[points]] make {n:,} points, more than "
                             f"the {MAX_POINTS:,} one sweep runs; shorten the axes or split "
                             f"the sweep into several files")

    def _axes(self):
        if self.grid is not None:
            yield "[grid]", self.grid
        for i, p in enumerate(self.points):
            yield f"[[points]] #{i + 1}", p

    def expand(self):
        """Every point, in grid order then the single points (duplicates dropped), as
        :class:`lognet.sweep_engine.Point`."""
        from lognet.sweep_engine import Point

        stages = self.stages.names()
        seen, out = set(), []
        for _, g in self._axes():
            nets = g.network or tuple(self.networks)
            for net, pk, k, ar, tu, la, tg, ck in itertools.product(
                    nets, g.picker, g.K, g.arith, g.tunable, g.lanes, g.targets,
                    g.clock or (None,)):
                p = Point(net, pk, k, ar.value, tu.value, lanes_text(la), tg,
                          None if ck is None else float(ck), stages)
                if p not in seen:
                    seen.add(p)
                    out.append(p)
        return out

    def to_json(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _networks(body: dict, base: Path, source: str) -> dict[str, NetworkConfig]:
    from lognet.base.names import sanitise

    model_keys = {f.name for f in dataclasses.fields(ModelConfig)}
    data_keys = {f.name for f in dataclasses.fields(DataConfig)}
    out = {}
    for name, b in body.items():
        where = f"networks.{name}"
        if not isinstance(b, dict):
            raise InputError(f"{source}: [{where}] must be a table of keys, not {_kind(b)}")
        if sanitise(name) != name:
            raise InputError(f"{source}: [{where}]: a network name reaches HDL names; use "
                             f"{sanitise(name)!r}")
        for k in b:
            if k not in model_keys | data_keys:
                raise InputError(f"{source}: unknown key [{where}] {k}"
                                 f"{_near(k, sorted(model_keys | data_keys))}")
        out[name] = NetworkConfig(
            _section(ModelConfig, where, {k: v for k, v in b.items() if k in model_keys}, base,
                     source),
            _section(DataConfig, where, {k: v for k, v in b.items() if k in data_keys}, base,
                     source))
    return out


def _point(body: dict, i: int, base: Path, source: str) -> GridConfig:
    """One ``[[points]]`` table: scalars (or one-element lists) per axis."""
    hints = typing.get_type_hints(GridConfig)
    fields = {f.name: f for f in dataclasses.fields(GridConfig)}
    where = f"[[points]] #{i + 1}"
    values = {}
    for key, raw in body.items():
        if key not in fields:
            raise InputError(f"{source}: unknown key {where} {key}{_near(key, fields)}")
        if isinstance(raw, list) and len(raw) != 1:
            raise InputError(f"{source}: {where} {key} has {len(raw)} values; a point takes "
                             f"one value per key ([grid] combines several)")
        raw = raw if isinstance(raw, list) else [raw]
        values[key] = _value(raw, hints[key], fields[key].metadata, f"{source}: {where} {key}",
                             base)
    return GridConfig(**values)
