"""Deep folded lanes read their memories through one more register (``word_stage``): exact
outputs, and the clock model's latency and cycles per vector equal what the RTL does, on
every schedule kind (the threshold lowered so that small layers take the stage too) and on a
layer deep enough to take it by default."""

import numpy as np
import pytest
from support.amsim import Reprogram, expected, run_core
from support.specs import make_spec, perturbed

from lognet.hw.amsim import stream_through, transfer_latency
from lognet.hw.folded import timing
from lognet.hw.folded.timing import finisher_can_stall, word_stage
from lognet.hw.layer import Layer
from lognet.model.reference import reference

# (n_in, n_out, lanes, K, fan-in, in beat, out beat): dense, pruned, one lane, beats, banked
# inputs and outputs, a factored layer whose finishers can stall (it keeps no word stage)
SHAPES = [(6, 4, 2, 4, None, 0, 0), (9, 5, 2, 4, 3, 0, 0), (5, 3, 1, 8, None, 0, 0),
          (16, 4, 2, 4, None, 4, 2), (32, 32, 4, 4, None, 8, 8), (30, 6, 2, 4, 12, 5, 3),
          (40, 6, 2, 4, None, 0, 0)]


def _measure(spec):
    core = Layer(spec)
    X = np.random.default_rng(0).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                          (13, spec.n_in))
    _, c5 = stream_through(core, X[:5])
    y13, c13 = stream_through(core, X)
    np.testing.assert_array_equal(y13, reference(spec, X))
    assert core.info.latency == transfer_latency(core, X[0])
    assert core.info.cycles_per_vector * 8 == c13 - c5
    return core.info


@pytest.mark.parametrize("arith", ["shared", "factored", "multiply", "shift"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_word_stage_is_exact_and_timed_by_the_model(monkeypatch, arith, shape):
    n_in, n_out, P, K, fanin, ib, ob = shape
    spec = make_spec(n_in=n_in, n_out=n_out, K=K, fanin=fanin, arch="folded", lanes=P,
                     arith=arith, seed=2, in_beat=ib, out_beat=ob, pow2=arith == "shift")
    plain = _measure(spec)
    monkeypatch.setattr(timing, "WORD_STAGE_MIN_DEPTH", 1)
    staged = _measure(spec)
    stalls = arith == "factored" and finisher_can_stall(spec)
    assert word_stage(spec, 1) == (not stalls)
    # one edge more from input to output; the rate is the same once the layer is longer than
    # its pipeline
    assert staged.latency == plain.latency + (not stalls)


@pytest.mark.parametrize("tunable,single", [("all", False), ("levels", False), ("all", True)])
def test_reprogramming_mid_stream_with_the_word_stage(monkeypatch, tunable, single):
    """Writes and commits between vectors land on the same vector boundaries with the stage
    (single copy: paused and empty, written straight into the memory the stage reads)."""
    import dataclasses

    monkeypatch.setattr(timing, "WORD_STAGE_MIN_DEPTH", 1)
    spec = make_spec(12, 6, 4, arch="folded", lanes=2, seed=3, in_beat=4, out_beat=3,
                     tunable=tunable)
    if single:
        spec = spec.with_arch(dataclasses.replace(spec.arch, single_copy=True))
    a, b = perturbed(spec, 1, tunable != "all"), perturbed(spec, 2, tunable != "all")
    X = np.random.default_rng(4).integers(-128, 128, (40, 12))
    r = run_core(Layer(spec), spec, X, reprograms=[Reprogram(6, a), Reprogram(20, b)],
                 p_valid=0.7, p_ready=0.6, seed=5)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([spec, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


def test_a_deep_layer_takes_the_word_stage_by_default():
    """A folded:1 layer of 1,024 connections is deep enough: its memories are cascades."""
    spec = make_spec(64, 16, 8, arch="folded", lanes=1, seed=1, in_beat=8, out_beat=4)
    core = Layer(spec)
    assert core.regmap.lane_depth == 1024
    assert word_stage(spec, core.regmap.lane_depth)
    X = np.random.default_rng(1).integers(-128, 128, (4, 64))
    y, _ = stream_through(core, X)
    np.testing.assert_array_equal(y, reference(spec, X))
    assert core.info.latency == transfer_latency(core, X[0])
