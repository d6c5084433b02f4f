"""Board builds: the plan without tools, and real bitstreams (marked ``synth``)."""

import json
import sys

import pytest

from lognet.base.errors import InputError
from lognet.boards.build import BOARDS, board_plan, build_board
from lognet.boards.report import format_table
from lognet.boards.results import SynthResult


@pytest.fixture
def core(adder_core):
    return lambda: adder_core(n_in=4, n_out=3, in_width=8, out_width=12)


@pytest.mark.parametrize("board, pins, tools", [
    ("icebreaker", "lognet_top.pcf", ["yosys", "nextpnr-ice40", "icepack"]),
    ("ulx3s", "lognet_top.lpf", ["yosys", "nextpnr-ecp5", "ecppack"]),
])
def test_plan_without_tools(board, pins, tools, core, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    plan = board_plan(core, board)
    assert pins in plan.files and "lognet_top.il" in plan.files
    script = plan.files["lognet_top.ys"]
    assert "keep_hierarchy 1 lognet_top.uart_top.core" in script and "splitnets" in script
    assert "stat -json" in script
    assert "\\lognet_top.uart_top.core" in plan.files["lognet_top.il"]
    r = build_board(core, board, tmp_path / "out", run=False)
    assert r.status == "planned" and r.kind == "board" and r.cells is None
    assert [c[0] for c in r.commands] == tools
    assert any("--report" in c for c in r.commands)
    assert (tmp_path / "out" / pins).exists()
    assert r.program.endswith(".bin" if board == "icebreaker" else ".bit")
    assert SynthResult.from_json(r.to_json()) == r


def test_board_clocks():
    assert BOARDS["icebreaker"].clock_mhz == 12
    assert BOARDS["ulx3s"].clock_mhz == 25


def test_bad_board_and_baud(core, tmp_path):
    with pytest.raises(InputError, match="unknown board"):
        board_plan(core, "arty")
    with pytest.raises(InputError, match="baud"):
        board_plan(core, "icebreaker", baud=4_000_000)


@pytest.mark.synth
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_real_bitstream(board, core, tmp_path):
    r = build_board(core, board, tmp_path)
    assert r.status == "ok", format_table(r)
    bit = tmp_path / r.files.bitstream
    assert bit.stat().st_size > 1000
    assert r.timing.met and r.timing.fmax_mhz >= BOARDS[board].clock_mhz
    assert r.cells.core.lut4 > 0 and r.cells.bridge.lut4 > 0
    assert r.cells.total.lut4 == r.cells.core.lut4 + r.cells.bridge.lut4
    assert [s.step for s in r.steps] == ["yosys", "nextpnr", "pack"]
    assert SynthResult.from_json(json.loads((tmp_path / "build.json").read_text())) == r
    assert str(bit) in r.program
