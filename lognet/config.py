"""The typed configuration of ``lognet flow``: one frozen dataclass per TOML section.

This module is the only place the defaults live: the flow reads a :class:`FlowConfig`, and the
CLI takes the defaults of the options it shares with the flow from the same dataclasses (e.g.
``QuantiseConfig().picker``), so the two cannot disagree.

Loading (:meth:`FlowConfig.from_file`, :meth:`FlowConfig.from_toml`, :meth:`FlowConfig.from_dict`)
checks everything at once: an unknown section or key, a value of the wrong type, a choice that is
not one, or a size out of range raises :class:`~lognet.base.errors.InputError` with one line that
names the file and ``[section] key`` and, for a misspelling, the nearest valid name.

Input files named in a config (``[model] weights``, ``[data] x_test`` ...) resolve against the
config file's folder; output folders (``[flow] out``, ``[simulate] build_dir``) are relative to
the working directory, like ``-o`` on the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from lognet.base.errors import InputError
from lognet.model import criticality as _crit
from lognet.model import ising as _ising
from lognet.model.arch import Arith, Tunable
from lognet.model.levels import PICKERS
from lognet.model.tune import FAMILIES
from lognet.model.validate import MAX_IO, MAX_LEVELS

__all__ = [
    "ACTIVATIONS",
    "AnalyseConfig",
    "CompareConfig",
    "DataConfig",
    "Engine",
    "FlowConfig",
    "JobConfig",
    "ModelConfig",
    "QuantiseConfig",
    "SimulateConfig",
    "SynthConfig",
    "TuneConfig",
]

#: activation plans of a weight file's dense layers
ACTIVATIONS = ("relu-hidden", "relu", "none")


class Engine(str, enum.Enum):
    """Simulator of the flow's RTL step."""

    #: cocotb on the Verilog in Verilator
    VERILATOR = "verilator"
    #: cocotb on the Verilog in Icarus
    ICARUS = "icarus"
    #: Amaranth's Python simulator on the Component (no external simulator)
    AMARANTH = "amaranth"


def _opt(default, *, choices=None, lo=None, hi=None, factory=None):
    """A field with checks: ``choices`` for strings, ``lo``/``hi`` bounds for numbers (applied
    to each element of a tuple or value of a table)."""
    meta = {"choices": choices, "lo": lo, "hi": hi}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class JobConfig:
    """``[flow]``: the job as a whole."""

    #: name of the network (the HDL top is derived from it)
    name: str = "net"
    #: seed of training, pickers, topologies and the fit's Gaussian control
    seed: int = _opt(0, lo=0)
    #: report folder (relative to the working directory; ``-o`` overrides it)
    out: str = "report"

    def __post_init__(self):
        if not self.name.strip():
            raise InputError('[flow] name is empty; give the network a name (it names the HDL '
                             'top and the report), e.g. name = "digits"')
        if not self.out.strip():
            raise InputError('[flow] out is empty; give a report folder, e.g. out = "report"')


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the float network, trained here or read from a weight file."""

    #: hidden layer sizes of the digits MLP trained when no ``weights`` are given
    hidden: tuple[int, ...] = _opt((32,), lo=1, hi=MAX_IO)
    #: weight file of dense layers (``.npz``, ``.safetensors``, ONNX); unset: train the demo
    weights: Path | None = None
    #: which matrices of ``weights``, in order (names or globs); unset: all 2-D arrays
    layers: tuple[str, ...] | None = None
    #: ``relu-hidden`` (ReLU after every layer but the last), ``relu`` or ``none``
    activation: str = _opt("relu-hidden", choices=ACTIVATIONS)

    def __post_init__(self):
        # the digits MLP (64 inputs, 10 classes) is refused before training when a layer of it
        # would be larger than a layer lognet builds
        from lognet.model.train import DIGITS_CLASSES, DIGITS_INPUTS
        from lognet.model.validate import MAX_CONNECTIONS

        sizes = (DIGITS_INPUTS, *self.hidden, DIGITS_CLASSES)
        for a, b in zip(sizes, sizes[1:]):
            if a * b > MAX_CONNECTIONS:
                raise InputError(f"[model] hidden = {list(self.hidden)}: a {a} x {b} layer has "
                                 f"{a * b:,} weights, more than the {MAX_CONNECTIONS:,} "
                                 f"connections of a layer lognet builds; give smaller layers")


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: the test (and calibration) inputs of a weight file's network."""

    #: ``.npy``, N x n_in: real values, or integer codes with ``input_frac_bits``
    x_test: Path | None = None
    #: ``.npy`` of N labels; unset: accuracy is top-1 agreement with the float model
    y_test: Path | None = None
    #: ``.npy`` of calibration inputs; unset: the test inputs
    x_calib: Path | None = None
    #: width of the input format
    input_bits: int = _opt(8, lo=2, hi=32)
    #: fraction bits of integer-coded inputs (required for them, ignored for real ones)
    input_frac_bits: int | None = _opt(None, lo=0, hi=32)
    #: signed inputs; unset: signed when any input is negative (integer codes: signed)
    input_signed: bool | None = None


