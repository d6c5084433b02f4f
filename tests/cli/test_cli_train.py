"""``lognet train``: the hot-start comparison table, an .npz that ``lognet quantise`` reads, and
bad input as one line, exit code 2, nothing written."""

import json

import numpy as np
import pytest

from lognet.cli import main
from lognet.model.specjson import load_spec
from lognet.model.weights import load_weights


def test_train_writes_npz_quantise_accepts(tmp_path, capsys):
    w, j = tmp_path / "w.npz", tmp_path / "r.json"
    assert main(["train", "--seeds", "2", "--epochs", "3", "--hidden", "8",
                 "--target-accuracy", "0.3", "-o", str(w), "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert "lognormal" in out and "default" in out and "hot start" in out
    arrays = load_weights(w)
    assert [(k, a.shape) for k, a in arrays.items()] == [
        ("fc1", (8, 64)), ("fc1.bias", (8,)), ("fc2", (10, 8)), ("fc2.bias", (10,))]
    r = json.loads(j.read_text())
    assert r["seeds"] == [0, 1] and set(r["summary"]) == {"lognormal", "default"}
    assert all(len(x["curve"]) == 3 for x in r["runs"]["lognormal"])
    assert r["comparison"]["sentence"] in out
    net = tmp_path / "net.json"
    assert main(["quantise", str(w), "--levels", "4", "-o", str(net)]) == 0
    spec = load_spec(net)
    assert [la.n_in for la in spec.layers] == [64, 8] and spec.layers[-1].n_out == 10
    # the biases went along: the spec's are not all zero
    assert any(np.any(la.bias != 0) for la in spec.layers)


@pytest.mark.parametrize("args, needle", [
    (["--seeds", "0"], "--seeds"), (["--target-accuracy", "0"], "target accuracy"),
    (["--target-accuracy", "1.2"], "target accuracy"), (["--hidden", "0"], "--hidden"),
    (["--hidden", "1000000"], "--hidden"), (["--epochs", "0"], "--epochs"),
    (["--sigma", "-1"], "sigma"), (["--hidden", "32", "0"], "--hidden")])
def test_bad_input(tmp_path, capsys, args, needle):
    out = tmp_path / "w.npz"
    assert main(["train", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lognet: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()

