"""The IR: :class:`LayerSpec` and :class:`NetworkSpec`, the one meeting point of the project.

Everything downstream (hw/, sim/, boards/) reads only these frozen dataclasses. They hold
integers only; the real values follow from the :class:`~lognet.model.qformat.QFormat` of each
quantity.

Arithmetic of one layer (the bit-exact definition; :mod:`lognet.model.reference` implements it)::

    w[j, c]  = (-1)**sign[j][c] * levels[index[j][c]]          level_fmt integers
    acc[j]   = sum_c w[j, c] * x[sources[j][c]]                 exact, acc_frac fraction bits
             + bias[j] << bias_shift                            bias_shift = acc_frac - bias.frac
    acc[j]   = max(acc[j], 0)                                   when activation == "relu"
    y[j]     = clamp_or_wrap(shift_round(acc[j], shift, out.rounding), out)
                                                                shift = acc_frac - out.frac

with ``acc_frac = input.frac_bits + level.frac_bits``.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_write_text  # noqa: F401  (re-exported: spec users write through it)
from .qformat import QFormat, Rounding, signed_width_for

__all__ = [
    "MAX_ACC_WIDTH",
    "SCHEMA_VERSION",
    "Activation",
    "Arch",
    "Arith",
    "LayerSpec",
    "Microarch",
    "NetworkSpec",
    "SpecError",
    "Tunable",
    "dump_spec",
    "load_spec",
    "spec_from_json",
    "spec_to_json",
]

#: Version of the JSON layout. Bump on any incompatible change.
SCHEMA_VERSION = 1
#: Widest accumulator the int64 reference (and the generator) supports.
MAX_ACC_WIDTH = 62


class SpecError(ValueError):
    """A spec that breaks a rule. ``problems`` lists every broken rule, one line each."""

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class Activation(str, enum.Enum):
    NONE = "none"
    RELU = "relu"


class Microarch(str, enum.Enum):
    #: every connection has its own datapath; one vector per clock, pipelined
    PARALLEL = "parallel"
    #: ``lanes`` connections per clock, weights in memories
    FOLDED = "folded"


class Arith(str, enum.Enum):
    #: K products per input formed once, each connection selects one
    SHARED = "shared"
    #: accumulate +-x per level index, multiply by the K levels at the end
    FACTORED = "factored"
    #: levels are powers of two (or sums of two): shifts and adds only
    SHIFT = "shift"
    #: a plain multiplier per connection on the signed integer weight (the baseline)
    MULTIPLY = "multiply"
    #: let the generator pick the cheapest mode for this spec
    AUTO = "auto"


class Tunable(str, enum.Enum):
    #: signs, indices, levels and biases are writable
    ALL = "all"
    #: the level table and biases are writable; the connection pattern is wired in
    LEVELS = "levels"
    #: everything is constant
    NONE = "none"


@dataclass(frozen=True)
class Arch:
    """Microarchitecture parameters. model/ only carries them; hw/ interprets them."""

    #: parallel or folded
    kind: Microarch = Microarch.PARALLEL
    #: connections processed per clock in a folded build (ignored when parallel)
    lanes: int = 1
    #: arithmetic mode
    arith: Arith = Arith.SHARED
    #: which weights are run-time writable
    tunable: Tunable = Tunable.ALL

    def __post_init__(self):
        for name, typ in (("kind", Microarch), ("arith", Arith), ("tunable", Tunable)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, typ(value))
            except ValueError:
                choices = ", ".join(m.value for m in typ)
                raise SpecError(f"arch.{name} {value!r} is not one of: {choices}") from None
        if not isinstance(self.lanes, int) or self.lanes < 1:
            raise SpecError(f"arch.lanes must be an integer >= 1 (got {self.lanes!r})")

    @classmethod
    def parse(cls, text: str, arith: str = "shared", tunable: str = "all") -> Arch:
        """``parallel`` or ``folded:P``."""
        kind, _, lanes = text.partition(":")
        if kind == "parallel" and not lanes:
            return cls(Microarch.PARALLEL, 1, arith, tunable)
        if kind == "folded":
            try:
                p = int(lanes) if lanes else 1
            except ValueError:
                raise SpecError(
                    f"folded lanes {lanes!r} is not an integer (use folded:P)") from None
            return cls(Microarch.FOLDED, p, arith, tunable)
        raise SpecError(f"architecture {text!r} is not 'parallel' or 'folded:P'")

    def to_json(self) -> dict:
        return {
            "kind": self.kind.value,
            "lanes": self.lanes,
            "arith": self.arith.value,
            "tunable": self.tunable.value,
        }


def _tuple2(rows) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in rows)


@dataclass(frozen=True)
class LayerSpec:
    """One codebook-weight layer. See the module docstring for its arithmetic.

    Construct it with the keyword arguments below; it validates itself and raises
    :class:`SpecError` listing every problem.
    """

    #: layer name (sanitised before it reaches HDL)
    name: str
    #: number of inputs
    n_in: int
    #: number of outputs
    n_out: int
    #: format of the inputs
    in_fmt: QFormat
    #: format of the level magnitudes (unsigned)
    level_fmt: QFormat
    #: format of the biases
    bias_fmt: QFormat
    #: format of the outputs (its rounding and saturation define requantisation)
    out_fmt: QFormat
    #: the K level magnitudes as level_fmt integers, strictly increasing, >= 0
    levels: tuple[int, ...]
    #: per output, the input indices it connects to (strictly increasing)
    sources: tuple[tuple[int, ...], ...]
    #: per output, per connection: 0 positive, 1 negative
    signs: tuple[tuple[int, ...], ...]
    #: per output, per connection: index into ``levels``
    indices: tuple[tuple[int, ...], ...]
    #: per output, bias as bias_fmt integer
    bias: tuple[int, ...]
    #: activation after the bias
    activation: Activation = Activation.NONE
    #: microarchitecture parameters for hw/
    arch: Arch = field(default_factory=Arch)
    #: free-form provenance (picker, SQNR, source file...), strings only, not used by hw/
    meta: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "levels", tuple(int(v) for v in self.levels))
        object.__setattr__(self, "sources", _tuple2(self.sources))
        object.__setattr__(self, "signs", _tuple2(self.signs))
        object.__setattr__(self, "indices", _tuple2(self.indices))
        object.__setattr__(self, "bias", tuple(int(v) for v in self.bias))
        object.__setattr__(self, "meta", tuple(sorted((str(k), str(v)) for k, v in self.meta)))
        try:
            object.__setattr__(self, "activation", Activation(self.activation))
        except ValueError:
            raise SpecError(
                f"activation {self.activation!r} is not one of: none, relu"
            ) from None
        problems = self._problems()
        if problems:
            raise SpecError([f"layer {self.name!r}: {p}" for p in problems])

    # -- derived quantities -------------------------------------------------------------

    @property
    def K(self) -> int:
        """Number of levels."""
        return len(self.levels)

    @property
    def index_bits(self) -> int:
        """Bits of a level index register (at least 1)."""
        return max(1, (self.K - 1).bit_length())

    @functools.cached_property
    def fanins(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.sources)

    @functools.cached_property
    def max_fanin(self) -> int:
        return max(self.fanins)

    @functools.cached_property
    def n_conn(self) -> int:
        """Total connections."""
        return sum(self.fanins)

    @property
    def acc_frac(self) -> int:
        """Fraction bits of the accumulator: input fraction + level fraction."""
        return self.in_fmt.frac_bits + self.level_fmt.frac_bits

    @property
    def bias_shift(self) -> int:
        """Left shift that aligns a bias to the accumulator."""
        return self.acc_frac - self.bias_fmt.frac_bits

    @property
    def shift(self) -> int:
        """Requantisation right shift from the accumulator to the output format."""
        return self.acc_frac - self.out_fmt.frac_bits

    @property
    def product_bound(self) -> int:
        """Largest |x * level| any input and any writable level can give."""
        return self.in_fmt.max_abs_int * self.level_fmt.max_int

    @property
    def acc_range(self) -> tuple[int, int]:
        """Bounds ``(lo, hi)`` of the accumulator that no input or weight set can leave.

        Derivation. One connection contributes ``s * l * x`` with ``s`` in {-1, +1}, ``l`` a
        level in ``[0, level.max_int]`` and ``x`` in ``[in.min_int, in.max_int]``; since the
        sign is free (writable), ``|s l x| <= P = level.max_int * max(|in.min_int|,
        |in.max_int|)`` and both ``+P`` and ``-P`` are reachable. An output with fan-in ``F``
        sums ``F`` of them: ``[-F P, F P]``. The bias adds ``[bias.min_int, bias.max_int] <<
        bias_shift``. So with ``F = max_fanin``::

            lo = -F P + (bias.min_int << bias_shift)
            hi =  F P + (bias.max_int << bias_shift)

        The bound uses the format limits, not the current levels, signs or biases, because
        those are writable at run time: any weight set loaded later stays inside it. It is
        tight: all-max inputs with all-max levels and all-positive signs reach ``hi`` exactly
        (tests check this extreme, the all-min one and mixed signs).
        """
        f = self.max_fanin
        p = self.product_bound
        return (
            -f * p + (self.bias_fmt.min_int << self.bias_shift),
            f * p + (self.bias_fmt.max_int << self.bias_shift),
        )

    @property
    def acc_width(self) -> int:
        """Two's-complement bits that hold :attr:`acc_range`; overflow is impossible."""
        return signed_width_for(*self.acc_range)

    @property
    def weight_width(self) -> int:
        """Bits of a signed integer weight ``+-level`` (the ``multiply`` baseline's register)."""
        return self.level_fmt.width + 1

    @functools.cached_property
    def flat(self) -> dict[str, np.ndarray]:
        """Connections as flat int64 arrays ``out, src, sign, index`` in output-major order."""
        out = np.repeat(np.arange(self.n_out, dtype=np.int64), self.fanins)
        src = np.fromiter((s for row in self.sources for s in row), np.int64, self.n_conn)
        sign = np.fromiter((s for row in self.signs for s in row), np.int64, self.n_conn)
        idx = np.fromiter((s for row in self.indices for s in row), np.int64, self.n_conn)
        return {"out": out, "src": src, "sign": sign, "index": idx}

    def weight_matrix(self, levels=None) -> np.ndarray:
        """Dense signed integer weights, shape ``(n_out, n_in)``, zero where unconnected.

        ``levels`` overrides the level table (used to check a perturbed reference)."""
        lv = np.asarray(self.levels if levels is None else levels, dtype=np.int64)
        f = self.flat
        w = np.zeros((self.n_out, self.n_in), dtype=np.int64)
        w[f["out"], f["src"]] = np.where(f["sign"] == 1, -lv[f["index"]], lv[f["index"]])
        return w

    def with_arch(self, arch: Arch) -> LayerSpec:
        """The same layer with other microarchitecture parameters."""
        return _replace(self, arch=arch)

    # -- validation ---------------------------------------------------------------------

    def _problems(self) -> list[str]:
        p: list[str] = []
        if not isinstance(self.name, str) or not self.name:
            p.append("name must be a non-empty string")
        for attr in ("n_in", "n_out"):
            v = getattr(self, attr)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                p.append(f"{attr} must be an integer >= 1 (got {v!r})")
        for attr in ("in_fmt", "level_fmt", "bias_fmt", "out_fmt"):
            if not isinstance(getattr(self, attr), QFormat):
                p.append(f"{attr} must be a QFormat")
        if p:
            return p
        if self.level_fmt.signed:
            p.append("level format must be unsigned (signs are stored per connection)")
        if self.K < 1:
            p.append("the level table is empty; give at least one level")
        if self.K > 256:
            p.append(f"{self.K} levels is more than the supported 256")
        lv = np.asarray(self.levels, dtype=np.int64)
        if self.K and not self.level_fmt.contains(lv):
            p.append(
                f"levels {lv.min()}..{lv.max()} do not fit the level format "
                f"{self.level_fmt.describe()} (0..{self.level_fmt.max_int}); widen it"
            )
        if self.K > 1 and np.any(np.diff(lv) <= 0):
            p.append("levels must be strictly increasing")
        if self.bias_shift < 0:
            p.append(
                f"bias has {self.bias_fmt.frac_bits} fraction bits, more than the accumulator's "
                f"{self.acc_frac}; use at most {self.acc_frac}"
            )
        if self.shift < 0:
            p.append(
                f"output has {self.out_fmt.frac_bits} fraction bits, more than the accumulator's "
                f"{self.acc_frac}; use at most {self.acc_frac}"
            )
        for attr in ("sources", "signs", "indices"):
            if len(getattr(self, attr)) != self.n_out:
                p.append(f"{attr} has {len(getattr(self, attr))} rows, expected n_out={self.n_out}")
        if len(self.bias) != self.n_out:
            p.append(f"bias has {len(self.bias)} entries, expected n_out={self.n_out}")
        if p:
            return p
        for j, (s, g, k) in enumerate(zip(self.sources, self.signs, self.indices)):
            if not (len(s) == len(g) == len(k)):
                p.append(f"output {j}: sources, signs and indices differ in length")
                break
            if len(s) == 0:
                p.append(f"output {j} has no connections (fan-in must be >= 1)")
                break
            if len(s) > self.n_in:
                p.append(f"output {j}: fan-in {len(s)} is larger than the {self.n_in} inputs")
                break
        if p:
            return p
        f = self.flat
        if f["src"].min() < 0 or f["src"].max() >= self.n_in:
            p.append(f"a source index is outside 0..{self.n_in - 1}")
        else:
            starts = np.cumsum((0,) + self.fanins[:-1])
            d = np.diff(f["src"])
            ok = np.ones(len(d), bool) if len(d) else d
            if len(d):
                boundary = np.zeros(len(d), bool)
                boundary[(starts[1:] - 1)] = True
                ok = (d > 0) | boundary
                if not ok.all():
                    j = int(f["out"][1:][~ok][0])
                    p.append(f"output {j}: sources must be strictly increasing (no duplicates)")
        if not np.isin(f["sign"], (0, 1)).all():
            p.append("signs must be 0 (positive) or 1 (negative)")
        if f["index"].min() < 0 or f["index"].max() >= self.K:
            p.append(f"a level index is outside 0..{self.K - 1}")
        if not self.bias_fmt.contains(np.asarray(self.bias, dtype=np.int64)):
            p.append(
                f"a bias is outside the bias format {self.bias_fmt.describe()} "
                f"({self.bias_fmt.min_int}..{self.bias_fmt.max_int})"
            )
        if not p and self.acc_width > MAX_ACC_WIDTH:
            p.append(
                f"the accumulator needs {self.acc_width} bits, more than the supported "
                f"{MAX_ACC_WIDTH}; narrow the formats or the fan-in"
            )
        if self.arch.kind is Microarch.FOLDED and self.arch.lanes > self.n_conn:
            p.append(
                f"folded with {self.arch.lanes} lanes but only {self.n_conn} connections; "
                f"use at most {self.n_conn} lanes"
            )
        return p

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "formats": {
                "input": self.in_fmt.to_json(),
                "level": self.level_fmt.to_json(),
                "bias": self.bias_fmt.to_json(),
                "output": self.out_fmt.to_json(),
            },
            "levels": list(self.levels),
            "activation": self.activation.value,
            "arch": self.arch.to_json(),
            "bias": list(self.bias),
            "sources": [list(r) for r in self.sources],
            "signs": [list(r) for r in self.signs],
            "indices": [list(r) for r in self.indices],
            "meta": dict(self.meta),
        }


