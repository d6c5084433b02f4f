"""The host driver against the board top's Verilog (core + bridge + UART) in Verilator and
Icarus, through a UART model in cocotb (lognet.boards.cocotb_link): the protocol end to end on
the RTL a board runs, with the same LognetDevice API as for a board or SimSerial.

Each simulator builds the top once (a module-scoped build root); the runs reuse it. The mutation
check corrupts one expected output by one and must fail, naming the output. Cores that take and
give their vectors in beats (a folded layer, a network) run through the same bench: the host
cannot tell them from whole-vector cores."""

import pytest
from support.specs import make_network

from lognet.hw.arch import resolve_spec
from lognet.hw.regmap import config_writes
from lognet.sim.board import run_board_sim

pytestmark = pytest.mark.cocotb
SIMS = ["verilator", "icarus"]
VECTORS = 3  # per weight set; two sets


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    """One build folder for the module: each simulator's build of the top is made once."""
    return tmp_path_factory.mktemp("board-sim")


@pytest.fixture(scope="module")
def spec():
    """A small two-layer network (fast to build and to drive through a 4-clock-per-bit UART)."""
    return make_network(seed=4)


def words_per_set(spec):
    """Register words one weight set takes: every register of the tier, whatever the set."""
    core = resolve_spec(spec)
    return len(config_writes(core, core))


@pytest.mark.parametrize("sim", SIMS)
def test_host_driver_through_uart(sim, spec, build_root):
    s = run_board_sim(spec, simulator=sim, vectors=VECTORS, build_dir=build_root)
    assert s.passed, s.error
    assert s.sets == 2 and s.vectors == 2 * VECTORS
    assert s.words == 2 * words_per_set(spec) and s.framing_errors == 0
    # a WRITE is 9 bytes (command, 32-bit address, 32-bit word), plus ID, READ, COMMIT, SEND
    assert s.bytes_sent > 9 * s.words and s.bytes_received > 0


@pytest.mark.parametrize("sim", SIMS)
def test_wrong_reference_fails(sim, spec, build_root):
    s = run_board_sim(spec, simulator=sim, vectors=2, build_dir=build_root,
                      corrupt_reference=True)
    assert not s.passed, s
    assert s.error.startswith("weight set 0, vector 0, output 0: expected "), s.error
    assert s.sets == 0 and s.words == words_per_set(spec)  # the first set was loaded


@pytest.mark.parametrize("sim", SIMS)
def test_beats_through_uart(sim, beat_spec, build_root):
    s = run_board_sim(beat_spec, simulator=sim, vectors=VECTORS, build_dir=build_root)
    assert s.passed, s.error
    assert s.sets == 2 and s.vectors == 2 * VECTORS
    assert s.words == 2 * words_per_set(beat_spec) and s.framing_errors == 0


@pytest.mark.parametrize("sim", SIMS)
def test_beats_wrong_reference_fails(sim, beat_spec, build_root):
    s = run_board_sim(beat_spec, simulator=sim, vectors=2, build_dir=build_root,
                      corrupt_reference=True)
    assert not s.passed, s
    assert s.error.startswith("weight set 0, vector 0, output 0: expected "), s.error
