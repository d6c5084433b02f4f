"""Out-of-context synthesis and place-and-route with the real YoWASP tools.

The numbers are checked for presence and sanity (positive, within the device, consistent with
each other), never against stored values: tool versions move them.
"""

import json

import pytest
from amaranth.back import verilog

from lognet.base.errors import InputError
from lognet.boards.results import SynthResult
from lognet.boards.synth import TARGETS, synth_core

pytestmark = pytest.mark.synth


def _check_sane(r, target, clock):
    assert r.kind == "synth" and r.target == target and r.wrapped is True
    assert "shift register" in r.wrapper_note
    core, wrap, total = r.cells.core, r.cells.wrapper, r.cells.total
    assert core.lut4 > 0 and core.ff > 0 and core.carry > 0
    assert wrap.ff > 0                        # the harness's shift registers
    for k in ("lut4", "ff", "carry", "dsp", "bram"):
        assert getattr(total, k) == getattr(core, k) + getattr(wrap, k)
    fam = TARGETS[target].family
    logic = r.utilisation["ICESTORM_LC" if fam == "ice40" else "TRELLIS_COMB"]
    assert 0 < logic.used <= logic.available
    assert total.io == 10                     # 8 harness pins + clk + rst
    assert logic.used >= total.lut4 // 2
    t = r.timing
    assert len(t.clocks) == 1
    assert 0 < t.fmax_mhz < 1000 and r.fmax_mhz == t.fmax_mhz
    (clk,) = t.clocks.values()
    assert clk.constraint_mhz == clock
    assert t.met == (t.fmax_mhz >= clock)
    steps = r.step_seconds()
    assert {"elaborate", "yosys", "nextpnr"} <= set(steps)
    assert all(v >= 0 for v in steps.values()) and steps["yosys"] > 0
    assert SynthResult.from_json(r.to_json()) == r


@pytest.fixture(scope="module")
def small_core(adder_core):
    return lambda: adder_core(n_in=6, n_out=3, in_width=8, out_width=12)


@pytest.mark.parametrize("target, clock", [("ice40-up5k", 12), ("ecp5-25k", 25)])
def test_small_core(target, clock, small_core, tmp_path):
    r = synth_core(small_core, target, clock, tmp_path, bitstream=True)
    _check_sane(r, target, clock)
    assert r.status == "ok" and r.timing.met
    assert SynthResult.from_json(json.loads((tmp_path / "synth.json").read_text())) == r
    bit = tmp_path / r.files.bitstream
    assert bit.suffix == (".bin" if target.startswith("ice40") else ".bit")
    assert bit.stat().st_size > 1000
    assert r.steps[-1].step == "pack"


def test_absurd_clock_is_a_timing_failure_not_an_exception(small_core, tmp_path):
    r = synth_core(small_core, "ice40-up5k", 2000, tmp_path)
    assert r.status == "timing_failed"
    assert "FAIL" in r.reason
    assert r.timing.met is False
    assert 0 < r.timing.fmax_mhz < 2000
    _check_sane(r, "ice40-up5k", 2000)


def test_verilog_core(small_core, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    v = src / "adder.v"
    v.write_text(verilog.convert(small_core(), name="lognet_adder", emit_src=False))
    r = synth_core(v, "ice40-up5k", 12, tmp_path / "out")
    assert r.status == "ok"
    assert r.cells.core.lut4 > 0 and r.cells.core.carry > 0
    with pytest.raises(InputError, match="no module"):
        synth_core(v, "ice40-up5k", 12, tmp_path / "out2", verilog_top="nope")


def test_bad_inputs_fail_before_any_tool(small_core, tmp_path):
    with pytest.raises(InputError, match="unknown target"):
        synth_core(small_core, "xc7a35t", 100, tmp_path / "a")
    with pytest.raises(InputError, match="clock"):
        synth_core(small_core, "ice40-up5k", 0, tmp_path / "b")
    with pytest.raises(InputError, match="not a lognet core"):
        synth_core(lambda: object(), "ice40-up5k", 12, tmp_path / "c")
    with pytest.raises(InputError, match="no such Verilog"):
        synth_core(tmp_path / "missing.v", "ice40-up5k", 12, tmp_path / "d")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_noabc_maps_with_yosys_own_mapper(small_core, tmp_path):
    """``noabc=True`` runs Yosys' own LUT mapper from the start (and says so); the same core
    then still has LUTs, carries and flip-flops."""
    r = synth_core(small_core, "ice40-up5k", None, tmp_path, place=False, noabc=True)
    assert r.mapper == "yosys (-noabc)" and r.status == "synthesised"
    assert "-noabc" in (tmp_path / "synth.ys").read_text()
    core = r.cells.core
    assert core.lut4 > 0 and core.carry > 0 and core.ff > 0
    assert r.timing.met is None and r.timing.fmax_mhz is None and r.utilisation == {}
    assert SynthResult.from_json(json.loads((tmp_path / "synth.json").read_text())) == r


def test_a_place_and_route_stopped_at_its_limit_is_timed_out(small_core, tmp_path):
    """nextpnr killed at ``place_timeout`` is a result (``timed_out``, with the limit named),
    not an exception and not a verdict on fit or timing."""
    r = synth_core(small_core, "ecp5-85k", 100, tmp_path, place_timeout=0.05)
    assert r.status == "timed_out"
    assert "stopped at the time limit of 0.05 s" in r.reason
    assert r.fmax_mhz is None
