"""The testbench pieces that need no simulator: packing, transactions, the reference wrapper, the
scoreboard's report, the weight sets the scenarios load, and the runner's input checks."""

import random

import numpy as np
import pytest
from support.specs import make_network, make_spec

from lognet.base.errors import InputError, ToolFailure
from lognet.hw.arch import resolve_arch
from lognet.hw.regmap import config_writes
from lognet.model.reference import reference, reference_acc
from lognet.sim import build as simbuild
from lognet.sim.results import SimResult
from lognet.sim.runner import _scenarios, run_sim, summary_text
from lognet.sim.scoreboard import Mismatch, RefModel, Scoreboard, corrupt_levels
from lognet.sim.stream import Transfer, bursts, gaps, pack, unpack
from lognet.sim.weightsets import extreme_inputs, extreme_sets, perturbed_weights


def test_pack_unpack_roundtrip():
    rng = np.random.default_rng(0)
    for width, signed in [(8, True), (8, False), (1, False), (13, True)]:
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        v = rng.integers(lo, hi + 1, 17).tolist() + [lo, hi]
        word = pack(v, width)
        assert 0 <= word < 1 << (width * len(v))
        assert unpack(word, len(v), width, signed) == tuple(v)
    # element i at bits [i*w +: w], two's complement
    assert pack([-1, 2], 4) == 0x2F


def test_transfer_equality_ignores_the_cycle():
    assert Transfer(5, cycle=3) == Transfer(5, cycle=9)
    assert Transfer(5, cycle=3) != Transfer(6, cycle=3)


def test_pause_generators():
    rng = random.Random(0)
    g = gaps(0.5, rng)
    n = [next(g) for _ in range(4000)]
    assert min(n) == 0 and 0.8 < np.mean(n) < 1.2  # geometric, mean (1-p)/p = 1
    assert next(gaps(1.0, rng)) == 0
    b = bursts(0.3, rng, longest=10)
    r = [next(b) for _ in range(20000)]
    assert 0.2 < np.mean(r) < 0.4
    runs = np.diff(np.flatnonzero(np.diff(np.asarray(r, int)))).max()
    assert runs >= 10  # long stalls come in runs


def test_scoreboard_reports_the_first_mismatch():
    spec = make_spec(5, 3, 4, 5, seed=1)
    X = np.random.default_rng(0).integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (6, 5))
    model = RefModel([spec], X)
    board = Scoreboard(model, top="lognet_layer", layer="layer", scenario="random")
    exp = reference(spec, X)
    w = spec.out_fmt.width
    for v in range(6):
        board.expect(v, v, 0, cycle=10 + v)
    assert board.check(Transfer(pack(exp[0], w), 20))
    bad = exp[1].copy()
    bad[2] += 1
    bad[1] -= 1
    assert not board.check(Transfer(pack(bad, w) & ((1 << (3 * w)) - 1), 21))
    assert exp[2].any()  # so an all-zero word is wrong for vector 2
    assert not board.check(Transfer(0, 22))
    m = board.first
    assert isinstance(m, Mismatch)
    assert (m.vector, m.output, m.actual, m.cycle) == (1, 1, int(exp[1][1]) - 1, 21)
    assert m.expected == int(exp[1][1])
    text = m.describe()
    assert "lognet_layer (layer layer), scenario random" in text
    assert f"vector 1, output 1: expected {exp[1][1]}, got {exp[1][1] - 1}" in text
    assert "clock cycle 21" in text
    assert board.checked == 3 and board.mismatches == 2
    assert board.flush() == 3 and board.dropped == 3
    # an output nobody asked for
    assert not board.check(Transfer(1, 30))
    assert board.first is m  # still the first one


def test_corrupted_reference_differs_by_one_lsb_of_one_level():
    spec = make_spec(6, 4, 4, 6, seed=5, out_bits=16)
    lv = corrupt_levels(spec)
    diff = [a - b for a, b in zip(lv, spec.levels)]
    # the largest level some connection uses (here the top one, 51) moves down by one LSB
    assert max(spec.flat["index"]) == spec.K - 1 and spec.levels[-1] > 0
    assert diff == [0, 0, 0, -1]
    X = np.random.default_rng(1).integers(-128, 128, (40, 6))
    good, bad = RefModel([spec], X), RefModel([spec], X, corrupt=True)
    assert not np.array_equal(good.outputs(0), bad.outputs(0))


ARITH_TIERS = [("parallel", 1, a, t) for a in ("shared", "factored", "shift", "multiply")
               for t in ("all", "levels", "none") if not (a == "multiply" and t == "levels")]


