"""Tier 3: cocotb on the exported Verilog, in Verilator and Icarus, bit-exact against the integer
reference. Every case runs all scenarios of lognet.sim.scenarios in one simulation: random
vectors with valid gaps and ready backpressure, extremes loaded through the bus, reprogramming
mid-stream and between vectors, a reset mid-stream, and a long bursty-backpressure run. The
mutation check proves the bench can fail and names the first diverging output.

Builds are shared: every case builds once per simulator in a folder of the session's build root
(keyed by the core), and later runs of the same core reuse it.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from support.specs import make_network, make_spec

from lognet.model.reference import reference, reference_layer
from lognet.sim.build import fst_possible
from lognet.sim.results import SimResult
from lognet.sim.runner import run_sim
from lognet.sim.scoreboard import corrupt_levels

pytestmark = pytest.mark.cocotb
SIMS = ["verilator", "icarus"]

CASES = {
    "parallel-shared": lambda: make_spec(7, 4, 4, 6, arith="shared", activation="relu", seed=1),
    "folded-factored": lambda: make_spec(6, 5, 4, 6, arch="folded", lanes=2, arith="factored",
                                         seed=2),
    "parallel-shift-levels": lambda: make_spec(6, 3, 4, 4, arith="shift", pow2=True, seed=3,
                                               rounding="half_up", tunable="levels"),
    # tunable=all shift: the commit walks the connections (active words hold level words)
    "parallel-shift-all": lambda: make_spec(5, 3, 4, 4, arith="shift", pow2=True, seed=6,
                                            activation="relu"),
    "folded-multiply": lambda: make_spec(5, 4, 4, 3, arch="folded", lanes=3, arith="multiply",
                                         seed=4, saturate=False, rounding="floor"),
    "network": lambda: make_network(seed=5),
    # narrow streams: 3 beats of 4 inputs in, 3 beats of 2 outputs out; a reset in the middle
    # of a vector's beats restarts it
    "folded-beats": lambda: make_spec(12, 6, 4, arch="folded", lanes=3, arith="shared",
                                      activation="relu", seed=8, in_beat=4, out_beat=2),
    "network-beats": lambda: _beat_network(),
    # one copy of the connection words: every load pauses the core first
    "folded-single-copy": lambda: _single(make_spec(8, 5, 4, arch="folded", lanes=2, seed=12,
                                                    activation="relu")),
    # wide streams in beats: inputs in two banks of a memory, results in two banks of a memory
    # (a row a slot of 8 lanes, two beats of 4 a row), one copy of the connection words
    "folded-banked": lambda: _single(make_spec(32, 32, 4, arch="folded", lanes=8, seed=13,
                                               activation="relu", in_beat=8, out_beat=4)),
}


def _single(spec):
    import dataclasses

    return spec.with_arch(dataclasses.replace(spec.arch, single_copy=True))


def _beat_network():
    """Two folded layers 6 -> 5 -> 4 chained one element a beat, taking 3 beats of 2 in."""
    import dataclasses

    from lognet.model.spec import NetworkSpec

    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored")), seed=9)
    a, b = net.layers
    return NetworkSpec(net.name, (
        a.with_arch(dataclasses.replace(a.arch, in_beat=2, out_beat=1)),
        b.with_arch(dataclasses.replace(b.arch, in_beat=1, out_beat=2))))


@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    """One build root for the whole session, shared by the xdist workers (a lock in the runner
    keeps two workers from building the same core at once)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / "cocotb-builds"
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", CASES)
def test_all_scenarios(build_root, case, sim):
    s = run_sim(CASES[case](), simulator=sim, vectors=120, seed=7, build_dir=build_root,
                scenario="all", p_valid=0.7, p_ready=0.6)
    assert s.error is None, s.error
    assert s.passed and s.mismatches == 0 and s.first_mismatch is None, s
    per = s.per_scenario
    assert set(per) == {"random", "extremes", "reprogram", "reset", "backpressure"}
    for name, r in per.items():
        assert r.checked + r.dropped_by_reset == r.vectors == r.accepted, name
    # the stream really ran under every weight set: 4 in reprogram, 3 in extremes and reset
    assert all(n > 0 for n in per["reprogram"].vectors_per_set), per["reprogram"]
    assert len(per["reprogram"].vectors_per_set) == 4
    assert all(n > 0 for n in per["extremes"].vectors_per_set), per["extremes"]
    assert len(per["extremes"].vectors_per_set) == 3
    assert all(n > 0 for n in per["reset"].vectors_per_set), per["reset"]
    assert per["reset"].dropped_by_reset > 0  # the reset hit vectors in flight
    assert s.checked == sum(r.checked for r in per.values())
    # the run folder's summary.json is the record, exactly
    saved = json.loads((Path(s.run_dir) / "summary.json").read_text())
    assert SimResult.from_json(saved) == s and saved == s.to_json()


