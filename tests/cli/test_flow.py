"""`lognet flow` end to end on a small config, and its failure when the RTL disagrees."""

import json

import pytest

from lognet import flow
from lognet.base.errors import InputError
from lognet.config import FlowConfig

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
    # exactly the top-1 accuracy of the written network on the digits test split
    import numpy as np

    from lognet.model.reference import reference
    from lognet.model.specjson import load_spec
    from lognet.model.train import train_digits_mlp

    digits = train_digits_mlp(hidden=(16,), seed=0)
    net = load_spec(out / "network.json")
    pred = reference(net, net.in_fmt.quantise(digits["x_test"])).argmax(1)
    assert r["quantised"]["int_accuracy"] == float(np.mean(pred == digits["y_test"]))
    assert {row["picker"] for row in r["compare"]} == {"optimal", "pow2"}
    # the config as the flow saw it: every key, defaults filled in from the typed config
    assert r["config"] == FlowConfig.from_dict(SMALL).to_json()
    assert r["config"]["quantise"]["tunable"] == "levels" and r["config"]["quantise"]["K"] == 8
    man = json.loads((out / "rtl" / "manifest.json").read_text())
    assert r["generate"] == {"top": "lognet_digits", "latency_cycles": man["latency_cycles"],
                             "cycles_per_vector": 1, "folder": "rtl"}
    assert man["top"] == "lognet_digits" and man["latency_cycles"] > 0
    assert man["lognet_version"] == r["lognet_version"] == __import__("lognet").__version__
    assert set(r["step_seconds"]) == set(flow.STEPS) - {"report"}
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
    p.write_text("[quantize]\nK = 4\n")
    with pytest.raises(InputError, match=r"unknown section \[quantize\]; did you mean "
                                         r"'quantise'\?"):
        flow.run_flow(p, out=tmp_path / "x")
    with pytest.raises(InputError, match="unknown step"):
        flow.run_flow(write_cfg(tmp_path), out=tmp_path / "y", skip=["nope"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def _byo(tmp_path, labels=True):
    """A two-layer float MLP of our own in an .npz, with test inputs (and labels)."""
    import numpy as np

    rng = np.random.default_rng(1)
    W1, b1 = rng.lognormal(-2, 0.6, (6, 10)) * rng.choice([-1, 1], (6, 10)), rng.normal(0, .1, 6)
    W2, b2 = rng.lognormal(-2, 0.6, (3, 6)) * rng.choice([-1, 1], (3, 6)), rng.normal(0, .1, 3)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2,
                                      "fc2.bias": b2})
    x = rng.uniform(-1, 1, (40, 10))
    np.save(tmp_path / "x.npy", x)
    y = (np.maximum(x @ W1.T + b1, 0) @ W2.T + b2).argmax(1)
    np.save(tmp_path / "y.npy", y)
    cfg = {"flow": {"name": "mine"}, "model": {"weights": str(tmp_path / "mlp.npz")},
           "data": {"x_test": str(tmp_path / "x.npy")},
           "quantise": {"picker": "lognormal-lloyd", "K": 4, "arch": "folded:2"},
           "compare": {"pickers": ["optimal"], "K": [4]},
           "simulate": {"engine": "amaranth"}}
    if labels:
        cfg["data"]["y_test"] = str(tmp_path / "y.npy")
    return cfg


def test_flow_bring_your_own_weights(tmp_path):
    out = tmp_path / "rep"
    assert flow.run_flow(write_cfg(tmp_path, _byo(tmp_path)), out=out) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["model"]["labels"] and "mlp.npz" in r["model"]["source"]
    assert [la["name"] for la in r["model"]["layers"]] == ["fc1_weight", "fc2_weight"]
    assert r["float"]["test_accuracy"] == 1.0  # the labels are the float model's own argmax
    assert r["simulate"]["mismatches"] == 0 and r["simulate"]["vectors"] == 40
    assert r["simulate"]["rtl_accuracy"] == r["quantised"]["int_accuracy"]
    # resume from the IR the first run wrote: quantise is not run again, results agree
    out2 = tmp_path / "rep2"
    assert flow.run_flow(write_cfg(tmp_path, _byo(tmp_path)), out=out2,
                         spec=out / "network.json", skip=["fit", "compare"]) == 0
    r2 = json.loads((out2 / "report.json").read_text())
    assert r2["quantised"]["given_spec"] == str(out / "network.json")
    assert r2["quantised"]["int_accuracy"] == r["quantised"]["int_accuracy"]
    assert (out2 / "network.json").read_text() == (out / "network.json").read_text()


