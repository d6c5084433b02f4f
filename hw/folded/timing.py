"""The clock model of a folded layer: pipeline depths, latency and cycles per vector.

Pure Python (no Amaranth): the plan and the manifest read it without elaborating anything, and
tests/hw checks it against the simulated RTL. The names here are the ones the datapath
(:mod:`lognet.hw.folded.datapath`) is built from, so the two cannot drift apart silently.

Clock edges are counted from the *issue edge* of a position (the edge at which the control
presents position ``t`` to the memories):

- ``STAGE_READ`` (0): memories read, the regular schedule's input pre-selected;
- ``STAGE_R`` (1): the selected input, the connection word and its level registered;
- ``STAGE_PRODUCT`` (2): the product (or ``+-x`` for ``factored``) registered;
- ``STAGE_ACC`` (3): accumulated (``factored``: into partial sum ``S_k``);
- ``STAGE_BIAS`` (4): accumulator + bias registered;
- ``STAGE_ROUND`` (5): the rounded value registered;
- ``STAGE_WRITE`` (6): saturated into the lane's result register.

Layers whose lanes are at least :data:`WORD_STAGE_MIN_DEPTH` positions deep (their memories are
deep enough to be cascades of block RAMs, whose output multiplexer would otherwise share a
clock with the level lookup) register the memories' read data, the position and the input once
more before ``STAGE_R`` (:func:`word_stage`): every later stage is one edge later.

``factored`` lanes hand an output's partial sums to the lane's finisher instead (``B_k <= S_k``
one edge after ``STAGE_ACC``, ``K`` issue clocks, then multiply, accumulate, bias, round and
write): :data:`FACTORED_WRITE` ``+ K`` edges after the issue of the output's last connection.

A vector is *complete* once every lane has written its last output; the edge after that copies
the lane results into the output stream's payload (``COPY``) and the edge after that transfers
it when ``o_stream.ready`` is high. The next vector may enter while the lanes still work on this
one: at the last issue edge for a regular (dense) schedule, which reads its inputs at
``STAGE_READ``, one edge later otherwise (the inputs are read at ``STAGE_R``), and only when at
most one other vector is inside the layer (so a finishing vector always finds the payload free
and the results of the next never overwrite its own). Neither the intake nor the copy looks at
the downstream ``ready`` of the same clock: only the transfer does.
"""

from __future__ import annotations

from dataclasses import dataclass

from lognet.model.arch import Arith

__all__ = ["BANKED_MIN_BITS", "OUT_BANKED_MIN_BITS", "WORD_STAGE_MIN_DEPTH", "STAGE_READ",
           "STAGE_R", "STAGE_PRODUCT", "STAGE_ACC", "STAGE_BIAS", "STAGE_ROUND", "STAGE_WRITE",
           "FACTORED_WRITE",
           "FINISHER_BUSY", "FoldedTiming", "folded_timing", "finisher_can_stall",
           "input_banked", "is_regular", "output_banked", "output_row", "word_stage"]

STAGE_READ = 0
STAGE_R = 1
STAGE_PRODUCT = 2
STAGE_ACC = 3
STAGE_BIAS = 4
STAGE_ROUND = 5
STAGE_WRITE = 6
#: edges from the issue of an output's last connection to its write, less ``K`` (factored)
FACTORED_WRITE = 9
#: clocks a finisher stays busy after its start, less ``K``: a lane whose next output reaches
#: ``STAGE_PRODUCT`` at its last connection within that window stalls every lane
FINISHER_BUSY = 6
#: lanes at least this many positions deep read their memories through one more register
#: (:func:`word_stage`): an iCE40 EBR holds 256 to 2,048 rows, so such memories are cascades
WORD_STAGE_MIN_DEPTH = 1024


def word_stage(spec, lane_depth: int) -> bool:
    """Whether the lanes register the memories' read data (and the position and input with
    it) once more before the level lookup: lanes at least :data:`WORD_STAGE_MIN_DEPTH` deep,
    except factored builds whose finishers can stall (their clock model is register by
    register)."""
    stalls = spec.arch.arith is Arith.FACTORED and finisher_can_stall(spec)
    return lane_depth >= WORD_STAGE_MIN_DEPTH and not stalls