def _replace(spec, **changes):
    import dataclasses

    return dataclasses.replace(spec, **changes)


@dataclass(frozen=True)
class NetworkSpec:
    """Layers chained output to input. Each layer's output format must be the next layer's
    input format and its ``n_out`` the next layer's ``n_in``."""

    name: str
    layers: tuple[LayerSpec, ...]

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        p = []
        if not self.layers:
            p.append("a network needs at least one layer")
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            p.append("layer names must be unique")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.n_out != b.n_in:
                p.append(
                    f"layer {a.name!r} has {a.n_out} outputs but the next layer {b.name!r} "
                    f"has {b.n_in} inputs"
                )
            fa = (a.out_fmt.int_bits, a.out_fmt.frac_bits, a.out_fmt.signed)
            fb = (b.in_fmt.int_bits, b.in_fmt.frac_bits, b.in_fmt.signed)
            if fa != fb:
                p.append(
                    f"layer {a.name!r} outputs {a.out_fmt.describe()} but layer {b.name!r} "
                    f"expects {b.in_fmt.describe()}; make the formats equal"
                )
        if p:
            raise SpecError([f"network {self.name!r}: {m}" for m in p])

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def in_fmt(self) -> QFormat:
        return self.layers[0].in_fmt

    @property
    def out_fmt(self) -> QFormat:
        return self.layers[-1].out_fmt

    def to_json(self) -> dict:
        return {"name": self.name, "layers": [layer.to_json() for layer in self.layers]}