@dataclass(frozen=True)
class QuantiseConfig:
    """``[quantise]``: levels, topology, formats and microarchitecture of the main spec."""

    #: how the K levels are picked; ``auto``: every picker, the levels of the best SQNR (on the
    #: digits MLP and transformer-like matrices ``optimal`` or ``lloyd`` won at K = 4, 8, 16,
    #: and ``lognormal-lloyd`` was up to 6.8 dB below them: benchmarks/fit.py)
    picker: str = _opt("auto", choices=PICKERS)
    #: levels per layer
    K: int = _opt(8, lo=1, hi=MAX_LEVELS)
    #: width of a level magnitude
    level_bits: int = _opt(8, lo=1, hi=32)
    #: width of a bias
    bias_bits: int = _opt(16, lo=2, hi=32)
    #: width of a layer's output
    out_bits: int = _opt(8, lo=2, hi=32)
    #: ``dense``, ``fanin:F[:random:SEED]``, ``prune:DENSITY`` or ``band:W``
    topology: str = "dense"
    #: ``parallel``, ``folded:P`` (P lanes), or ``auto``: lanes per layer from the resource
    #: plan of the first ``[synth] targets`` entry (``lognet plan --auto``)
    arch: str = "parallel"
    #: arithmetic mode (``auto`` picks the cheapest for the levels)
    arith: Arith = Arith.AUTO
    #: which weights are writable after synthesis
    tunable: Tunable = Tunable.ALL
    #: folded builds: input elements per stream transfer into the network (a divisor of its
    #: inputs; 0: the whole vector in one transfer)
    in_beat: int = _opt(0, lo=0, hi=MAX_IO)
    #: folded builds: output elements per stream transfer out of the network (0: whole)
    out_beat: int = _opt(0, lo=0, hi=MAX_IO)
    #: folded ``tunable = "all"`` layers keep one copy of their connection words (half the
    #: memory; the host writes them while the core is paused)
    single_copy: bool = False
    #: resume from this spec (the IR) instead of quantising (``--spec`` overrides it)
    spec: Path | None = None


@dataclass(frozen=True)
class CompareConfig:
    """``[compare]``: pickers x K by bit-exact integer accuracy, and optionally area."""

    #: pickers to compare
    pickers: tuple[str, ...] = _opt(("lognormal-lloyd", "optimal", "pow2", "uniform"),
                                    choices=PICKERS)
    #: level counts to compare
    K: tuple[int, ...] = _opt((4, 8, 16), lo=1, hi=MAX_LEVELS)
    #: also synthesise each point in Yosys (no place and route) for the Pareto plot
    area: bool = False
    #: target of those area runs
    area_target: str = "ice40-up5k"
    #: pickers whose points get an area; unset: all
    area_pickers: tuple[str, ...] | None = _opt(None, choices=PICKERS)
    #: let Yosys use DSP blocks in the area runs
    dsp: bool = False
    #: area runs at a time (0: one per core)
    jobs: int = _opt(0, lo=0)


@dataclass(frozen=True)
class SimulateConfig:
    """``[simulate]``: the RTL on the test split, every output compared with the reference."""

    #: simulator
    engine: Engine = Engine.VERILATOR
    #: test vectors to run: a count or ``"all"``
    vectors: int | str = _opt("all", choices=("all",), lo=1, hi=10_000_000)
    #: simulator build folder (relative to the working directory; builds are cached there)
    build_dir: str = "build/flow-sim"
    #: Verilator and Icarus run the generated bulk testbench (no Python in the clock loop);
    #: false: the cocotb bench
    bulk: bool = True
    #: further engines that repeat the same check on the same vectors
    also: tuple[Engine, ...] = ()


