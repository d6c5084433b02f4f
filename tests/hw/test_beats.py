"""Narrow streams: folded cores that take a vector in beats of B elements and give outputs in
beats, against the integer reference and the clock model, in Amaranth's simulator (stalls,
backpressure, reprogramming mid-stream, networks chained through beats)."""

import dataclasses

import numpy as np
import pytest
from support.amsim import Reprogram, expected, run_core
from support.specs import make_network, make_spec, perturbed

from lognet.hw.amsim import stream_through, transfer_latency
from lognet.hw.folded.timing import finisher_can_stall, input_banked, output_banked
from lognet.hw.layer import Layer
from lognet.hw.network import Network
from lognet.model.arch import SpecError
from lognet.model.reference import reference
from lognet.model.spec import LayerSpec, NetworkSpec, with_beats
from lognet.model.specjson import dumps_spec, spec_from_json, spec_to_json


def _with(spec, in_beat=0, out_beat=0):
    return spec.with_arch(dataclasses.replace(spec.arch, in_beat=in_beat, out_beat=out_beat))


# (n_in, n_out, lanes, K, fan-in, in beat, out beat): compute-bound, input-bound (many small
# input beats on a short layer), output-bound (one output a beat), pruned schedules
SHAPES = [(16, 4, 2, 4, None, 4, 2), (16, 2, 2, 4, 2, 1, 0), (4, 12, 12, 4, None, 1, 1),
          (8, 16, 8, 4, 2, 2, 1), (30, 6, 2, 4, 12, 5, 3), (9, 6, 2, 4, 3, 3, 2),
          (6, 12, 6, 4, 2, 0, 1),
          # wide inputs in beats: two banks of a memory (input_banked), input-bound too, and a
          # beat that is not a power of two
          (32, 4, 2, 4, None, 4, 2), (32, 2, 2, 4, None, 1, 0), (48, 6, 3, 4, None, 6, 3),
          # wide outputs in beats: two banks of a memory (output_banked): a row a beat holding
          # two slots, a row a slot holding two beats, a beat of three slots, lanes with
          # unequal slots, one element a beat (output-bound), and both memories at once
          (8, 32, 4, 4, None, 2, 8), (8, 32, 8, 4, None, 0, 4), (6, 36, 4, 4, None, 0, 12),
          (8, 34, 4, 4, None, 4, 2), (4, 32, 8, 4, None, 0, 1), (32, 32, 4, 4, None, 8, 8)]


@pytest.mark.parametrize("arith", ["shared", "factored", "multiply"])
@pytest.mark.parametrize("shape", SHAPES)
def test_beats_are_exact_and_timed_by_the_model(arith, shape):
    """Outputs equal the reference; the manifest's latency (last input beat to first output
    beat) and cycles per vector equal what the RTL does in a steady stream."""
    n_in, n_out, P, K, fanin, ib, ob = shape
    spec = make_spec(n_in=n_in, n_out=n_out, K=K, fanin=fanin, arch="folded", lanes=P,
                     arith=arith, seed=2, in_beat=ib, out_beat=ob)
    assert input_banked(spec) == (n_in >= 32)
    stalls = arith == "factored" and finisher_can_stall(spec)
    assert output_banked(spec) == (n_out >= 32 and ob > 0 and not stalls)
    core = Layer(spec)
    assert core.info.in_beats == n_in // (ib or n_in)
    assert core.info.out_beats == n_out // (ob or n_out)
    assert len(core.i_stream.payload.as_value()) == (ib or n_in) * spec.in_fmt.width
    assert len(core.o_stream.payload.as_value()) == (ob or n_out) * spec.out_fmt.width
    X = np.random.default_rng(0).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                          (13, n_in))
    _, c5 = stream_through(core, X[:5])
    y13, c13 = stream_through(core, X)
    np.testing.assert_array_equal(y13, reference(spec, X))
    assert core.info.latency == transfer_latency(core, X[0])
    assert core.info.cycles_per_vector * 8 == c13 - c5
    # a beat-bound layer takes about one vector per beats-count clocks
    # (a fill buffer of flip-flops hands a vector over in one more clock; banks do not)
    handover = core.info.in_beats > 1 and not input_banked(spec)
    assert core.info.cycles_per_vector >= max(core.info.in_beats + handover,
                                              core.info.out_beats)


def test_banked_inputs_with_a_shared_subset_of_sources():
    """A regular schedule whose outputs all read the same 20 of 40 inputs: the banked input
    memory finds each source's row and element through a table."""
    base = make_spec(40, 6, 4, arch="folded", lanes=2, seed=5, in_beat=8, out_beat=3)
    keep = tuple(sorted(np.random.default_rng(1).choice(40, 20, replace=False).tolist()))
    spec = dataclasses.replace(base, sources=(keep,) * 6, signs=tuple(s[:20] for s in base.signs),
                               indices=tuple(x[:20] for x in base.indices))
    assert input_banked(spec)
    core = Layer(spec)
    X = np.random.default_rng(2).integers(-128, 128, (13, 40))
    _, c5 = stream_through(core, X[:5])
    y, c13 = stream_through(core, X)
    np.testing.assert_array_equal(y, reference(spec, X))
    assert core.info.cycles_per_vector * 8 == c13 - c5