# -- JSON -----------------------------------------------------------------------------------


def spec_to_json(spec: LayerSpec | NetworkSpec) -> dict:
    kind = "layer" if isinstance(spec, LayerSpec) else "network"
    return {"schema": f"lognet.{kind}", "version": SCHEMA_VERSION, **spec.to_json()}


def _need(d: dict, key: str, where: str, typ=None):
    if not isinstance(d, dict):
        raise SpecError(f"{where} must be a JSON object")
    if key not in d:
        raise SpecError(f"{where} is missing the field {key!r}")
    v = d[key]
    if typ is not None and not isinstance(v, typ):
        raise SpecError(f"{where}.{key} has the wrong type ({type(v).__name__})")
    return v


def _int(v, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where} must be an integer (got {v!r})")
    return v


def _fmt_from_json(d, where: str) -> QFormat:
    known = {"int_bits", "frac_bits", "signed", "rounding", "saturate"}
    if not isinstance(d, dict):
        raise SpecError(f"{where} must be a JSON object")
    extra = set(d) - known
    if extra:
        raise SpecError(f"{where} has unknown fields {sorted(extra)}")
    try:
        return QFormat(
            int_bits=_int(_need(d, "int_bits", where), f"{where}.int_bits"),
            frac_bits=_int(_need(d, "frac_bits", where), f"{where}.frac_bits"),
            signed=bool(_need(d, "signed", where, bool)),
            rounding=Rounding(_need(d, "rounding", where, str)),
            saturate=bool(_need(d, "saturate", where, bool)),
        )
    except ValueError as e:
        if isinstance(e, SpecError):
            raise
        raise SpecError(f"{where}: {e}") from None


