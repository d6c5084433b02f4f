"""The model verbs through the console script: outputs, and every bad input as one line,
exit code 2, no traceback, no partial output."""

import json
import sys

import numpy as np
import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "model"))
from clitools import assert_user_error, run
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import load_spec
from test_weights import bad_files


@pytest.fixture
def mlp(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": rng.normal(0, .2, (6, 8)),
                                      "fc1.bias": rng.normal(0, .1, 6),
                                      "fc2.weight": rng.normal(0, .2, (3, 6)),
                                      "fc2.bias": rng.normal(0, .1, 3)})
    return tmp_path / "mlp.npz"


@pytest.mark.parametrize("verb", ["layers", "fit", "quantise"])
def test_bad_weight_files(tmp_path, verb):
    for name, needle in bad_files(tmp_path).items():
        out = tmp_path / f"out_{verb}_{name}"
        extra = {"layers": [], "fit": ["-o", out], "quantise": ["-o", out]}[verb]
        r = run(verb, tmp_path / name, *extra)
        assert_user_error(r, needle)
        assert not out.exists()


def test_layers_and_fit(tmp_path, mlp):
    r = run("layers", mlp)
    assert r.returncode == 0 and "fc1.weight" in r.stdout and "(6, 8)" in r.stdout
    r = run("fit", mlp, "--layer", "fc*.weight", "-o", tmp_path / "fit")
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert set(d["layers"]) == {"fc1.weight", "fc2.weight"}
    assert (tmp_path / "fit" / "fc1_weight.png").exists()
    assert_user_error(run("fit", mlp, "-o", tmp_path / "fit"), "already exists")
    assert_user_error(run("fit", mlp, "--layer", "nope", "-o", tmp_path / "f2"), "no array")
    assert not (tmp_path / "f2").exists()


def test_quantise_and_spec(tmp_path, mlp):
    r = run("quantise", mlp, "-K", "8", "--picker", "optimal", "-o", tmp_path / "n.json")
    assert r.returncode == 0, r.stderr
    net = load_spec(tmp_path / "n.json")
    assert isinstance(net, NetworkSpec) and [lay.n_out for lay in net.layers] == [6, 3]
    r = run("quantise", mlp, "--layer", "fc2.*", "-K", "4", "--topology", "fanin:2",
            "-o", tmp_path / "l.json")
    assert r.returncode == 0, r.stderr
    assert isinstance(load_spec(tmp_path / "l.json"), LayerSpec)
    assert_user_error(run("quantise", mlp, "--topology", "fanin:99", "-o", tmp_path / "x.json"),
                      "larger than")
    assert not (tmp_path / "x.json").exists()
    r = run("spec", "--inputs", "16", "--outputs", "4", "--mu", "-3", "--sigma", "0.65",
            "--levels", "8", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    s = load_spec(tmp_path / "s.json")
    assert (s.n_in, s.n_out, s.K) == (16, 4, 8)
    assert_user_error(run("spec", "--inputs", "4", "--outputs", "2", "--sigma", "-1",
                          "-o", tmp_path / "y.json"), "sigma")
    assert_user_error(run("spec", "--inputs", "4", "--outputs", "2", "--topology", "fanin:5",
                          "-o", tmp_path / "y.json"), "larger than")
    assert_user_error(run("spec", "--inputs", "4", "--outputs", "2", "--levels", "0",
                          "-o", tmp_path / "y.json"), "levels")
    assert not (tmp_path / "y.json").exists()
    r = run("generate", tmp_path / "s.json", "-o", tmp_path / "gen")
    assert r.returncode == 0, r.stderr
    r = run("generate", tmp_path / "n.json", "-o", tmp_path / "gen2")
    assert r.returncode == 0, r.stderr