def test_flow_bring_your_own_without_labels(tmp_path):
    out = tmp_path / "rep"
    assert flow.run_flow(write_cfg(tmp_path, _byo(tmp_path, labels=False)), out=out,
                         skip=["fit", "compare"]) == 0
    r = json.loads((out / "report.json").read_text())
    assert not r["model"]["labels"] and r["float"]["test_accuracy"] is None
    assert "agreement" in (out / "report.html").read_text()


def test_flow_bring_your_own_bad_input(tmp_path):
    cfg = _byo(tmp_path)
    del cfg["data"]["x_test"]
    with pytest.raises(InputError, match="needs test inputs"):
        flow.run_flow(write_cfg(tmp_path, cfg), out=tmp_path / "a")
    cfg = _byo(tmp_path)
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((5, 7)))
    with pytest.raises(InputError, match=r"expected \(N, 10\)"):
        flow.run_flow(write_cfg(tmp_path, cfg), out=tmp_path / "b")
    cfg = _byo(tmp_path)
    cfg["simulate"]["engine"] = "modelsim"
    with pytest.raises(InputError, match="engine"):
        flow.run_flow(write_cfg(tmp_path, cfg), out=tmp_path / "c")
    assert not any((tmp_path / n).exists() for n in "abc")


def test_flow_cocotb_engine_and_synthesis(tmp_path):
    """The RTL step in Icarus through cocotb, and a real out-of-context synthesis step."""
    cfg = _byo(tmp_path)
    cfg["simulate"] = {"engine": "icarus", "build_dir": str(tmp_path / "sim")}
    cfg["synth"] = {"targets": ["ice40-up5k"], "clock": {"ice40-up5k": 12}}
    cfg["compare"] = {"pickers": ["optimal", "pow2"], "K": [4], "area": True}
    out = tmp_path / "rep"
    assert flow.run_flow(write_cfg(tmp_path, cfg), out=out, skip=["fit"]) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["simulate"]["engine"] == "icarus" and r["simulate"]["mismatches"] == 0
    (s,) = r["synth"]
    assert s["status"] == "ok" and s["timing"]["met"] and s["cells"]["core"]["lut4"] > 0
    assert all(row["area"]["lut4"] > 0 for row in r["compare"])
    assert any(row.get("pareto") for row in r["compare"])
    assert (out / "pareto.png").exists() and (out / "synth.png").exists()


def test_pareto_front():
    from lognet.report import pareto_front

    rows = [{"K": k, "area": {"lut4": lut}, "int_accuracy": acc}
            for k, lut, acc in [(4, 10, 0.90), (8, 20, 0.95), (16, 30, 0.94), (2, 10, 0.80),
                                (32, 20, 0.95)]]
    # K=16 is beaten by K=8 (fewer LUTs, higher accuracy), K=2 by K=4; equal points both stay
    assert [r["K"] for r in pareto_front(rows)] == [4, 8, 32]


def test_flow_auto_folds_for_its_first_target(tmp_path, capsys):
    from lognet.hw.plan import auto_lanes
    from lognet.model.specjson import load_spec

    cfg = _byo(tmp_path)
    cfg["quantise"]["arch"] = "auto"
    cfg["synth"] = {"targets": ["ice40-up5k"]}
    out = tmp_path / "rep"
    assert flow.run_flow(write_cfg(tmp_path, cfg), out=out,
                         skip=["fit", "compare", "synth"]) == 0
    net = load_spec(out / "network.json")
    lanes = tuple(la.arch.lanes for la in net.layers)
    assert all(la.arch.kind.value == "folded" for la in net.layers)
    assert lanes == auto_lanes(net, "ice40-up5k").lanes and lanes[0] > 1
    assert "auto-folded for ice40-up5k" in capsys.readouterr().out
    assert json.loads((out / "report.json").read_text())["simulate"]["mismatches"] == 0
    del cfg["synth"]
    with pytest.raises(InputError, match='arch = "auto" plans for the first'):
        flow.run_flow(write_cfg(tmp_path, cfg), out=tmp_path / "rep2")
    assert not (tmp_path / "rep2").exists()