def is_regular(spec) -> bool:
    """Every output reads the same inputs in the same order (dense and other uniform
    topologies): one pair of counters replaces the per-lane position ROM, and every lane reads
    the same input at the same time."""
    return len(set(spec.sources)) == 1


#: input vectors of at least this many bits, taken in beats by a regular schedule, wait in a
#: memory (two banks) instead of flip-flops: see :func:`input_banked`
BANKED_MIN_BITS = 256


def input_banked(spec) -> bool:
    """Whether the layer keeps its input vectors in a memory of two banks (a beat a row; the
    lanes read a row per position and pick the element): regular schedules (every lane reads
    the same input) taking beats, with at least :data:`BANKED_MIN_BITS` of input, and no
    finisher stalls. The next vector's beats fill the other bank while the lanes read one, so
    a vector's intake may start before the previous one is taken."""
    n_ib = spec.n_in // spec.in_beat_size
    stalls = spec.arch.arith is Arith.FACTORED and finisher_can_stall(spec)
    return (is_regular(spec) and n_ib > 1 and not stalls
            and spec.n_in * spec.in_fmt.width >= BANKED_MIN_BITS)


#: output vectors of at least this many bits, given in beats by a regular schedule, wait in a
#: memory (two banks) instead of flip-flops: see :func:`output_banked`
OUT_BANKED_MIN_BITS = 256


def output_row(spec) -> int:
    """Elements in a row of the output banks: the larger of the output beat and the lanes (one
    divides the other), so the lanes' results of one slot land in one row and a beat is one row
    or a part of one."""
    return max(spec.out_beat_size, spec.arch.lanes)


def output_banked(spec) -> bool:
    """Whether the layer writes its results into a memory of two banks instead of keeping them
    in flip-flops (twice: the lanes' result registers and the output buffer): regular schedules
    (every lane writes its output of a slot on the same clock) giving beats, the beat a
    multiple or a divisor of the lanes, at least :data:`OUT_BANKED_MIN_BITS` of output, no
    finisher stalls. The lanes write one row a slot into one bank while the beats of the
    previous vector leave from the other."""
    B, P = spec.out_beat_size, spec.arch.lanes
    n_ob = spec.n_out // B
    stalls = spec.arch.arith is Arith.FACTORED and finisher_can_stall(spec)
    return (is_regular(spec) and n_ob > 1 and not stalls and (B % P == 0 or P % B == 0)
            and spec.n_out * spec.out_fmt.width >= OUT_BANKED_MIN_BITS)


def finisher_can_stall(spec) -> bool:
    """Whether a factored lane can reach an output's last connection while its finisher still
    works on the previous output. The finisher is busy ``K + 6`` clocks after it starts, and
    the next output of a lane starts ``fan-in`` clocks later; when every fan-in is longer (as
    in dense layers) the stall logic, a signal that fans out to every lane, is left out."""
    return any(f <= spec.K + FINISHER_BUSY for f in spec.fanins)


@dataclass(frozen=True)
class FoldedTiming:
    """The clock model's answer for one layer."""

    #: rising edges from the one that transfers an input vector (its last beat) into an idle
    #: layer to the one that transfers its output (its first beat; ``o_stream.ready`` held high)
    latency: int
    #: clocks between two accepted vectors in a long stream at full rate (the mean: layers
    #: shorter than their pipeline alternate between two intervals, see :attr:`periods`)
    cycles_per_vector: float
    #: the steady-state intervals between accepted vectors, one repetition of the pattern
    periods: tuple[int, ...]
    #: issue clocks per vector: the longest lane's positions
    depth: int