def _first_divergence(spec, X):
    """(vector, output, expected, actual) where the corrupted reference first disagrees."""
    good = reference(spec, X)
    layers = (spec,) if not hasattr(spec, "layers") else spec.layers
    bad = reference_layer(layers[0], X, levels=corrupt_levels(layers[0]))
    for layer in layers[1:]:
        bad = reference_layer(layer, bad)
    i, j = np.argwhere(good != bad)[0]
    return int(i), int(j), int(bad[i, j]), int(good[i, j])


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", ["parallel-shared", "network"])
def test_mutation_is_caught(build_root, case, sim):
    """A reference with one level off by one LSB must fail, naming the first diverging output:
    the exact vector and output where the two references part."""
    s = run_sim(CASES[case](), simulator=sim, vectors=80, seed=3, build_dir=build_root,
                scenario="random", corrupt_reference=True)
    assert not s.passed
    assert s.mismatches > 0
    X = np.load(Path(s.run_dir) / "x.npy")
    from lognet.model.specjson import load_spec

    i, j, exp, act = _first_divergence(load_spec(Path(s.run_dir) / "spec.json"), X)
    d = s.first_mismatch_detail
    assert (d.vector, d.output, d.expected, d.actual) == (i, j, exp, act)
    assert f"vector {i}, output {j}: expected {exp}, got {act}" in s.first_mismatch
    assert s.top in s.first_mismatch and "clock cycle" in s.first_mismatch


@pytest.mark.parametrize("sim", SIMS)
def test_wishbone_front(build_root, sim):
    """Weights reprogrammed through the Wishbone B4 classic front while the stream runs."""
    s = run_sim(CASES["folded-factored"](), simulator=sim, vectors=80, seed=9,
                build_dir=build_root, scenario="reprogram,reset", wishbone=True)
    assert s.passed, s
    assert s.wishbone and s.top.endswith("_wb")
    assert s.per_scenario["reprogram"].checked == 80
    assert all(n > 0 for n in s.per_scenario["reprogram"].vectors_per_set)


@pytest.mark.parametrize("sim", SIMS)
def test_waves(build_root, sim):
    spec = make_spec(2, 2, 2, 2, seed=11, name="tiny")
    runs = [run_sim(spec, simulator=sim, vectors=10, seed=k, build_dir=build_root,
                    scenario="random", waves=True) for k in range(2)]
    for s in runs:
        assert s.passed, s
        assert s.waves is not None and Path(s.waves).stat().st_size > 0
        assert s.waves.endswith(".fst" if sim == "icarus" or fst_possible() else ".vcd")
    assert runs[0].waves != runs[1].waves
    # the second run of the same core reuses the build
    assert runs[1].build_cached and runs[1].build_seconds == 0
    assert runs[1].build_dir == runs[0].build_dir


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_given_inputs_come_back_as_outputs(build_root, sim):
    """The flow streams a test set and reads the hardware's outputs back (for accuracy)."""
    net = make_network(seed=2)
    X = np.random.default_rng(5).integers(net.in_fmt.min_int, net.in_fmt.max_int + 1,
                                          (30, net.n_in))
    s = run_sim(net, simulator=sim, inputs=X, scenario="random", build_dir=build_root)
    assert s.passed and s.checked == 30, s.first_mismatch
    np.testing.assert_array_equal(s.outputs, reference(net, X))


@pytest.fixture(scope="module")
def tuned_shift_levels():
    """The ``parallel-shift-levels`` core and a ``lognet tune`` result for it: levels and
    biases trained (on the core's powers of two) towards labels of another weight set."""
    from lognet.hw.arch import resolve_spec
    from lognet.model.tune import level_candidates, tune_network
    from lognet.sim.weightsets import perturbed_weights

    spec = CASES["parallel-shift-levels"]()
    f = spec.in_fmt
    X = np.random.default_rng(1).integers(f.min_int, f.max_int + 1, (200, spec.n_in))
    y = reference(perturbed_weights(resolve_spec(spec), 4, levels_only=True), X).argmax(1)
    r = tune_network(spec, X, y, epochs=4, batch=20, lr=0.05,
                     candidates=[level_candidates(resolve_spec(spec))])
    return spec, r.spec


@pytest.mark.parametrize("sim", SIMS)
def test_retune_mid_stream(build_root, tuned_shift_levels, sim):
    """A tuned set written mid-stream as only its changed level and bias words: every output
    equals the reference of the set that was active when its vector went in."""
    from lognet.boards.host import retune_writes, write_regions

    spec, tuned = tuned_shift_levels
    writes = retune_writes(spec, tuned)
    assert writes and {g["region"] for g in write_regions(spec, writes)} <= {"LEVELS", "BIAS"}
    s = run_sim(spec, simulator=sim, vectors=120, seed=5, build_dir=build_root,
                scenario="retune", weight_sets=[tuned], p_valid=0.7, p_ready=0.6)
    assert s.passed and s.mismatches == 0, s.first_mismatch or s.error
    r = s.per_scenario["retune"]
    assert r.checked == r.vectors == 120 and r.commits == 1
    assert r.bus_writes == len(writes) + 1  # only the changed words, and the commit
    assert len(r.vectors_per_set) == 2 and all(n > 0 for n in r.vectors_per_set)


@pytest.mark.parametrize("sim", SIMS)
def test_progress_follows_every_scenario(build_root, sim, capsys):
    """With progress on, the bench keeps a progress file up to date (the runner's bar reads
    it): its last state is the last scenario with every vector checked."""
    s = run_sim(CASES["parallel-shared"](), simulator=sim, vectors=80, seed=2,
                build_dir=build_root, scenario="random,reprogram", progress=True)
    assert s.passed, s.first_mismatch or s.error
    name, done, total = (Path(s.run_dir) / "progress.txt").read_text().split()
    assert name == "reprogram" and int(done) == int(total) == s.per_scenario[name].checked
    assert f"{sim} reprogram" in capsys.readouterr().err
