"""Tier 3: cocotb on the exported Verilog, in Verilator and Icarus, bit-exact against the
integer reference: random vectors with valid gaps and ready backpressure, reprogramming during
the stream, a reset in the middle, extremes (all-max, all-min inputs), and the mutation check."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "hw"))
from lognet.sim.runner import run_sim
from specs import make_network, make_spec

pytestmark = pytest.mark.cocotb
SIMS = ["verilator", "icarus"]

CASES = {
    "parallel-shared": lambda: make_spec(7, 4, 4, 6, arith="shared", activation="relu", seed=1),
    "folded-factored": lambda: make_spec(6, 5, 4, 6, arch="folded", lanes=2, arith="factored",
                                         seed=2),
    "parallel-shift": lambda: make_spec(6, 3, 4, 4, arith="shift", pow2=True, seed=3,
                                        rounding="half_up"),
    "folded-multiply": lambda: make_spec(5, 4, 4, 3, arch="folded", lanes=3, arith="multiply",
                                         seed=4, saturate=False, rounding="floor"),
    "network": lambda: make_network(seed=5),
}


@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cocotb")


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", CASES)
def test_stream_reprogram_reset(build_root, case, sim):
    s = run_sim(CASES[case](), simulator=sim, vectors=150, seed=7, build_dir=build_root,
                reprogram=True, reset=True, p_valid=0.7, p_ready=0.6)
    assert s["passed"], s
    assert s["mismatches"] == 0 and s["first_mismatch"] is None
    assert s["reprogrammed"]
    assert 0 < s["checked"] <= 150  # vectors inside at the reset are dropped by design


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("case", ["parallel-shared", "network"])
def test_mutation_is_caught(build_root, case, sim):
    """A reference with one level off by one LSB must fail, naming the first divergence."""
    s = run_sim(CASES[case](), simulator=sim, vectors=60, seed=3, build_dir=build_root,
                reprogram=False, corrupt_reference=True)
    assert not s["passed"]
    assert s["mismatches"] > 0
    assert "vector" in s["first_mismatch"] and "output" in s["first_mismatch"]
    assert "expected" in s["first_mismatch"]


def test_missing_simulator_message(monkeypatch):
    from lognet.model.errors import InputError
    from lognet.sim import runner

    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="apt-get install iverilog"):
        runner.check_simulator("icarus")


@pytest.mark.parametrize("sim", SIMS)
def test_wishbone_front(build_root, sim):
    """Weights reprogrammed through the Wishbone B4 classic front while the stream runs."""
    s = run_sim(CASES["folded-factored"](), simulator=sim, vectors=80, seed=9,
                build_dir=build_root, reprogram=True, wishbone=True)
    assert s["passed"], s
    assert s["wishbone"] and s["reprogrammed"] and s["checked"] == 80