@pytest.mark.parametrize("tunable", ["all", "levels"])
@pytest.mark.parametrize("arith,fanin,n_in", [("shared", None, 12), ("factored", 3, 12),
                                              ("shift", None, 12), ("shared", None, 36),
                                              ("factored", None, 36)])
def test_beats_with_stalls_and_reprogramming(arith, fanin, n_in, tunable):
    """Random valid gaps and ready backpressure on both streams, two weight sets written and
    committed mid-stream: every vector matches the set that was active when its last beat was
    taken (36 inputs: the banked input memory)."""
    spec = make_spec(n_in, 6, 4, fanin, arch="folded", lanes=3, arith=arith, tunable=tunable,
                     pow2=arith == "shift", activation="relu", seed=7, in_beat=3, out_beat=2)
    assert input_banked(spec) == (n_in == 36)
    fixed = tunable != "all"
    a, b = perturbed(spec, 1, topology_fixed=fixed), perturbed(spec, 2, topology_fixed=fixed)
    X = np.random.default_rng(1).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                          (60, n_in))
    r = run_core(Layer(spec), spec, X, reprograms=[Reprogram(8, a), Reprogram(30, b)],
                 p_valid=0.6, p_ready=0.5, seed=3)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([spec, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


@pytest.mark.parametrize("arith,tunable,lanes,out_beat", [
    ("shared", "all", 4, 8), ("factored", "levels", 8, 2), ("shift", "all", 2, 1),
    ("multiply", "none", 4, 4)])
def test_banked_outputs_under_backpressure_and_reprogramming(arith, tunable, lanes, out_beat):
    """Results in two banks of a memory: random valid gaps and ready backpressure (a beat held
    for many clocks, both banks full at once), weight sets committed mid-stream, and 34 outputs
    (lanes with unequal slots where a row is a slot)."""
    spec = make_spec(24, 34 if out_beat == 2 else 32, 4, None,
                     arch="folded", lanes=lanes, arith=arith, tunable=tunable,
                     pow2=arith == "shift", activation="relu", seed=9, in_beat=4,
                     out_beat=out_beat)
    assert output_banked(spec)
    fixed = tunable != "all"
    sets = [spec] if tunable == "none" else [spec, perturbed(spec, 1, topology_fixed=fixed),
                                             perturbed(spec, 2, topology_fixed=fixed)]
    X = np.random.default_rng(4).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1,
                                          (40, spec.n_in))
    r = run_core(Layer(spec), spec, X,
                 reprograms=[Reprogram(6, sets[1]), Reprogram(25, sets[2])] if len(sets) > 1
                 else [], p_valid=0.7, p_ready=0.3, seed=5)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected(sets, X, r.generations))


def _beat_network(seed=4):
    """Three folded layers 6 -> 5 -> 4 -> 3 whose links use beats: 2 inputs a beat in, one
    element a beat between the first two layers, 2 between the last two, 3 (whole) out."""
    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored"),
                        ("folded", 3, "multiply")), seed=seed)
    a, b, c = net.layers
    return NetworkSpec(net.name, (_with(a, 2, 1), _with(b, 1, 2), _with(c, 2, 0)))


def test_network_chains_through_beats_and_commits_all():
    net = _beat_network()
    dut = Network(net)
    assert dut.info.in_beats == 3 and dut.info.out_beats == 1
    X = np.random.default_rng(0).integers(net.in_fmt.min_int, net.in_fmt.max_int + 1,
                                          (40, net.n_in))
    a = NetworkSpec(net.name, tuple(perturbed(la, 10 + i) for i, la in enumerate(net.layers)))
    b = NetworkSpec(net.name, tuple(perturbed(la, 20 + i) for i, la in enumerate(net.layers)))
    r = run_core(dut, net, X, reprograms=[Reprogram(5, a), Reprogram(20, b)])
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected([net, a, b], X, r.generations))
    assert set(r.generations) == {0, 1, 2}


def test_network_through_banked_outputs_and_inputs():
    """A 16 -> 32 -> 8 network whose link is 4 elements a beat: the first layer's results wait
    in output banks, the second layer's inputs in input banks; both sets committed mid-stream."""
    a = make_spec(16, 32, 4, None, arch="folded", lanes=4, seed=11, name="fc0",
                  activation="relu", out_beat=4)
    b = make_spec(32, 8, 4, None, arch="folded", lanes=2, arith="factored", seed=12,
                  name="fc1", in_fmt=dataclasses.replace(a.out_fmt, rounding="floor",
                                                         saturate=True), in_beat=4)
    a = dataclasses.replace(a, out_fmt=dataclasses.replace(a.out_fmt, rounding="floor",
                                                           saturate=True))
    net = NetworkSpec("net", (a, b))
    assert output_banked(a) and input_banked(b)
    sets = [net] + [NetworkSpec("net", tuple(perturbed(la, 30 + 10 * k + i)
                                             for i, la in enumerate(net.layers)))
                    for k in range(2)]
    X = np.random.default_rng(6).integers(net.in_fmt.min_int, net.in_fmt.max_int + 1,
                                          (30, net.n_in))
    r = run_core(Network(net), net, X, reprograms=[Reprogram(4, sets[1]), Reprogram(17, sets[2])],
                 p_valid=0.6, p_ready=0.4, seed=8)
    assert len(r.outputs) == len(X)
    np.testing.assert_array_equal(r.outputs, expected(sets, X, r.generations))