@dataclass(frozen=True)
class SynthConfig:
    """``[synth]``: out-of-context synthesis and place-and-route per target."""

    #: targets (``ice40-up5k``, ``ecp5-25k``, ``ecp5-85k``); empty: the step is skipped
    targets: tuple[str, ...] = ()
    #: per target: another ``parallel`` / ``folded:P`` than the main spec's, or ``auto`` (lanes
    #: from that target's resource plan)
    arch: dict[str, str] = _opt(None, factory=dict)
    #: per target: another tunability than the main spec's
    tunable: dict[str, Tunable] = _opt(None, factory=dict)
    #: per target: the asked clock in MHz (unset: the target's default)
    clock: dict[str, float] = _opt(None, lo=0.001, factory=dict)
    #: let Yosys use DSP blocks
    dsp: bool = False
    #: seconds nextpnr may take per target before the target is reported ``timed_out`` (the
    #: demo's place and route takes about a minute; one that cannot legalise may search for
    #: a quarter of an hour before giving up)
    place_timeout: float = _opt(1800.0, lo=1.0, hi=7 * 86400.0)


@dataclass(frozen=True)
class TuneConfig:
    """``[tune]``: train the main spec's levels and biases (signs and indices frozen), so the
    built core takes the result as register writes (``lognet tune`` has the same options)."""

    #: run the ``tune`` step
    enabled: bool = False
    #: ``free`` levels, or the K points of a ``lognormal`` (Lloyd-Max) / ``lognormal-quantile``
    #: family, two numbers per layer
    family: str = _opt("free", choices=FAMILIES)
    #: passes over the training split
    epochs: int = _opt(60, lo=0, hi=100_000)
    #: Adam's step in units of each layer's largest level (unset: 0.01 free, 0.02 family)
    lr: float | None = _opt(None, lo=1e-9, hi=1.0)
    #: training vectors per step
    batch: int = _opt(128, lo=1, hi=1 << 20)
    #: train the biases too (false: levels only)
    biases: bool = True
    #: ``.npz`` of x_train, y_train (x_test, y_test) as for ``lognet tune``; unset: the digits
    #: demo's own split
    data: Path | None = None
    #: field adaptation (digits demo): shift every image right by this many pixels, then tune
    #: the original levels to the shifted data; 0: no adaptation run
    field_shift: int = _opt(0, lo=0, hi=7)
    #: the adaptation's passes over the shifted training split (benchmarks/tune.py: 200 at a
    #: step of 0.03 give 68.9 % on the shifted test digits, the tuning's own 60 at 0.01 67.1 %;
    #: picked on a validation part of the shifted training split, 73.3 % against 69.2 %. The
    #: shifted data stay far from fitted, so the longer run does not overfit as it does on the
    #: unshifted digits)
    field_epochs: int = _opt(200, lo=0, hi=100_000)
    #: the adaptation's Adam step, as ``lr``
    field_lr: float = _opt(0.03, lo=1e-9, hi=1.0)


@dataclass(frozen=True)
class AnalyseConfig:
    """``[analyse]``: what the flow's network shows without a hardware run (the ``analyse``
    step, after ``quantise``): its Ising model (``lognet analyse ising``), its layers on the
    order-to-chaos diagram of random networks (``lognet analyse criticality``) and the
    distributions of its neuron outputs (``lognet fit --activations``)."""

    #: run the ``analyse`` step (the parts below that are true)
    enabled: bool = False
    #: density of states and specific heat C(T) of the trained network, the same shapes
    #: untrained (default initialisation) and the quantised (codebook) network
    ising: bool = True
    #: energy bins of each network's density of states
    ising_bins: int = _opt(64, lo=2, hi=_ising.MAX_BINS)
    #: final Wang-Landau modification factor ln f (smaller: longer walks, finer g(E))
    ising_ln_f: float = _opt(1e-6, lo=1e-12, hi=0.5)
    #: most spins (neurons, inputs included) the Ising part takes; a larger network is noted
    #: as not analysed (a walk's length grows with the spins and the energy bins)
    ising_max_spins: int = _opt(4096, lo=2, hi=_ising.MAX_SPINS)
    #: the Lyapunov exponent of random networks over a grid of weight scales, with the trained
    #: layers placed on it by their scale sqrt(fan-in * mean w^2)
    criticality: bool = True
    #: weight family of the random networks (lognormal: random signs, ``criticality_sigma``)
    criticality_family: str = _opt("gaussian", choices=_crit.FAMILIES)
    #: lognormal family: sd of ln|w|
    criticality_sigma: float = _opt(1.0, lo=1e-6, hi=10.0)
    #: activation of the random networks (the demo's hidden layers use ReLU)
    criticality_activation: str = _opt("relu", choices=_crit.ACTIVATIONS)
    #: width N of the random networks; 0: the mean fan-in of the flow's layers
    criticality_fan_in: int = _opt(0, lo=0, hi=_crit.MAX_WIDTH)
    #: layers of the random networks (the exponent is averaged over them)
    criticality_depth: int = _opt(4000, lo=2, hi=_crit.MAX_DEPTH)
    #: the sigma_w grid: smallest, largest, points
    criticality_sigma_w_min: float = _opt(0.5, lo=1e-6, hi=1e3)
    criticality_sigma_w_max: float = _opt(4.0, lo=1e-6, hi=1e3)
    criticality_points: int = _opt(31, lo=2, hi=_crit.MAX_POINTS)
    #: critical region: |lambda| <= tol
    criticality_tol: float = _opt(0.02, lo=1e-9, hi=10.0)
    #: fit each layer's outputs over the test split, float and bit-exact integer networks
    activations: bool = True
    #: test vectors whose activations are fitted (a count or ``"all"``)
    activation_vectors: int | str = _opt("all", choices=("all",), lo=1, hi=10_000_000)

    def __post_init__(self):
        if self.criticality_sigma_w_max <= self.criticality_sigma_w_min:
            raise InputError(f"[analyse] criticality_sigma_w_max ({self.criticality_sigma_w_max})"
                             f" must exceed criticality_sigma_w_min "
                             f"({self.criticality_sigma_w_min})")


