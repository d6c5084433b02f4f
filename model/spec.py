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

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

from .arch import Activation, Arch, Microarch, SpecError, Tunable
from .qformat import QFormat, signed_width_for
from .validate import layer_problems, network_problems

__all__ = ["LayerSpec", "NetworkSpec", "with_arch_overrides", "with_beats", "with_single_copy"]


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
        problems = layer_problems(self)
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
    def in_beat_size(self) -> int:
        """Input elements per stream transfer (``n_in`` unless the arch sets beats)."""
        return self.arch.in_beat or self.n_in

    @property
    def out_beat_size(self) -> int:
        """Output elements per stream transfer (``n_out`` unless the arch sets beats)."""
        return self.arch.out_beat or self.n_out

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
    def partial_sum_width(self) -> int:
        """Two's-complement bits of a ``factored`` partial sum ``S_k``: a sum of ``+-x`` over at
        most :attr:`max_fanin` connections, so ``|S_k| <= max_fanin * max|x|``."""
        bound = self.max_fanin * self.in_fmt.max_abs_int
        return signed_width_for(-bound, bound)

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

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        """The layers of this spec: ``(self,)`` (a network has one entry per layer), so code
        that walks layers needs no case for a lone layer."""
        return (self,)

    def with_arch(self, arch: Arch) -> LayerSpec:
        """The same layer with other microarchitecture parameters."""
        return dataclasses.replace(self, arch=arch)
@dataclass(frozen=True)
class NetworkSpec:
    """Layers chained output to input. Each layer's output format must be the next layer's
    input format and its ``n_out`` the next layer's ``n_in``."""

    name: str
    layers: tuple[LayerSpec, ...]

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        p = network_problems(self)
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
    def in_beat_size(self) -> int:
        return self.layers[0].in_beat_size

    @property
    def out_beat_size(self) -> int:
        return self.layers[-1].out_beat_size

    @property
    def out_fmt(self) -> QFormat:
        return self.layers[-1].out_fmt


def with_arch_overrides(spec: LayerSpec | NetworkSpec, arch: str | None = None,
                        arith: str | None = None,
                        tunable: str | None = None) -> LayerSpec | NetworkSpec:
    """``spec`` (a layer or a network, the same kind back) with every layer's microarchitecture
    overridden: ``arch`` (``parallel`` or ``folded:P``) replaces the kind and lanes, ``arith``
    and ``tunable`` replace theirs; what is not given stays as each layer has it. In a network,
    ``folded:P`` gives each layer at most as many lanes as it has outputs (a lane computes whole
    outputs; a single layer with more lanes than outputs is refused). Bad values raise
    :class:`SpecError`."""
    if not (arch or arith or tunable):
        return spec
    network = not isinstance(spec, LayerSpec)

    def one(layer: LayerSpec) -> LayerSpec:
        a = layer.arch
        if arch:
            a = Arch.parse(arch, arith=a.arith, tunable=a.tunable)
        lanes = min(a.lanes, layer.n_out) if network else a.lanes
        # beats stay with folded builds (parallel cores take whole vectors)
        folded = a.kind is Microarch.FOLDED
        beats = (layer.arch.in_beat, layer.arch.out_beat) if folded else (0, 0)
        tier = tunable or a.tunable
        single = layer.arch.single_copy and folded and Tunable(tier) is Tunable.ALL
        return layer.with_arch(Arch(a.kind, lanes, arith or a.arith, tier, *beats, single))

    if isinstance(spec, LayerSpec):
        return one(spec)
    return NetworkSpec(spec.name, tuple(one(layer) for layer in spec.layers))


def with_beats(spec: LayerSpec | NetworkSpec, in_beat: int | None = None,
               out_beat: int | None = None) -> LayerSpec | NetworkSpec:
    """``spec`` with its stream beats set: ``in_beat`` input elements per transfer into the core
    (a network's first layer) and ``out_beat`` output elements per transfer out of it (a
    network's last layer); None keeps what the spec has, 0 is the whole vector. The links
    between a network's layers keep their beats. Beats need folded layers; a beat must divide
    its vector. Bad values raise :class:`SpecError`."""
    if in_beat is None and out_beat is None:
        return spec
    layers = [spec] if isinstance(spec, LayerSpec) else list(spec.layers)
    first, last = layers[0], layers[-1]
    for layer, beat, side in ((first, in_beat, "input"), (last, out_beat, "output")):
        if beat and layer.arch.kind is not Microarch.FOLDED:
            raise SpecError(f"layer {layer.name!r} is parallel and takes whole vectors; "
                            f"{side} beats need a folded layer (--arch folded:P)")
    if in_beat is not None:
        layers[0] = first = first.with_arch(dataclasses.replace(first.arch, in_beat=in_beat))
    if out_beat is not None:
        last = layers[-1]
        layers[-1] = last.with_arch(dataclasses.replace(last.arch, out_beat=out_beat))
    if isinstance(spec, LayerSpec):
        return layers[0]
    return NetworkSpec(spec.name, tuple(layers))


def with_single_copy(spec: LayerSpec | NetworkSpec) -> LayerSpec | NetworkSpec:
    """``spec`` with one copy of the connection words in every folded ``tunable=all`` layer
    (``single_copy``); a spec with no such layer is refused (:class:`SpecError`)."""
    layers = [spec] if isinstance(spec, LayerSpec) else list(spec.layers)
    able = [la.arch.kind is Microarch.FOLDED and la.arch.tunable is Tunable.ALL for la in layers]
    if not any(able):
        raise SpecError("single_copy keeps one copy of writable connection words: it needs a "
                        "folded layer with tunable=all (use --arch folded:P --tunable all)")
    layers = [la.with_arch(dataclasses.replace(la.arch, single_copy=True)) if ok else la
              for la, ok in zip(layers, able)]
    return layers[0] if isinstance(spec, LayerSpec) else NetworkSpec(spec.name, tuple(layers))
