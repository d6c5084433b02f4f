"""`lognet flow` end to end on a small config, and its failure when the RTL disagrees."""

import json

import pytest
from lognet.model.errors import InputError

from lognet import flow

SMALL = {
    "flow": {"name": "digits", "seed": 0},
    "model": {"hidden": [16]},
    "quantise": {"picker": "optimal", "K": 8, "arch": "parallel", "tunable": "levels"},
    "compare": {"pickers": ["optimal", "pow2"], "K": [8]},
    "simulate": {"vectors": 30, "engine": "amaranth"},
}


def write_cfg(tmp_path, cfg=SMALL):
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return p


def test_flow_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert flow.run_flow(write_cfg(tmp_path), out=out) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["report_version"] == 2
    assert r["simulate"]["mismatches"] == 0 and r["simulate"]["vectors"] == 30
    assert 0 < r["quantised"]["int_accuracy"] <= 1
    assert {row["picker"] for row in r["compare"]} == {"optimal", "pow2"}
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "Is |w| lognormal?" in html
    assert (out / "rtl" / "manifest.json").exists()
    with pytest.raises(InputError, match="already exists"):
        flow.run_flow(write_cfg(tmp_path), out=out)


def test_flow_fails_on_rtl_mismatch(tmp_path, monkeypatch, capsys):
    from lognet.hw import amsim

    real = amsim.stream_through

    def corrupted(core, X, **kw):
        y, c = real(core, X, **kw)
        y = y.copy()
        y[3, 2] += 1
        return y, c

    monkeypatch.setattr(amsim, "stream_through", corrupted)
    cfg = dict(SMALL, compare={"pickers": ["optimal"], "K": [4]})
    assert flow.run_flow(write_cfg(tmp_path, cfg), out=tmp_path / "rep2",
                         skip=["fit"]) == 1
    err = capsys.readouterr().err
    assert "sample 3, output 2" in err


def test_flow_bad_config(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[flow\n")
    with pytest.raises(InputError, match="not a valid config"):
        flow.run_flow(p, out=tmp_path / "x")
    with pytest.raises(InputError, match="unknown step"):
        flow.run_flow(write_cfg(tmp_path), out=tmp_path / "y", skip=["nope"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
