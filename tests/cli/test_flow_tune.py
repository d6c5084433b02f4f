"""The flow's ``tune`` step on a small config: report.json's ``tune`` section (accuracy before
and after, each layer's levels), the tuned spec beside it, and the refusal of a field shift on
data that are not the digits demo's."""

import json

import numpy as np
import pytest

from lognet import flow
from lognet.base.errors import InputError
from lognet.boards.host import retune_writes
from lognet.model.reference import reference
from lognet.model.specjson import load_spec

#: every step after ``quantise`` but ``tune``
SKIP = ["fit", "analyse", "compare", "generate", "simulate", "synth"]


def _config(tmp_path, **tune):
    """A 10 -> 6 -> 3 float MLP in an .npz, its test inputs, and a tuning file labelled by the
    float network; the flow config that tunes it for a few epochs."""
    rng = np.random.default_rng(4)
    W1, b1 = rng.normal(0, .5, (6, 10)), rng.normal(0, .1, 6)
    W2 = rng.normal(0, .5, (3, 6))
    x = rng.uniform(-1, 1, (160, 10))
    z = np.maximum(x @ W1.T + b1, 0) @ W2.T
    b2 = -np.median(z, 0)
    y = (z + b2).argmax(1)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2,
                                      "fc2.bias": b2})
    np.save(tmp_path / "x.npy", x[120:])
    np.savez(tmp_path / "tune.npz", x_train=x[:120], y_train=y[:120], x_test=x[120:],
             y_test=y[120:])
    cfg = {"flow": {"name": "mine"}, "model": {"weights": str(tmp_path / "mlp.npz")},
           "data": {"x_test": str(tmp_path / "x.npy")},
           "quantise": {"picker": "lognormal-lloyd", "K": 4, "tunable": "levels"},
           "tune": {"enabled": True, "epochs": 20, "batch": 30, "lr": 0.03,
                    "data": str(tmp_path / "tune.npz"), **tune}}
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return p


def test_flow_tune_step_reports_accuracy_and_levels(tmp_path):
    out = tmp_path / "rep"
    assert flow.run_flow(_config(tmp_path), out=out, skip=SKIP) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["step_seconds"]["tune"] > 0
    t = r["tune"]
    assert set(t) == {"main"}  # no field adaptation asked for
    m = t["main"]
    assert m["spec"] == "tuned.json" and m["family"] == "free" and m["epochs"] == 20
    net, tuned = load_spec(out / "network.json"), load_spec(out / m["spec"])
    d = np.load(tmp_path / "tune.npz")
    xt = net.in_fmt.quantise(d["x_test"])
    # the accuracies are the bit-exact reference's, before (the quantised spec) and after
    assert m["test_accuracy_before"] == np.mean(reference(net, xt).argmax(1) == d["y_test"])
    assert m["test_accuracy_after"] == np.mean(reference(tuned, xt).argmax(1) == d["y_test"])
    assert m["train_accuracy_after"] >= m["train_accuracy_before"]
    assert [la["name"] for la in m["layers"]] == [la.name for la in net.layers]
    for la, old, new in zip(m["layers"], net.layers, tuned.layers):
        assert la["levels_before"] == list(old.levels)
        assert la["levels_after"] == list(new.levels)
        assert la["levels_after_real"] == [v * new.level_fmt.step for v in new.levels]
        assert new.signs == old.signs and new.indices == old.indices  # frozen
    assert m["register_words_changed"] == len(retune_writes(net, tuned)) > 0
    assert {g["region"] for g in m["register_regions"]} <= {"LEVELS", "BIAS"}
    assert len(m["loss_curve"]) == len(m["train_accuracy_curve"]) == 21
    assert (out / "tune_curves.png").stat().st_size > 0


def test_field_shift_needs_the_digits_demo(tmp_path):
    with pytest.raises(InputError, match="field_shift"):
        flow.run_flow(_config(tmp_path, field_shift=1), out=tmp_path / "rep", skip=SKIP)
    assert not (tmp_path / "rep").exists()