def folded_timing(spec, lane_depth: int, lane_lengths: list[int], lane_lasts=None,
                  vectors: int = 16) -> FoldedTiming:
    """Latency and cycles per vector of a folded layer (see the module docstring).

    ``lane_depth`` is ``T``, ``lane_lengths`` each lane's positions, ``lane_lasts`` (factored
    builds that can stall) each lane's list of flags "this position is an output's last
    connection"."""
    T = lane_depth
    regular = is_regular(spec)
    x_free = 0 if regular else 1  # edges after the last issue at which the inputs are free
    n_ib, n_ob = _beats(spec)
    if spec.arch.arith is Arith.FACTORED:
        if finisher_can_stall(spec):
            return _clocked(spec, T, lane_lasts, x_free, vectors)
        write = FACTORED_WRITE + spec.K
    else:
        write = STAGE_WRITE
    write += word_stage(spec, T)
    # no stalls: the longest lane's last output is written ``write`` edges after the last issue.
    # With input beats a vector's beats fill a second buffer (one a clock, edges 0 .. n_ib - 1
    # for the first) and the lanes take it the edge after its last beat at the earliest; the
    # next vector's first beat goes in one edge after that. With output beats the first leaves
    # the edge after the copy, the last ``n_ob - 1`` edges later.
    # A banked input (:func:`input_banked`) fills one bank while the lanes read the other:
    # vector k's beats go in once vector k - 1's are in and vector k - 2 has left its bank
    # (released at its last issue edge).
    # Banked outputs (:func:`output_banked`): the bank is full at the edge of the last write and
    # its first beat is read and shown the edge after (the same edge as the copy), or, when the
    # previous vector's beats are still leaving from the other bank, at the edge its last
    # beat leaves (no copy: the read of the next row is the payload).
    banked = input_banked(spec)
    out_banked = output_banked(spec)
    accepts, firsts, transfers = [n_ib if n_ib > 1 else 0], [], []
    lasts_in = [n_ib - 1]  # the edge of each vector's last input beat
    for k in range(vectors):
        last_issue = accepts[k] + T
        done = last_issue + write
        copy = max(done + 1, (transfers[k - 1] + (0 if out_banked else 1)) if k else 0)
        firsts.append(copy + 1)
        transfers.append(copy + n_ob)
        nxt = last_issue + x_free
        if k >= 1:
            nxt = max(nxt, transfers[k - 1] + 1)
        if banked:
            first_in = max(lasts_in[k] + 1, accepts[k - 1] + T + 1 if k else 0)
            lasts_in.append(first_in + n_ib - 1)
            nxt = max(nxt, lasts_in[k + 1] + 1)
        elif n_ib > 1:
            nxt = max(nxt, accepts[k] + n_ib + 1)
        accepts.append(nxt)
    return _summary(accepts, firsts, T, 1 if n_ib > 1 else 0)


def _beats(spec) -> tuple[int, int]:
    """Beats per input vector and per output vector."""
    return spec.n_in // spec.in_beat_size, spec.n_out // spec.out_beat_size