def test_beat_rules_and_json():
    spec = make_spec(12, 6, 4, arch="folded", lanes=2, seed=1)
    with pytest.raises(SpecError, match="input beat of 5 elements does not divide the 12"):
        _with(spec, 5, 0)
    with pytest.raises(SpecError, match="output beat of 4 elements does not divide the 6"):
        _with(spec, 0, 4)
    par = make_spec(12, 6, 4, seed=1)
    with pytest.raises(SpecError, match="need a folded layer"):
        _with(par, 3, 0)
    with pytest.raises(SpecError, match="parallel and takes whole vectors"):
        with_beats(par, 3)
    assert _with(par, 12, 6).in_beat_size == 12  # a whole-vector beat is no beat
    net = _beat_network()
    x, y, z = net.layers
    with pytest.raises(SpecError, match="emits beats of 1 elements but the next layer"):
        NetworkSpec("n", (x, _with(y, 5, 2), z))
    # beats round-trip through JSON; a spec without them writes no beat keys (old specs read
    # and hash as before)
    beat = _with(spec, 3, 2)
    assert spec_from_json(spec_to_json(beat)) == beat
    assert "in_beat" not in dumps_spec(spec) and "in_beat" in dumps_spec(beat)
    again = spec_from_json(spec_to_json(net))
    assert isinstance(again, NetworkSpec) and again == net
    # with_beats sets the network's first input and last output only
    nb = with_beats(net, in_beat=3, out_beat=1)
    assert [la.arch.in_beat for la in nb.layers] == [3, 1, 2]
    assert [la.arch.out_beat for la in nb.layers] == [1, 2, 1]
    assert isinstance(with_beats(beat, 4), LayerSpec)


def _hidden_net(n_hidden, tunable="levels"):
    a = make_spec(24, n_hidden, 8, arch="folded", lanes=1, activation="relu", seed=21,
                  name="fc1", tunable=tunable)
    b = make_spec(n_hidden, 6, 8, arch="folded", lanes=1, seed=22, name="fc2",
                  tunable=tunable, in_fmt=dataclasses.replace(a.out_fmt, rounding="floor",
                                                               saturate=True))
    a = dataclasses.replace(a, out_fmt=dataclasses.replace(a.out_fmt, rounding="floor",
                                                           saturate=True))
    return NetworkSpec("net", (a, b))


def test_auto_folding_banks_the_link_and_stays_exact():
    """Auto-folding puts a link both sides can bank (here 32 elements of 8 bits) in beats:
    the first layer's results wait in output banks, the next layer's inputs in input banks,
    the beat keeps pace with the layers, and the network is exact with a commit mid-stream."""
    from lognet.hw.plan import auto_folded, plan

    net = _hidden_net(32, "all")
    folded, found = auto_folded(net, "ice40-up5k", dsp=True)
    assert found.ok
    a, b = folded.layers
    k = a.out_beat_size
    assert k == b.in_beat_size and k < a.n_out and a.n_out % k == 0
    assert a.n_out // k + 1 <= found.plan.cycles_per_vector
    assert output_banked(a) and input_banked(b)
    # the same lanes with the link as a whole vector cost more flip-flops
    whole = NetworkSpec("net", (a.with_arch(dataclasses.replace(a.arch, out_beat=0)),
                                b.with_arch(dataclasses.replace(b.arch, in_beat=0))))
    assert plan(whole, "ice40-up5k", dsp=True).used["FF"] > found.plan.used["FF"]
    X = np.random.default_rng(3).integers(folded.in_fmt.min_int, folded.in_fmt.max_int + 1,
                                          (12, folded.n_in))
    sets = [folded, NetworkSpec("net", tuple(perturbed(la, 40 + i)
                                             for i, la in enumerate(folded.layers)))]
    r = run_core(Network(folded), folded, X, reprograms=[Reprogram(5, sets[1])],
                 p_valid=0.7, p_ready=0.5, seed=2)
    np.testing.assert_array_equal(r.outputs, expected(sets, X, r.generations))


def test_auto_folding_keeps_a_small_link_whole():
    """A link too small for banks (6 elements of 8 bits) stays one transfer: a beat there would
    only add a fill buffer."""
    from lognet.hw.plan import auto_folded

    net = _hidden_net(6)
    folded, found = auto_folded(net, "ice40-up5k", dsp=True)
    assert found.ok
    a, b = folded.layers
    assert a.out_beat_size == a.n_out and b.in_beat_size == b.n_in