@pytest.mark.parametrize("arch,lanes,arith,tunable", ARITH_TIERS)
def test_weight_sets_load_into_the_build(arch, lanes, arith, tunable):
    """Every set a scenario loads is a valid spec the register map can write into the core
    built from the original (same topology, within the tier, shift-encodable levels)."""
    spec = resolve_arch(make_spec(6, 4, 4, 5, arch=arch, lanes=lanes, arith=arith,
                                  tunable=tunable, pow2=arith == "shift", seed=2))
    sets = [perturbed_weights(spec, 1), perturbed_weights(spec, 2, levels_only=True)]
    sets += [s for _, s in extreme_sets(spec)]
    assert len(sets) == (2 if tunable == "none" else 4)
    for s in sets:
        # raises when the build cannot hold the set; writes every register of the tier
        addrs = [a for a, _ in config_writes(spec, s)]
        assert addrs == [a for a, _ in config_writes(spec, spec)]
        # levels (none for multiply, which stores plain weights) and biases, plus the
        # connections when they are writable
        n_levels = 0 if arith == "multiply" else spec.K
        n_words = {"all": n_levels + spec.n_out + spec.n_conn, "levels": n_levels + spec.n_out,
                   "none": 0}[tunable]
        assert len(addrs) == n_words, addrs
        if tunable == "none":
            assert s == spec
    if tunable != "none":
        assert sets[0] != spec and sets[1].signs == spec.signs


def test_extreme_sets_reach_the_accumulator_bounds():
    """All-max inputs under the largest levels with all-positive signs and the largest bias
    reach the top of the derived accumulator range; all-min inputs give the bottom."""
    spec = resolve_arch(make_spec(6, 3, 4, 6, arith="multiply", seed=3))
    (_, pos), (_, neg) = extreme_sets(spec)
    X = extreme_inputs(spec)
    lo, hi = spec.acc_range
    assert reference_acc(pos, X[:2]).max() == pos.in_fmt.max_int * 6 * 63 + (
        pos.bias_fmt.max_int << pos.bias_shift)
    assert reference_acc(pos, X).max() <= hi and reference_acc(neg, X).min() >= lo
    assert reference_acc(neg, X[:1]).min() == -pos.in_fmt.max_int * 6 * 63 + (
        pos.bias_fmt.min_int << pos.bias_shift)
    assert reference_acc(pos, X[1:2]).min() == pos.in_fmt.min_int * 6 * 63 + (
        pos.bias_fmt.max_int << pos.bias_shift)


def test_extreme_sets_of_a_network():
    net = make_network(seed=1)
    sets = extreme_sets(net)
    assert [n for n, _ in sets] == ["max levels, positive signs", "max levels, negative signs"]
    for _, s in sets:
        assert all(set(sum(la.indices, ())) == {la.K - 1} for la in s.layers)


def test_scenario_names():
    assert _scenarios("all") == ["random", "extremes", "reprogram", "reset", "backpressure"]
    assert _scenarios("reset, random") == ["reset", "random"]
    with pytest.raises(InputError, match="unknown scenario nope"):
        _scenarios("random,nope")


def test_missing_simulators_are_one_clear_line(monkeypatch):
    monkeypatch.setattr(simbuild.shutil, "which", lambda name: None)
    with pytest.raises(ToolFailure, match="apt-get install iverilog"):
        simbuild.check_simulator("icarus")
    monkeypatch.setattr(simbuild, "_verilator_bin", lambda: None)
    with pytest.raises(ToolFailure, match="make setup"):
        simbuild.check_simulator("verilator")
    with pytest.raises(InputError, match="use verilator or icarus"):
        simbuild.check_simulator("modelsim")


def test_run_sim_rejects_bad_input(tmp_path):
    spec = make_spec(3, 2, 2, 3)
    with pytest.raises(InputError, match="vectors"):
        run_sim(spec, vectors=0, build_dir=tmp_path)
    with pytest.raises(InputError, match="unknown scenario"):
        run_sim(spec, scenario="bogus", build_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-built


def test_summary_text():
    s = SimResult(passed=False, top="lognet_x", simulator="icarus", scenarios=("random",),
                  checked=10, mismatches=2, dropped_by_reset=0, commits=0,
                  vectors_per_second=1234.5, cycles=99, sim_seconds=0.01, build_seconds=1.0,
                  build_cached=True, run_seconds=2.0,
                  first_mismatch="lognet_x: first mismatch", first_mismatch_detail=None,
                  error=None, waves=None, build_dir="b", run_dir="r", per_scenario={})
    text = summary_text(s)
    assert text.startswith("FAIL  lognet_x in icarus")
    assert "1,234 vectors/s" in text and "(cached)" in text and "first mismatch" in text
