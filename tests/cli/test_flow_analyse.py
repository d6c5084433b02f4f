"""The flow's ``analyse`` step on a small config: its JSON, its HTML section, and one-line
refusals of bad ``[analyse]`` parameters."""

import json
import math

import numpy as np
import pytest

from lognet import flow
from lognet.base.errors import InputError
from lognet.config import FlowConfig

ANALYSE = {"enabled": True, "ising_bins": 16, "ising_ln_f": 1e-3, "criticality_depth": 200,
           "criticality_points": 9, "criticality_sigma_w_max": 6.0, "activation_vectors": 60}
LATER = ["compare", "tune", "generate", "simulate", "synth"]


def _no_nan(text: str):
    def refuse(c):
        raise AssertionError(f"report.json holds {c}")
    return json.loads(text, parse_constant=refuse)


def _mlp(tmp_path):
    """A 10 -> 6 -> 3 float MLP of our own in an .npz, and 40 test inputs."""
    rng = np.random.default_rng(1)
    W1, b1 = rng.lognormal(-1, 0.6, (6, 10)) * rng.choice([-1, 1], (6, 10)), rng.normal(0, .1, 6)
    W2, b2 = rng.lognormal(-1, 0.6, (3, 6)) * rng.choice([-1, 1], (3, 6)), rng.normal(0, .1, 3)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2,
                                      "fc2.bias": b2})
    np.save(tmp_path / "x.npy", rng.uniform(-1, 1, (40, 10)))
    cfg = {"flow": {"name": "mine"}, "model": {"weights": str(tmp_path / "mlp.npz")},
           "data": {"x_test": str(tmp_path / "x.npy")},
           "quantise": {"picker": "optimal", "K": 4}, "analyse": ANALYSE}
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    return p, W1, W2


def test_flow_analyse_step(tmp_path):
    p, W1, W2 = _mlp(tmp_path)
    out = tmp_path / "rep"
    assert flow.run_flow(p, out=out, skip=["fit", *LATER]) == 0
    r = _no_nan((out / "report.json").read_text())
    a = r["analyse"]
    assert set(a) == {"ising", "criticality", "activations", "not_run", "seconds", "notes"}
    assert a["not_run"] == {} and set(a["seconds"]) == {"ising", "criticality", "activations"}
    assert r["step_seconds"]["analyse"] > 0
    for part in ("ising", "criticality", "activations"):
        assert a["notes"][part]["measured"] and a["notes"][part]["not_shown"]
    n1, n2 = [la["name"] for la in r["model"]["layers"]]
    # Ising: three networks of 10 + 6 + 3 spins on one temperature grid, each with a peak
    ising = a["ising"]
    assert [m["model"]["name"] for m in ising["models"]] == ["trained", "untrained",
                                                             "quantised"]
    nT = len(ising["temperatures"])
    for m in ising["models"]:
        assert m["model"]["spins"] == 19 and m["model"]["layers"] == [10, 6, 3]
        assert len(m["thermo"]["c_per_spin"]) == nT and "T" not in m["thermo"]
        pk = m["thermo"]["peak"]
        assert min(ising["temperatures"]) <= pk["T"] <= max(ising["temperatures"])
        assert math.isclose(pk["T_over_scale"], pk["T"] / m["model"]["temperature_scale"])
        assert m["dos"]["bins"]["count"] == 16 and m["dos"]["converged"]
    # criticality: the trained layers placed by sqrt(fan-in * mean w^2) on an N = 8 diagram
    # (the mean fan-in)
    cr = a["criticality"]
    assert cr["width"] == 8 and cr["depth"] == 200 and cr["activation"] == "relu"
    assert len(cr["grid"]["sigma_w"]) == 9
    for p_, W in zip(cr["layers"], (W1, W2)):
        assert math.isclose(p_["sigma_w"], math.sqrt(W.shape[1] * np.mean(W**2)))
    assert [p_["name"] for p_ in cr["layers"]] == [n1, n2]
    assert cr["transition_sigma_w"] is not None and 1.0 < cr["transition_sigma_w"] < 2.0
    # activations: both networks, each layer's pre-activations and the ReLU layer's positives
    act = a["activations"]
    assert act["vectors"] == 40  # all there are
    for key in ("float", "integer"):
        arrays = act[key]["arrays"]
        assert set(arrays) == {f"{n1}.pre-activation", f"{n1}.post-relu+",
                               f"{n2}.pre-activation"}
        assert arrays[f"{n1}.pre-activation"]["values"] == 40 * 6
        assert arrays[f"{n2}.pre-activation"]["values"] == 40 * 3
        zf = arrays[f"{n1}.post-relu+"]["zero_fraction"]
        assert arrays[f"{n1}.post-relu+"]["values"] == round(40 * 6 * (1 - zf))
        assert act[key]["summary"]["layers"] == 3
        for row in arrays.values():
            assert (out / f"{row['plot']}.png").is_file()
    assert (out / "ising.png").is_file() and (out / "criticality.png").is_file()
    html = (out / "report.html").read_text()
    assert "Without data, and the neuron outputs" in html and "Not shown:" in html
    assert "a C(T) peak is not an accuracy" in html
    assert any(s.startswith("Ising model: C(T) peak temperature trained") for s in r["summary"])


@pytest.mark.parametrize("body, match", [
    ({"isng": True}, r"unknown key \[analyse\] isng; did you mean 'ising'\?"),
    ({"ising_bins": 1}, r"\[analyse\] ising_bins = 1 is out of range"),
    ({"ising_ln_f": 0.0}, r"\[analyse\] ising_ln_f = 0.0 is out of range"),
    ({"criticality_depth": 0}, r"\[analyse\] criticality_depth = 0 is out of range"),
    ({"criticality_sigma": -1.0}, r"\[analyse\] criticality_sigma = -1.0 is out of range"),
    ({"criticality_family": "cauchy"}, r"criticality_family = \"cauchy\" is not one of"),
    ({"criticality_sigma_w_min": 2.0, "criticality_sigma_w_max": 1.0},
     r"criticality_sigma_w_max \(1.0\) must exceed criticality_sigma_w_min \(2.0\)"),
    ({"activation_vectors": 0}, r"\[analyse\] activation_vectors = 0 is out of range"),
    ({"enabled": "yes"}, r"\[analyse\] enabled = \"yes\" is a string; expected a boolean"),
])
def test_bad_analyse_parameters(tmp_path, body, match):
    p = tmp_path / "bad.toml"
    p.write_text("[analyse]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in body.items()))
    with pytest.raises(InputError, match=match) as e:
        flow.run_flow(p, out=tmp_path / "x")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()


def test_bad_analyse_parameter_from_the_cli(tmp_path, capsys):
    from lognet.cli import main

    p = tmp_path / "bad.toml"
    p.write_text("[analyse]\ncriticality_fan_in = -3\n")
    assert main(["flow", str(p), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lognet: error: ") and "\n" not in err
    assert "criticality_fan_in = -3 is out of range" in err


def test_analyse_is_a_step_to_skip_and_off_by_default():
    assert flow.STEPS.index("analyse") == flow.STEPS.index("quantise") + 1
    assert FlowConfig().analyse.enabled is False
    assert flow.load_config().analyse.enabled is True  # the shipped demo turns it on