_SECTIONS = {"flow": JobConfig, "model": ModelConfig, "data": DataConfig,
             "quantise": QuantiseConfig, "compare": CompareConfig,
             "simulate": SimulateConfig, "synth": SynthConfig, "tune": TuneConfig,
             "analyse": AnalyseConfig}


@dataclass(frozen=True)
class FlowConfig:
    """The whole ``lognet flow`` configuration; ``FlowConfig()`` is the all-defaults one."""

    #: ``[flow]``
    flow: JobConfig = field(default_factory=JobConfig)
    #: ``[model]``
    model: ModelConfig = field(default_factory=ModelConfig)
    #: ``[data]``
    data: DataConfig = field(default_factory=DataConfig)
    #: ``[quantise]``
    quantise: QuantiseConfig = field(default_factory=QuantiseConfig)
    #: ``[compare]``
    compare: CompareConfig = field(default_factory=CompareConfig)
    #: ``[simulate]``
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    #: ``[synth]``
    synth: SynthConfig = field(default_factory=SynthConfig)
    #: ``[tune]``
    tune: TuneConfig = field(default_factory=TuneConfig)
    #: ``[analyse]``
    analyse: AnalyseConfig = field(default_factory=AnalyseConfig)

    @classmethod
    def from_file(cls, path) -> FlowConfig:
        """A ``.toml`` file, or a ``.json`` one of the same layout."""
        p = Path(path)
        if p.suffix == ".json":
            if not p.is_file():
                raise InputError(f"{p}: no such config file")
            try:
                d = json.loads(p.read_text())
            except RecursionError:
                raise InputError(f"{p}: not a valid config (nested too deeply)") from None
            except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
                raise InputError(f"{p}: not a valid config ({str(e).splitlines()[0]})") from None
            if not isinstance(d, dict):
                raise InputError(f"{p}: not a valid config (the top level must be an object)")
            return cls.from_dict(d, p.parent, source=str(p))
        return cls.from_toml(p)

    @classmethod
    def from_toml(cls, path) -> FlowConfig:
        p = Path(path)
        return cls.from_dict(read_toml(p, "config"), p.parent, source=str(p))

    @classmethod
    def from_dict(cls, d: dict, base_dir=".", *, source: str = "config") -> FlowConfig:
        """``d`` as read from TOML; relative input paths resolve against ``base_dir``."""
        base = Path(base_dir)
        sections = {}
        for name, body in d.items():
            if name not in _SECTIONS:
                raise InputError(f"{source}: unknown section [{name}]{_near(name, _SECTIONS)}")
            if not isinstance(body, dict):
                raise InputError(f"{source}: [{name}] must be a table of keys, not "
                                 f"{_kind(body)}")
            sections[name] = _section(_SECTIONS[name], name, body, base, source)
        return cls(**sections)

    def __post_init__(self):
        given = [k for k in ("x_test", "y_test", "x_calib") if getattr(self.data, k) is not None]
        if given and self.model.weights is None:
            raise InputError(f"[data] {given[0]} is for the network of [model] weights; without "
                             f"weights the flow trains the digits MLP on the digits' own test "
                             f"split: give [model] weights or remove [data] {given[0]}")

    def to_json(self) -> dict:
        """Plain JSON values (enums as their names, paths as text), every default filled in."""
        return _plain(dataclasses.asdict(self))


