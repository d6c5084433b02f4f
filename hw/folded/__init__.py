"""The ``folded:P`` microarchitecture: P lanes, weights in memories.

Output ``j`` is computed by lane ``j % P``, its connections back to back
(:func:`lognet.hw.arch.lane_schedule`). All lanes step through positions ``t = 0 .. T-1``
together, ``T`` the longest lane. Per position a constant ROM holds each lane's source input,
first/last flags and output slot (regular schedules such as dense layers use counters instead);
a memory holds the lanes' connection words (sign + level index, or the signed weight in
``multiply`` mode), all P lanes side by side in one row of ``P`` words, since they read the
same position. With ``tunable=all`` that memory has a shadow twin that the bus writes one lane
word at a time (write granularity); a commit copies shadow to active, a row per clock, in
``T + 1`` clocks between two vectors.

Lane pipeline (the named stages of :mod:`.timing`)::

    position t -> memory read -> register x[src], the word and its level
               -> product (or +-x for factored) -> accumulate
               -> [factored: select B_k, level_k -> multiply -> add, K issue clocks, pipelined]
               -> bias, ReLU, requantise -> the lane's result register

Each stage is one clock, so no multiplexer, multiplier and adder share a clock. Consecutive
vectors overlap: the next one enters while the lanes finish this one, and a complete vector's
results are copied into the output payload, so ``T`` (regular schedules) or ``T + 1`` clocks
per vector for layers longer than their pipeline (:func:`folded_timing`). The lanes do
``n_conn`` useful connection-steps out of ``P * cycles_per_vector`` lane-clocks
(:attr:`~lognet.hw.layer.Layer.utilisation`).

The pieces are Components in :mod:`.datapath`; :func:`build_folded` wires them into a layer.
"""

from __future__ import annotations

from .timing import FoldedTiming, finisher_can_stall, folded_timing, is_regular

__all__ = ["build_folded", "folded_timing", "timing_of", "FoldedTiming", "finisher_can_stall",
           "is_regular"]


def __getattr__(name):
    # the datapath elaborates with Amaranth: imported on first use, so the clock model
    # (:mod:`.timing`, pure Python) loads without it, e.g. for ``lognet plan``
    if name == "build_folded":
        from .datapath import build_folded

        return build_folded
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def timing_of(spec, regmap) -> FoldedTiming:
    """:func:`folded_timing` of a resolved folded layer spec and its register map."""
    schedule = regmap.schedule
    lasts = [[c == spec.fanins[j] - 1 for j, c in lane] for lane in schedule]
    return folded_timing(spec, regmap.lane_depth, [len(s) for s in schedule], lasts)
