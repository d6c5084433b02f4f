"""The architecture rules, in one pure module (no Amaranth): which arithmetic mode a spec gets
(``--arith auto``), what is buildable, how many shift terms a level table needs, and how a
folded build's connections are scheduled on its lanes.

Both the register map (:mod:`lognet.hw.regmap`, which the host side imports without Amaranth)
and the Components (:mod:`lognet.hw.layer`, :mod:`lognet.hw.network`) build on these, so a
rule is written once. The IR itself (:mod:`lognet.model.validate`) already refuses the
combinations no generator can build; what is left here is the generator's own choice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lognet.model.arch import Arith, Microarch, SpecError, Tunable
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.validate import level_terms

__all__ = ["SHARED_MIN_FANOUT", "CoreInfo", "choose_arith", "lane_schedule", "resolve_arch",
           "resolve_spec", "shift_terms"]


#: below this many connections per input, a fully tunable parallel ``shared`` build's K
#: products per input cost more than ``factored``'s gated trees (see :func:`choose_arith`)
SHARED_MIN_FANOUT = 7


def shift_terms(spec: LayerSpec) -> int:
    """1 when every level is 0 or a power of two, 2 when some are a sum of two; else
    :class:`SpecError` (such levels cannot be built with ``arith=shift``)."""
    n = max(len(level_terms(v)) for v in spec.levels)
    if n > 2:
        bad = next(v for v in spec.levels if len(level_terms(v)) > 2)
        raise SpecError(
            f"layer {spec.name!r}: level {bad} is not a power of two or a sum of two; "
            f"arith=shift needs the pow2 or apot picker"
        )
    return max(n, 1)


def choose_arith(spec: LayerSpec) -> Arith:
    """The cheapest arithmetic mode for a spec (``--arith auto``), from measured area.

    ``shift`` whenever every level is a power of two or a sum of two (no multiplier at all).
    Otherwise, in parallel builds, ``factored`` (accumulate per level, multiply by the K levels
    at the end), except with ``tunable=all`` where every input feeds at least
    :data:`SHARED_MIN_FANOUT` connections: there the K products per input of ``shared`` are
    shared by enough connections to beat ``factored``'s K gated trees per output. Folded builds
    use ``shared``.

    Measured with the YoWASP Yosys (``synth_ice40``, no DSPs, ``python benchmarks/area.py`` and
    ``benchmarks/da4ml_peer.py``), K = 8, 8-bit inputs. 16x4 parallel (4 connections per input),
    LUT4 in shift / factored / shared: 5,399 / 20,887 / 28,862 with ``tunable=all``,
    3,417 / 7,157 / 10,423 with ``levels``, 1,412 / 2,131 / 2,605 with ``none``; the 64x32 digits
    layer with ``tunable=none``: factored 43,577, shared 64,336 (multiply 77,871). With
    ``tunable=all``, ``shared`` costs about 146 LUT4 per connection plus 1,270 per input (its K
    products multiply by writable levels) and ``factored`` about 326 per connection, so
    ``shared`` wins from about 7 connections per input (16x8 with DSPs allowed: 18,686 against
    25,786). In folded builds (one multiplier per lane, no per-input products) ``shared`` beats
    ``factored`` (64x32 folded:8: 3,239 against 6,734 LUT4), whose K partial sums per lane cost
    more registers and adders than the multiplier they save. ``multiply`` stores plain weights,
    not a codebook, and is the baseline rather than a choice."""
    if all(len(level_terms(v)) <= 2 for v in spec.levels):
        return Arith.SHIFT
    if spec.arch.kind is Microarch.PARALLEL:
        if spec.arch.tunable is not Tunable.ALL:
            return Arith.FACTORED
        used = len({int(i) for src in spec.sources for i in src})
        if spec.n_conn < SHARED_MIN_FANOUT * max(used, 1):
            return Arith.FACTORED
    return Arith.SHARED


def resolve_arch(spec: LayerSpec) -> LayerSpec:
    """``spec`` with ``arith=auto`` replaced by the mode the generator builds (the IR has
    already checked that the combination is buildable)."""
    if spec.arch.arith is Arith.AUTO:
        return spec.with_arch(dataclasses.replace(spec.arch, arith=choose_arith(spec)))
    return spec


def resolve_spec(spec: LayerSpec | NetworkSpec) -> LayerSpec | NetworkSpec:
    """A layer or network with every ``arith=auto`` resolved (the register encoding and the
    datapath depend on it)."""
    if isinstance(spec, NetworkSpec):
        return NetworkSpec(spec.name, tuple(resolve_arch(la) for la in spec.layers))
    return resolve_arch(spec)


def lane_schedule(spec: LayerSpec) -> list[list[tuple[int, int]]]:
    """Assignment of connections to lanes in a folded build: output ``j`` goes to lane
    ``j % P`` and its connections run back to back there. Returns, per lane, the list of
    ``(output, connection)`` in execution order."""
    p = spec.arch.lanes if spec.arch.kind is Microarch.FOLDED else 1
    lanes: list[list[tuple[int, int]]] = [[] for _ in range(p)]
    for j, f in enumerate(spec.fanins):
        lanes[j % p].extend((j, c) for c in range(f))
    return lanes


@dataclass(frozen=True)
class CoreInfo:
    """What every core (layer, network, Wishbone front) says about itself: the sizes and
    formats of its streams, its configuration address width and its timing. The board bridge,
    the testbenches and the manifest read this record, never the core's internals."""

    #: elements of an input vector
    n_in: int
    #: elements of an output vector
    n_out: int
    #: bits of an input element
    in_width: int
    #: bits of an output element
    out_width: int
    #: input elements are two's complement
    in_signed: bool
    #: output elements are two's complement
    out_signed: bool
    #: bits of a configuration word address
    addr_width: int
    #: clocks from an input transfer to its output (with no stalls)
    latency: int
    #: clocks between two input vectors at full rate (the mean of a long stream; a folded layer
    #: shorter than its pipeline alternates between two intervals and reports e.g. 13.5)
    cycles_per_vector: int | float
    #: input elements per ``i_stream`` transfer (a beat; 0: the whole vector)
    in_beat: int = 0
    #: output elements per ``o_stream`` transfer (0: the whole vector)
    out_beat: int = 0

    @property
    def in_beat_size(self) -> int:
        """Input elements per transfer."""
        return self.in_beat or self.n_in

    @property
    def out_beat_size(self) -> int:
        """Output elements per transfer."""
        return self.out_beat or self.n_out

    @property
    def in_beats(self) -> int:
        """Transfers per input vector."""
        return self.n_in // self.in_beat_size

    @property
    def out_beats(self) -> int:
        """Transfers per output vector."""
        return self.n_out // self.out_beat_size

    @classmethod
    def of(cls, spec: LayerSpec | NetworkSpec, addr_width: int, latency: int,
           cycles_per_vector: int | float) -> CoreInfo:
        def beat(size, n):
            return 0 if size == n else size

        return cls(spec.n_in, spec.n_out, spec.in_fmt.width, spec.out_fmt.width,
                   spec.in_fmt.signed, spec.out_fmt.signed, addr_width, latency,
                   cycles_per_vector, beat(spec.in_beat_size, spec.n_in),
                   beat(spec.out_beat_size, spec.n_out))