def _int_rows(v, where: str) -> list[list[int]]:
    if not isinstance(v, list) or not all(isinstance(r, list) for r in v):
        raise SpecError(f"{where} must be a list of lists of integers")
    for r in v:
        for x in r:
            if isinstance(x, bool) or not isinstance(x, int):
                raise SpecError(f"{where} must hold integers only (found {x!r})")
    return v


def _int_list(v, where: str) -> list[int]:
    if not isinstance(v, list):
        raise SpecError(f"{where} must be a list of integers")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int):
            raise SpecError(f"{where} must hold integers only (found {x!r})")
    return v


def _layer_from_json(d: dict, where: str) -> LayerSpec:
    known = {
        "schema", "version", "name", "n_in", "n_out", "formats", "levels", "activation", "arch",
        "bias", "sources", "signs", "indices", "meta",
    }
    if not isinstance(d, dict):
        raise SpecError(f"{where} must be a JSON object")
    extra = set(d) - known
    if extra:
        raise SpecError(f"{where} has unknown fields {sorted(extra)}")
    fm = _need(d, "formats", where, dict)
    arch = _need(d, "arch", where, dict)
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise SpecError(f"{where}.meta must be a JSON object")
    return LayerSpec(
        name=_need(d, "name", where, str),
        n_in=_int(_need(d, "n_in", where), f"{where}.n_in"),
        n_out=_int(_need(d, "n_out", where), f"{where}.n_out"),
        in_fmt=_fmt_from_json(_need(fm, "input", f"{where}.formats"), f"{where}.formats.input"),
        level_fmt=_fmt_from_json(_need(fm, "level", f"{where}.formats"), f"{where}.formats.level"),
        bias_fmt=_fmt_from_json(_need(fm, "bias", f"{where}.formats"), f"{where}.formats.bias"),
        out_fmt=_fmt_from_json(_need(fm, "output", f"{where}.formats"), f"{where}.formats.output"),
        levels=_int_list(_need(d, "levels", where), f"{where}.levels"),
        sources=_int_rows(_need(d, "sources", where), f"{where}.sources"),
        signs=_int_rows(_need(d, "signs", where), f"{where}.signs"),
        indices=_int_rows(_need(d, "indices", where), f"{where}.indices"),
        bias=_int_list(_need(d, "bias", where), f"{where}.bias"),
        activation=_need(d, "activation", where, str),
        arch=Arch(
            kind=_need(arch, "kind", f"{where}.arch", str),
            lanes=_int(_need(arch, "lanes", f"{where}.arch"), f"{where}.arch.lanes"),
            arith=_need(arch, "arith", f"{where}.arch", str),
            tunable=_need(arch, "tunable", f"{where}.arch", str),
        ),
        meta=tuple(sorted((str(k), str(v)) for k, v in meta.items())),
    )


