"""Tier 5: bulk comparison. Whole data sets through the core's Verilog in Verilator and Icarus
with no Python in the clock loop: random valid gaps and ready backpressure, weight sets loaded
and committed between vectors, every output compared exactly; a corrupted reference must fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.specs import make_network, make_spec, perturbed

from lognet.base.errors import InputError
from lognet.model.reference import reference
from lognet.sim.bulk import run_bulk

SIMS = ["verilator", "icarus"]
CASES = {
    "parallel-shared": lambda: make_spec(7, 4, 4, 6, arith="shared", activation="relu", seed=1),
    "folded-factored": lambda: make_spec(6, 5, 4, 6, arch="folded", lanes=2, arith="factored",
                                         seed=2),
    "network": lambda: make_network(seed=5),
    # narrow streams: 4 beats of 3 inputs in, 3 beats of 2 outputs out (pruned: a position ROM)
    "folded-beats": lambda: make_spec(12, 6, 4, 5, arch="folded", lanes=3, arith="shared",
                                      seed=8, in_beat=3, out_beat=2),
    # one copy of the connection words: the script pauses the core before writing them
    "folded-single-copy": lambda: _single(make_spec(12, 6, 4, arch="folded", lanes=3, seed=9)),
    "network-single-copy": lambda: _single_net(),
}


def _single(spec):
    import dataclasses

    return spec.with_arch(dataclasses.replace(spec.arch, single_copy=True))


def _single_net():
    """Two folded layers, the second with one copy of its connection words."""
    from lognet.model.spec import NetworkSpec

    net = make_network((("folded", 2, "shared"), ("folded", 2, "factored")), seed=10)
    return NetworkSpec(net.name, (net.layers[0], _single(net.layers[1])))


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("bulk-builds")


def _inputs(spec, n, seed=0):
    f = spec.in_fmt
    return np.random.default_rng(seed).integers(f.min_int, f.max_int + 1, (n, spec.n_in))


def _other(spec, seed):
    if hasattr(spec, "layers") and len(spec.layers) > 1:
        from lognet.model.spec import NetworkSpec

        return NetworkSpec(spec.name, tuple(perturbed(la, seed + i)
                                            for i, la in enumerate(spec.layers)))
    return perturbed(spec, seed)


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bulk_is_bit_exact_across_reprogramming(build_root, case, sim):
    spec = CASES[case]()
    X = _inputs(spec, 300)
    a, b = _other(spec, 1), _other(spec, 2)
    r = run_bulk(spec, X, simulator=sim, build_dir=build_root, sets=[(90, a), (210, b)],
                 p_valid=0.7, p_ready=0.6, seed=3)
    assert r.error is None and r.passed, r.first_mismatch
    expected = np.concatenate([reference(spec, X[:90]), reference(a, X[90:210]),
                               reference(b, X[210:])])
    np.testing.assert_array_equal(r.outputs, expected)
    assert r.commits == 2 and r.checked == 300
    assert r.per_scenario["bulk"].vectors_per_set == (90, 120, 90)
    # the weight sets really differ where they are used
    assert not np.array_equal(reference(spec, X[90:210]), expected[90:210])


@pytest.mark.parametrize("sim", SIMS)
def test_a_corrupted_reference_fails_and_is_named(build_root, sim):
    spec = CASES["parallel-shared"]()
    X = _inputs(spec, 40, seed=4)
    r = run_bulk(spec, X, simulator=sim, build_dir=build_root, corrupt=True)
    assert not r.passed and r.mismatches == 1
    m = r.first_mismatch_detail
    assert (m.vector, m.output) == (20, 0)
    assert m.actual == reference(spec, X)[20, 0] and m.expected == m.actual + 1
    np.testing.assert_array_equal(r.outputs, reference(spec, X))


@pytest.mark.parametrize("sim", SIMS)
def test_waves_cover_the_asked_window_only(build_root, sim):
    """A waveform of 4 vectors from vector 30 is written and is smaller than one of the whole
    run; the outputs are unchanged by it."""
    spec = CASES["parallel-shared"]()
    X = _inputs(spec, 80, seed=6)
    part = run_bulk(spec, X, simulator=sim, build_dir=build_root, p_valid=0.7, p_ready=0.6,
                    waves=True, waves_from=30, waves_vectors=4)
    whole = run_bulk(spec, X, simulator=sim, build_dir=build_root, p_valid=0.7, p_ready=0.6,
                     waves=True, waves_from=0, waves_vectors=80)
    assert part.passed and whole.passed
    np.testing.assert_array_equal(part.outputs, reference(spec, X))
    a, b = Path(part.waves), Path(whole.waves)
    assert a.suffix in (".fst", ".vcd") and a.stat().st_size > 0
    assert a.stat().st_size < b.stat().st_size / 2
    if a.suffix == ".vcd":  # the window starts after reset, not at time 0
        times = [int(ln[1:]) for ln in a.read_text().splitlines() if ln.startswith("#")]
        assert times[0] > 0 and len(times) < 2 * 40
    with pytest.raises(InputError, match="waveform window"):
        run_bulk(spec, X, simulator=sim, build_dir=build_root, waves=True, waves_from=80)


@pytest.mark.parametrize("sim", SIMS)
def test_progress_bar_follows_the_outputs(build_root, sim, capsys):
    spec = CASES["parallel-shared"]()
    X = _inputs(spec, 400, seed=7)
    r = run_bulk(spec, X, simulator=sim, build_dir=build_root, progress=True)
    assert r.passed
    assert f"{sim} bulk" in capsys.readouterr().err


def test_bad_inputs_are_one_line_before_any_build(tmp_path):
    spec = CASES["parallel-shared"]()
    with pytest.raises(InputError, match=r"inputs: inputs have shape \(3, 5\), expected"):
        run_bulk(spec, np.zeros((3, 5), int), simulator="icarus", build_dir=tmp_path)
    with pytest.raises(InputError, match="outside the input format"):
        run_bulk(spec, np.full((3, 7), 10**6), simulator="icarus", build_dir=tmp_path)
    with pytest.raises(InputError, match="no vectors"):
        run_bulk(spec, np.zeros((0, 7), int), simulator="icarus", build_dir=tmp_path)
    with pytest.raises(InputError, match="p_valid must be in"):
        run_bulk(spec, _inputs(spec, 3), simulator="icarus", build_dir=tmp_path, p_valid=0)
    assert list(tmp_path.iterdir()) == []


def test_a_simulator_build_failure_is_one_line_exit_1(tmp_path, monkeypatch, capsys):
    """A testbench the simulator cannot build: the tool's last error and where its log is,
    exit 1 (not the input's fault), no traceback."""
    import lognet.sim.bulk as bulk
    from lognet.cli import main
    from lognet.model.specjson import dump_spec

    spec = CASES["parallel-shared"]()
    dump_spec(spec, tmp_path / "s.json")
    monkeypatch.setattr(bulk, "verilog_for", lambda sim, text: text + "\nmodule broken(;\n")
    code = main(["sim", str(tmp_path / "s.json"), "--bulk", "--simulator", "icarus",
                 "--vectors", "5", "--build-dir", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert "the icarus build of the bulk testbench failed" in err and "build.log" in err
    assert "Traceback" not in err
