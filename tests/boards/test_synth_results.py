"""The synthesis result records: exact JSON round trips in the shape synth.json has, and path
relocation."""

import json

import pytest

from lognet.boards.results import CellCounts, SynthResult

SYNTH = {
    "kind": "synth", "target": "ice40-up5k", "family": "ice40", "device": "iCE40UP5K",
    "package": "SG48", "clock_mhz": 48.0, "dsp_allowed": False, "seed": 1, "mapper": "abc9",
    "status": "timing_failed", "reason": "ERROR: Max frequency for clock 'clk': 40.34 MHz",
    "wrapped": True, "wrapper_note": "out of context: ...",
    "cells": {
        "core": {"lut4": 7, "ff": 3, "carry": 2, "dsp": 0, "bram": 0, "spram": 0},
        "wrapper": {"lut4": 10, "ff": 40, "carry": 0, "dsp": 0, "bram": 0, "spram": 0},
        "total": {"lut4": 17, "ff": 43, "carry": 2, "dsp": 0, "bram": 0, "spram": 0, "io": 10,
                  "logic_cells": 50},
    },
    "cells_by_type": {"core": {"SB_LUT4": 7, "SB_DFFE": 3, "SB_CARRY": 2},
                      "wrapper": {"SB_LUT4": 10, "SB_DFF": 40}},
    "utilisation": {"ICESTORM_LC": {"used": 50, "available": 5280},
                    "SB_IO": {"used": 10, "available": 39}},
    "timing": {"met": False, "fmax_mhz": 40.34,
               "clocks": {"clk": {"fmax_mhz": 40.34, "constraint_mhz": 48.0, "met": False}}},
    "steps": [{"step": "elaborate", "seconds": 0.1},
              {"step": "yosys", "seconds": 1.5, "log": "yosys.log"},
              {"step": "nextpnr", "seconds": 2.25, "log": "nextpnr.log"}],
    "wall_seconds": 3.85,
    "files": {"rtlil": "lognet_ooc.il", "yosys_script": "synth.ys", "stat": "stat.json",
              "netlist": "netlist.json", "nextpnr_report": "report.json"},
    "core": {"n_in": 6, "n_out": 3, "in_width": 8, "out_width": 12, "addr_width": 4},
}

BOARD = {
    "kind": "board", "board": "ulx3s", "family": "ecp5", "clock_mhz": 25.0, "baud": 115200,
    "wrapped": False, "top": "lognet_top",
    "commands": [["yosys", "-q", "-l", "lognet_top.rpt", "lognet_top.ys"],
                 ["nextpnr-ecp5", "--85k", "--report", "lognet_top.report.json"],
                 ["ecppack", "lognet_top.config", "lognet_top.bit"]],
    "program": "openFPGALoader -b ulx3s /tmp/run-x/lognet_top.bit",
    "status": "ok", "reason": "",
    "cells": {
        "core": {"lut4": 5, "ff": 6, "carry": 1, "dsp": 2, "bram": 1, "lutram": 4, "widemux": 3},
        "bridge": {"lut4": 50, "ff": 60, "carry": 4, "dsp": 0, "bram": 0, "lutram": 0,
                   "widemux": 0},
        "total": {"lut4": 55, "ff": 66, "carry": 5, "dsp": 2, "bram": 1, "lutram": 4,
                  "widemux": 3, "io": 3, "logic_cells": 80},
    },
    "cells_by_type": {"core": {"LUT4": 5}, "bridge": {"LUT4": 50}},
    "utilisation": {"TRELLIS_COMB": {"used": 80, "available": 83640}},
    "timing": {"met": True, "fmax_mhz": 90.5,
               "clocks": {"clk25": {"fmax_mhz": 90.5, "constraint_mhz": 25.0, "met": True}}},
    "steps": [{"step": "yosys", "seconds": 3.0, "log": "yosys.log"},
              {"step": "nextpnr", "seconds": 9.0, "log": "nextpnr.log"},
              {"step": "pack", "seconds": 1.0, "log": "pack.log"}],
    "wall_seconds": 13.0,
    "files": {"bitstream": "lognet_top.bit", "stat": "lognet_top.stat.json",
              "nextpnr_report": "lognet_top.report.json", "nextpnr_log": "lognet_top.tim",
              "yosys_log": "lognet_top.rpt"},
}

PLANNED = {k: BOARD[k] for k in ("kind", "board", "family", "clock_mhz", "baud", "wrapped",
                                 "top", "commands", "program")}
PLANNED.update(status="planned", reason="", steps=[])


@pytest.mark.parametrize("doc", [SYNTH, BOARD, PLANNED], ids=["synth", "board", "planned"])
def test_round_trip_exact(doc):
    r = SynthResult.from_json(json.loads(json.dumps(doc)))
    assert r.to_json() == doc                               # the file's shape, key for key
    assert SynthResult.from_json(r.to_json()) == r          # and the record, field for field
    assert json.loads(json.dumps(r.to_json())) == doc       # plain JSON types only


def test_typed_access():
    r = SynthResult.from_json(SYNTH)
    assert r.cells.core == CellCounts(lut4=7, ff=3, carry=2, spram=0)
    assert r.cells.total.logic_cells == 50 and r.cells.core.logic_cells is None
    assert list(r.cells.parts()) == ["core", "wrapper", "total"]
    assert r.fmax_mhz == 40.34 and r.met is False and r.head == "ice40-up5k"
    assert r.utilisation["ICESTORM_LC"].used == 50
    assert r.step_seconds() == {"elaborate": 0.1, "yosys": 1.5, "nextpnr": 2.25}
    b = SynthResult.from_json(BOARD)
    assert b.cells.bridge.lut4 == 50 and b.cells.wrapper is None and b.core is None
    assert b.commands[0][0] == "yosys"


def test_a_changed_field_is_a_different_record():
    doc = json.loads(json.dumps(SYNTH))
    doc["cells"]["core"]["lut4"] += 1
    assert SynthResult.from_json(doc) != SynthResult.from_json(SYNTH)


def test_relocated_moves_paths_only():
    b = SynthResult.from_json(BOARD)
    moved = b.relocated("/tmp/run-x", "/out/board")
    assert moved.program == "openFPGALoader -b ulx3s /out/board/lognet_top.bit"
    assert moved.cells == b.cells and moved.files == b.files
    assert b.program.startswith("openFPGALoader -b ulx3s /tmp/run-x")  # the original is kept
