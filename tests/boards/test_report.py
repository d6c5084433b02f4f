"""Report parsing on recorded tool output (no tools run here)."""

from lognet.boards.report import (
    cell_summary,
    classify_nextpnr,
    format_table,
    module_cells,
    timing_summary,
)
from lognet.boards.results import (
    BelUse,
    CellCounts,
    Cells,
    ClockTiming,
    Step,
    SynthResult,
    Timing,
)

TIMING_FAIL_LOG = """\
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 41.20 MHz (FAIL at 2000.00 MHz)
Info: Program finished normally.
ERROR: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 40.34 MHz (FAIL at 2000.00 MHz)
1 warning, 1 error
"""

NO_FIT_LOG = """\
ERROR: Unable to place cell 'core.x_SB_DFFE_Q_DFFLC', no BELs remaining to implement cell type \
'ICESTORM_LC'
1 warning, 1 error
"""


def test_timing_failure_is_a_verdict_not_a_crash():
    report = {"fmax": {"clk": {"achieved": 40.34, "constraint": 2000}}}
    assert classify_nextpnr(1, TIMING_FAIL_LOG, report)[0] == "timing_failed"
    t = timing_summary(report, TIMING_FAIL_LOG, 2000)
    assert t == Timing(met=False, fmax_mhz=40.34,
                       clocks={"clk": ClockTiming(fmax_mhz=40.34, constraint_mhz=2000.0,
                                                  met=False)})
    assert t.to_json() == {"met": False, "fmax_mhz": 40.34, "clocks": {
        "clk": {"fmax_mhz": 40.34, "constraint_mhz": 2000.0, "met": False}}}


def test_timing_from_log_when_report_is_missing():
    t = timing_summary(None, TIMING_FAIL_LOG)
    assert t.fmax_mhz == 40.34 and not t.met   # the last (final) line wins


def test_no_fit_and_crash():
    assert classify_nextpnr(125, NO_FIT_LOG, None)[0] == "does_not_fit"
    status, reason = classify_nextpnr(1, "ERROR: Failed to open '--json' file 'x.json'\n", None)
    assert status == "error" and "x.json" in reason
    assert classify_nextpnr(-9, "", None) == ("error", "exit code -9")
    assert classify_nextpnr(0, "", None) == ("ok", "")


def test_passing_clock():
    t = timing_summary({"fmax": {"a": {"achieved": 60.0, "constraint": 48},
                                 "b": {"achieved": 50.0, "constraint": 48}}}, "")
    assert t.met and t.fmax_mhz == 50.0


def test_module_cells_and_summary():
    stat = {"modules": {
        "\\top": {"num_cells_by_type": {"SB_LUT4": 10, "SB_DFFE": 4, "top.core": 1}},
        "\\top.core": {"num_cells_by_type": {"SB_LUT4": 7, "SB_DFFESR": 3, "SB_CARRY": 2,
                                             "SB_MAC16": 1, "SB_RAM40_4K": 2}},
    }}
    mods = module_cells(stat)
    assert mods["top"] == {"SB_LUT4": 10, "SB_DFFE": 4}   # the core instance is not a cell
    s = cell_summary("ice40", mods["top.core"])
    assert s == {"lut4": 7, "ff": 3, "carry": 2, "dsp": 1, "bram": 2, "spram": 0}
    e = cell_summary("ecp5", {"LUT4": 5, "TRELLIS_FF": 6, "CCU2C": 1, "MULT18X18D": 2,
                              "DP16KD": 1, "PFUMX": 3, "TRELLIS_DPR16X4": 4})
    assert e == {"lut4": 5, "ff": 6, "carry": 1, "dsp": 2, "bram": 1, "lutram": 4,
                 "widemux": 3}


def test_format_table_mentions_everything():
    result = SynthResult(
        kind="synth", target="ice40-up5k", family="ice40", clock_mhz=48.0, wrapped=True,
        status="timing_failed", reason="ERROR: ...",
        cells=Cells(core=CellCounts(lut4=7), wrapper=CellCounts(lut4=10),
                    total=CellCounts(lut4=17, io=10)),
        utilisation={"ICESTORM_LC": BelUse(used=20, available=5280),
                     "SB_IO": BelUse(used=10, available=39)},
        timing=timing_summary({"fmax": {"clk": {"achieved": 40.0, "constraint": 48}}}, ""),
        steps=(Step("yosys", 1.0), Step("nextpnr", 2.0)),
    )
    text = format_table(result)
    for needle in ("ice40-up5k", "shift-register harness", "lut4", "17", "ICESTORM_LC",
                   "40.0 MHz", "MISSES 48 MHz", "timing_failed", "yosys 1.0 s"):
        assert needle in text