def spec_from_json(d) -> LayerSpec | NetworkSpec:
    """Build a spec from parsed JSON, raising :class:`SpecError` on the first broken rule."""
    if not isinstance(d, dict):
        raise SpecError("a spec must be a JSON object")
    schema = d.get("schema")
    if schema not in ("lognet.layer", "lognet.network"):
        raise SpecError(
            f"'schema' is {schema!r}, expected 'lognet.layer' or 'lognet.network' "
            f"(is this a lognet spec?)"
        )
    version = d.get("version")
    if version != SCHEMA_VERSION:
        raise SpecError(
            f"spec schema version {version!r} is not supported (this lognet reads version "
            f"{SCHEMA_VERSION}); regenerate the spec"
        )
    if schema == "lognet.layer":
        return _layer_from_json(d, "layer")
    extra = set(d) - {"schema", "version", "name", "layers"}
    if extra:
        raise SpecError(f"network has unknown fields {sorted(extra)}")
    layers = _need(d, "layers", "network", list)
    return NetworkSpec(
        name=_need(d, "name", "network", str),
        layers=tuple(_layer_from_json(x, f"layers[{i}]") for i, x in enumerate(layers)),
    )


def dumps_spec(spec: LayerSpec | NetworkSpec) -> str:
    """Canonical JSON text: same spec, same bytes."""
    return json.dumps(spec_to_json(spec), separators=(",", ":"), sort_keys=False) + "\n"


def load_spec(path: str | os.PathLike) -> LayerSpec | NetworkSpec:
    """Read and validate a spec file. Raises :class:`SpecError` with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read it ({e.__class__.__name__})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    try:
        return spec_from_json(d)
    except SpecError as e:
        raise SpecError([f"{path}: {m}" for m in e.problems]) from None


def dump_spec(spec: LayerSpec | NetworkSpec, path: str | os.PathLike) -> None:
    """Write a spec as canonical JSON, atomically."""
    atomic_write_text(path, dumps_spec(spec))


def ceil_log2(n: int) -> int:
    return max(0, math.ceil(math.log2(n))) if n > 1 else 0