def _summary(accepts, firsts, T, intake: int = 0) -> FoldedTiming:
    """``accepts``: the edges at which the lanes take each vector; ``firsts``: the edges at
    which each output's first beat leaves; ``intake``: edges from a vector's last input beat
    to its accept in an idle layer."""
    gaps = [b - a for a, b in zip(accepts, accepts[1:])]
    tail = gaps[len(gaps) // 2:]
    for n in (1, 2, 3, 4):
        if all(tail[i] == tail[i % n] for i in range(len(tail))):
            pattern = tuple(tail[:n])
            break
    else:  # not periodic within four vectors: report the mean of the second half
        pattern = tuple(tail)
    mean = sum(pattern) / len(pattern)
    return FoldedTiming(firsts[0] - accepts[0] + intake,
                        int(mean) if mean == int(mean) else mean, pattern, T)


def _clocked(spec, T, lasts, x_free, vectors) -> FoldedTiming:
    """Clock-by-clock model of factored lanes whose finishers can stall the issue, for a
    stream of ``vectors`` vectors with ``o_stream.ready`` high; mirrors the control and the
    finisher of :mod:`lognet.hw.folded.datapath` register by register."""
    K = spec.K
    P = len(lasts)
    lengths = [len(la) for la in lasts]
    n_ib, n_ob = _beats(spec)
    x_full, in_beat, vectors_in, out_beat = False, 0, 0, 0
    firsts = []
    # per lane: the position (vector, t) at stage s1 / r / s2, or None
    s1 = [None] * P
    r = [None] * P
    s2 = [None] * P
    # per lane finisher: its flags, the term counter, and whether the output it works on is
    # the lane's last of its vector (one output at a time: a start needs an idle finisher)
    fbusy, fk = [False] * P, [0] * P
    fa, fa_last, fb, fb_last, fdone, fout, fsat, f_start = ([False] * P for _ in range(8))
    f_lane_last = [False] * P
    done = [False] * P
    accepts, transfers = [], []
    running, t, vec, v1 = False, 0, -1, False
    o_valid, occupancy = False, 0
    edge = 0
    limit = (vectors + 2) * ((T + 1) * (K + 2 * FINISHER_BUSY + 8) + n_ib + n_ob)
    while len(transfers) < vectors:
        edge += 1
        if edge > limit:
            raise RuntimeError("the folded clock model found no output")
        f_any = [f_start[p] or fbusy[p] or fa[p] or fb[p] or fdone[p] or fout[p] or fsat[p]
                 for p in range(P)]
        at_last = [s2[p] is not None and lasts[p][s2[p][1]] for p in range(P)]
        run_en = not any(at_last[p] and f_any[p] for p in range(P))
        issue = running and run_en
        last_issue = issue and t == T - 1
        transfer = o_valid  # o_stream.ready held high
        copy = all(done) and not o_valid
        if x_free == 0:
            x_ok = not running or last_issue
        else:
            x_ok = not running and (run_en or not v1)
        accept = (len(accepts) < vectors and x_ok and occupancy <= 1
                  and (x_full or n_ib == 1))
        take_beat = n_ib > 1 and vectors_in < vectors and not x_full
        writes_last = [fsat[p] and f_lane_last[p] for p in range(P)]
        # -- the edge --
        if transfer:
            if out_beat == 0:
                firsts.append(edge)
            if out_beat == n_ob - 1:
                transfers.append(edge)
                o_valid = False
                occupancy -= 1
                out_beat = 0
            else:
                out_beat += 1
        if accept:
            x_full = False
        if take_beat:
            in_beat += 1
            if in_beat == n_ib:
                in_beat, x_full = 0, True
                vectors_in += 1
        if copy:
            o_valid = True
        done = [(d and not copy) or w for d, w in zip(done, writes_last)]
        start = f_start
        n_f_start = [run_en and at_last[p] for p in range(P)]
        for p in range(P):
            if n_f_start[p]:
                f_lane_last[p] = s2[p][1] == lengths[p] - 1
        n_fa = [fbusy[p] and not start[p] for p in range(P)]
        n_fa_last = [fbusy[p] and fk[p] == K - 1 for p in range(P)]
        n_fb, n_fb_last = fa[:], [fa[p] and fa_last[p] for p in range(P)]
        n_fdone = [fb[p] and fb_last[p] for p in range(P)]
        for p in range(P):
            if fbusy[p] and not start[p]:
                fk[p] += 1
                fbusy[p] = fk[p] < K
            if start[p]:
                fbusy[p], fk[p] = True, 0
        fa, fa_last, fb, fb_last = n_fa, n_fa_last, n_fb, n_fb_last
        fdone, fout, fsat, f_start = n_fdone, fdone, fout, n_f_start
        if run_en:
            s2 = r[:]
            r = [s1[p] if s1[p] is not None and s1[p][1] < lengths[p] else None
                 for p in range(P)]
            s1 = [(vec, t) if issue else None] * P
            v1 = issue
        if issue:
            t += 1
            if last_issue:
                running = False
        if accept:
            accepts.append(edge)
            occupancy += 1
            vec += 1
            running, t = True, 0
    return _summary(accepts, firsts, T, 1 if n_ib > 1 else 0)