def read_toml(path: Path, what: str) -> dict:
    """The table of the TOML file ``path`` (a ``what``: "config", "sweep file"); a missing file,
    bad TOML or text, or nesting too deep for the parser is one line naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: no such {what} file" if " " not in what
                         else f"{path}: no such {what}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a valid {what} ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise InputError(f"{path}: not a valid {what} (arrays or tables nested too deeply)"
                         ) from None


def _near(name: str, valid) -> str:
    m = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean '{m[0]}'?" if m else f"; valid: {', '.join(valid)}"


def _kind(v) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


def _plain(v):
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _section(cls, name: str, body: dict, base: Path, source: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, raw in body.items():
        if key not in fields:
            raise InputError(f"{source}: unknown key [{name}] {key}{_near(key, fields)}")
        where = f"{source}: [{name}] {key}"
        values[key] = _value(raw, hints[key], fields[key].metadata, where, base)
    return cls(**values)


_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
          Path: "a file name"}


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is tuple:
        inner = _describe(args[0])
        if inner.startswith("one of "):
            return f"a list of values from: {inner[len('one of '):]}"
        return f"a list of {inner.split(' ', 1)[1]}s"
    if origin is dict:
        return f"a table of {_describe(args[1]).split(' ', 1)[1]}s"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(m.value for m in hint)
    return _NAMES.get(hint, str(hint))


class _Mismatch(Exception):
    pass


def _value(raw, hint, meta, where: str, base: Path):
    """``raw`` converted to ``hint`` and checked against ``meta``, or one line naming ``where``."""
    try:
        return _convert(raw, hint, meta, where, base)
    except _Mismatch:
        raise InputError(f"{where} = {_show(raw)} is {_kind(raw)}; expected "
                         f"{_describe(hint)}") from None


def _show(raw) -> str:
    text = json.dumps(raw) if isinstance(raw, (str, list, dict, bool)) else repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _convert(raw, hint, meta, where, base):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:  # JSON null (TOML has none): the unset value
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(raw, a, meta, where, base)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin is tuple:
        if not isinstance(raw, list):
            raise _Mismatch
        return tuple(_convert(x, args[0], meta, where, base) for x in raw)
    if origin is dict:
        if not isinstance(raw, dict):
            raise _Mismatch
        return {str(k): _convert(x, args[1], meta, f"{where}.{k}", base) for k, x in raw.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not isinstance(raw, str):
            raise _Mismatch
        valid = [m.value for m in hint]
        if raw not in valid:
            raise InputError(f"{where} = {_show(raw)} is not one of: {', '.join(valid)}"
                             f"{_near(raw, valid) if _close(raw, valid) else ''}")
        return hint(raw)
    if hint is Path:
        if not isinstance(raw, str) or not raw:
            raise _Mismatch
        p = Path(raw).expanduser()
        return p if p.is_absolute() else base / p
    if hint is bool:
        if not isinstance(raw, bool):
            raise _Mismatch
        return raw
    if hint in (int, float):
        ok = isinstance(raw, int) if hint is int else isinstance(raw, (int, float))
        if not ok or isinstance(raw, bool):
            raise _Mismatch
        v = hint(raw)
        if hint is float and not math.isfinite(v):
            raise InputError(f"{where} = {raw!r} is not a finite number")
        lo, hi = meta.get("lo"), meta.get("hi")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = (f">= {lo}" if hi is None else f"in {lo}..{hi}") if lo is not None else \
                f"<= {hi}"
            raise InputError(f"{where} = {raw!r} is out of range; it must be {rng}")
        return v
    if hint is str:
        if not isinstance(raw, str):
            raise _Mismatch
        choices = meta.get("choices")
        if choices and raw not in choices:
            raise InputError(f"{where} = {_show(raw)} is not one of: {', '.join(choices)}"
                             f"{_near(raw, choices) if _close(raw, choices) else ''}")
        return raw
    raise TypeError(f"config field type {hint!r} is not handled")  # a bug here, not bad input


def _close(name: str, valid) -> bool:
    return bool(difflib.get_close_matches(name, list(valid), n=1))
