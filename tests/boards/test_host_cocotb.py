"""The host driver against the board top's Verilog (core + bridge + UART) in Verilator and
Icarus, through a UART model in cocotb: the protocol end to end on the RTL a board runs."""

import sys
from pathlib import Path

import pytest
from lognet.sim.board import run_board_sim

sys.path.insert(0, str(Path(__file__).parents[1] / "hw"))
from specs import make_network  # noqa: E402


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("board-sim")


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_host_driver_through_uart(sim, build_root):
    s = run_board_sim(make_network(seed=4), simulator=sim, vectors=3, build_dir=build_root)
    assert s["passed"], s["error"]
    assert s["vectors"] == 6 and s["words"] > 0 and s["bytes_sent"] > 9 * s["words"]


def test_wrong_reference_fails(build_root):
    s = run_board_sim(make_network(seed=4), simulator="icarus", vectors=2, build_dir=build_root,
                      corrupt_reference=True)
    assert not s["passed"] and "expected" in s["error"], s
