"""``lognet tune``: the tuned spec, the figures and the register words it prints and writes, and
every bad input as one line, exit code 2, nothing written."""

import dataclasses
import json

import numpy as np
import pytest
from support.clitools import assert_user_error, run

from lognet.boards.host import retune_writes
from lognet.cli import main
from lognet.model.arch import Arch
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec
from lognet.model.specjson import dump_spec, load_spec
from lognet.model.tune import network_forward


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A quantised 10-8-3 network (tunable=levels), its tunable=none and tunable=all twins,
    and a data file of real inputs labelled by the float network."""
    d = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(3)
    W1, b1, W2 = rng.normal(0, .5, (8, 10)), rng.normal(0, .1, 8), rng.normal(0, .5, (3, 8))
    x = rng.random((240, 10))
    z = np.maximum(x @ W1.T + b1, 0) @ W2.T
    b2 = -np.median(z, 0)
    y = (z + b2).argmax(1)
    fmt = QFormat(0, 8, False)
    net, _ = quantise_network([("fc1", W1, b1, "relu"), ("fc2", W2, b2, "none")], K=4,
                              picker="lognormal-lloyd", in_fmt=fmt, calib_x=fmt.quantise(x),
                              arch=Arch.parse("folded:1", arith="auto", tunable="levels"))
    dump_spec(net, d / "net.json")
    for tier in ("none", "all"):
        dump_spec(NetworkSpec(net.name, tuple(la.with_arch(dataclasses.replace(
            la.arch, tunable=tier)) for la in net.layers)), d / f"net_{tier}.json")
    np.savez(d / "data.npz", x_train=x[:180], y_train=y[:180], x_test=x[180:], y_test=y[180:])
    return d


def _bad_data(d, name, **arrays):
    np.savez(d / name, **arrays)
    return d / name


def test_tune_writes_the_tuned_spec_and_its_register_words(files, tmp_path, capsys):
    out, js = tmp_path / "tuned.json", tmp_path / "tune.json"
    rc = main(["tune", str(files / "net.json"), "--data", str(files / "data.npz"), "-o",
               str(out), "--epochs", "6", "--batch", "30", "--json", str(js)])
    text = capsys.readouterr().out
    assert rc == 0, text
    net, tuned = load_spec(files / "net.json"), load_spec(out)
    rep = json.loads(js.read_text())
    writes = retune_writes(net, tuned)
    assert rep["register_words_changed"] == len(writes) > 0
    assert rep["register_words_writable"] == sum(la.K + la.n_out for la in net.layers)
    assert sum(g["words"] for g in rep["register_regions"]) == len(writes)
    assert {g["region"] for g in rep["register_regions"]} <= {"LEVELS", "BIAS"}
    d = np.load(files / "data.npz")
    xt = net.in_fmt.quantise(d["x_test"])
    assert rep["test_accuracy_after"] == np.mean(reference(tuned, xt).argmax(1) == d["y_test"])
    assert rep["train_accuracy_after"] >= rep["train_accuracy_before"]
    assert [la["levels_after"] for la in rep["layers"]] == [list(la.levels)
                                                          for la in tuned.layers]
    assert f"register writes: {len(writes)} of the {rep['register_words_writable']}" in text
    for la, t in zip(net.layers, tuned.layers):
        assert f"{la.name}: levels {list(la.levels)} -> {list(t.levels)}" in text


def test_reassign_on_a_tunable_all_core_moves_connections_bit_exactly(files, tmp_path, capsys):
    out, js = tmp_path / "tuned.json", tmp_path / "tune.json"
    rc = main(["tune", str(files / "net_all.json"), "--data", str(files / "data.npz"), "-o",
               str(out), "--epochs", "6", "--batch", "30", "--reassign", "--json", str(js)])
    text = capsys.readouterr().out
    assert rc == 0, text
    net, tuned = load_spec(files / "net_all.json"), load_spec(out)
    rep = json.loads(js.read_text())
    assert rep["reassign"] is True
    moved = []
    for la, t, r in zip(net.layers, tuned.layers, rep["layers"]):
        a, b = la.flat, t.flat
        np.testing.assert_array_equal(a["out"], b["out"])  # the pattern stays
        np.testing.assert_array_equal(a["src"], b["src"])
        n = int(np.count_nonzero((a["sign"] != b["sign"]) | (a["index"] != b["index"])))
        assert r.get("connections_changed", 0) == n
        moved.append(n)
    assert sum(moved) > 0
    writes = retune_writes(net, tuned)
    assert rep["register_words_changed"] == len(writes)
    assert sum(g["words"] for g in rep["register_regions"]) == len(writes)
    assert "CONN" in {g["region"] for g in rep["register_regions"]}
    # the straight-through twin at the tuned tables is the integer reference, exactly, and the
    # accuracies reported are the reference's
    d = np.load(files / "data.npz")
    xtr, xt = tuned.in_fmt.quantise(d["x_train"]), tuned.in_fmt.quantise(d["x_test"])
    np.testing.assert_array_equal(network_forward(tuned, xtr), reference(tuned, xtr))
    assert rep["train_accuracy_after"] == np.mean(reference(tuned, xtr).argmax(1)
                                                  == d["y_train"])
    assert rep["test_accuracy_after"] == np.mean(reference(tuned, xt).argmax(1) == d["y_test"])
    for la, n in zip(net.layers, moved):
        if n:
            assert f"{n} connections moved" in next(ln for ln in text.splitlines()
                                                     if ln.startswith(f"{la.name}: levels"))


@pytest.mark.parametrize("case", ["columns", "labels", "label-count", "unknown", "no-y",
                                  "test-alone", "reassign", "tier-none", "nan"])
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, capsys, case):
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 10)), rng.integers(0, 3, 20)
    spec, extra = files / "net.json", []
    data = {
        "columns": lambda: _bad_data(tmp_path, "d.npz", x_train=x[:, :9], y_train=y),
        "labels": lambda: _bad_data(tmp_path, "d.npz", x_train=x, y_train=y + 1),
        "label-count": lambda: _bad_data(tmp_path, "d.npz", x_train=x, y_train=y[:-1]),
        "unknown": lambda: _bad_data(tmp_path, "d.npz", x_train=x, y_train=y, X_test=x),
        "no-y": lambda: _bad_data(tmp_path, "d.npz", x_train=x),
        "test-alone": lambda: _bad_data(tmp_path, "d.npz", x_train=x, y_train=y, x_test=x),
        "nan": lambda: _bad_data(tmp_path, "d.npz", x_train=np.where(x > .9, np.nan, x),
                                 y_train=y),
    }.get(case, lambda: files / "data.npz")()
    needle = {"columns": "expected (N, 10)", "labels": "0..2", "label-count": "19 labels",
              "unknown": "unknown array 'X_test'", "no-y": "no array 'y_train'",
              "test-alone": "together", "reassign": "--reassign", "tier-none": "tunable=none",
              "nan": "NaN"}[case]
    if case == "reassign":
        extra = ["--reassign"]
    if case == "tier-none":
        spec = files / "net_none.json"
    out = tmp_path / "t.json"
    rc = main(["tune", str(spec), "--data", str(data), "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("lognet: error: ") and needle in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_console_script_refuses_in_one_line(files, tmp_path):
    r = run("tune", files / "net.json", "--data", files / "net.json", "-o", tmp_path / "t.json")
    assert_user_error(r, "not a readable .npz")
    assert not (tmp_path / "t.json").exists()
