"""``lognet fit`` on a checkpoint (selection, arrays that cannot be fitted, flags, summary,
strict JSON), ``lognet fit --activations``, and the picker notes of ``lognet quantise``."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from lognet.cli import main
from lognet.model.specjson import load_spec


def _user_error(capsys, argv, needle: str) -> str:
    """``lognet ARGV`` in this process: exit code 2 and one line ``lognet: error: ...`` with
    ``needle`` (the console script's contract, tests/support/clitools.py, without a process)."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lognet: error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    return err


def _no_nan(text: str):
    def refuse(c):
        raise AssertionError(f"bare {c} in the JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small transformer-like checkpoint with what a real one holds besides matrices."""
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("ck")
    t = {"emb.weight": rng.normal(0, .02, (64, 32)).astype(np.float32),
         "h0.attn.weight": (np.exp(rng.normal(-4, .7, (32, 32)))
                            * rng.choice([-1, 1], (32, 32))).astype(np.float32),
         "h0.attn.bias": np.zeros(32, np.float32),
         "h0.ln.weight": (1 + rng.normal(0, .05, 32)).astype(np.float32),
         "h0.ln.bias": rng.normal(0, .01, 32).astype(np.float32),
         "position_ids": np.arange(512, dtype=np.int64)[None, :],
         "h0.nan.weight": np.full((16, 16), np.nan, np.float32)}
    save_file(t, str(d / "ck.safetensors"))
    return d / "ck.safetensors"


def test_fit_checkpoint_default(ckpt, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["fit", str(ckpt), "-o", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    d = _no_nan((out / "fit.json").read_text())
    assert list(d["layers"]) == ["emb.weight", "h0.attn.weight"]
    assert {s["name"]: s["shape"] for s in d["skipped"]} == {
        "h0.attn.bias": [32], "h0.ln.weight": [32], "h0.ln.bias": [32],
        "position_ids": [1, 512]}
    assert [f["name"] for f in d["failed"]] == ["h0.nan.weight"]
    assert "skipped position_ids (1, 512) int64: dtype int64" in text
    assert "h0.nan.weight (16, 16): not fitted: has 256 NaN/inf values" in text
    assert "summary over 2 fitted arrays" in text and "Gaussian control" in text
    assert d["summary"]["layers"] == 2 and d["min_entries"] == 256
    fams = d["layers"]["h0.attn.weight"]["mle"]["fits"]
    assert "half-generalised-normal" in {f["family"] for f in fams}
    assert sorted(p.name for p in out.iterdir()) == [".lognet", "fit.json"]


def test_fit_checkpoint_all(ckpt, tmp_path, capsys):
    out = tmp_path / "fit"
    assert main(["fit", str(ckpt), "--all", "--layer", "h0.*", "--layer", "position_ids",
                 "-o", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    d = _no_nan((out / "fit.json").read_text())
    assert d["skipped"] == []
    failed = {f["name"]: f["why"] for f in d["failed"]}
    assert set(failed) == {"h0.attn.bias", "h0.nan.weight"}
    assert "all weights are zero" in failed["h0.attn.bias"]
    assert "h0.attn.bias (32,): not fitted: all weights are zero" in text
    flags = d["summary"]["flags"]
    assert flags["integer"] == ["position_ids"] and "position_ids" in flags["at-bound"]
    assert flags["offset"] == ["h0.ln.weight"]
    assert "flag integer: the data are integer-valued" in text
    assert "plot" not in d["layers"]["position_ids"]


def test_fit_nothing_to_fit(tmp_path, capsys):
    np.savez(tmp_path / "b.npz", bias=np.zeros(8), ids=np.arange(300).reshape(3, 100))
    err = _user_error(capsys, ["fit", tmp_path / "b.npz", "-o", tmp_path / "out"],
                      "no weight matrix to fit (2 arrays skipped")
    assert "use --all" in err and not (tmp_path / "out").exists()
    np.savez(tmp_path / "z.npz", w=np.zeros((20, 20)))
    _user_error(capsys, ["fit", tmp_path / "z.npz", "-o", tmp_path / "out"],
                "no array could be fitted: w: all weights are zero")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    rng = np.random.default_rng(2)
    np.savez(d / "mlp.npz", **{"fc1.weight": rng.normal(0, .3, (16, 8)),
                               "fc1.bias": rng.normal(0, .1, 16),
                               "fc2.weight": rng.normal(0, .3, (4, 16))})
    np.save(d / "x.npy", rng.uniform(-1, 1, (300, 8)))
    assert main(["quantise", str(d / "mlp.npz"), "-K", "8", "--calib", str(d / "x.npy"),
                 "-o", str(d / "net.json")]) == 0
    return d


def test_quantise_default_picker_is_auto_with_notes(net, capsys):
    main(["quantise", str(net / "mlp.npz"), "-K", "4", "-o", str(net / "n4.json")])
    text = capsys.readouterr().out
    spec = load_spec(net / "n4.json")
    for la in spec.layers:
        meta = dict(la.meta)
        assert meta["picker"] == "auto" and meta["picker_chosen"] in ("optimal", "lloyd")
        assert meta["picker_note"].startswith(f"{meta['picker_chosen']}: best SQNR of 7")
        assert f"  {meta['picker_note']}" in text
    main(["quantise", str(net / "mlp.npz"), "-K", "4", "--picker", "lognormal-lloyd",
          "-o", str(net / "ll.json")])
    meta = dict(load_spec(net / "ll.json").layers[0].meta)
    assert meta["picker_chosen"] == "lognormal-lloyd" and "Lloyd-Max on LN" in meta["picker_note"]


def test_fit_activations(net, tmp_path, capsys):
    out = tmp_path / "act"
    assert main(["fit", "--activations", str(net / "net.json"), "--data", str(net / "x.npy"),
                 "-o", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    d = _no_nan((out / "fit.json").read_text())
    ints = d["networks"]["integer"]
    assert list(ints["layers"]) == ["fc1_weight.pre-activation", "fc1_weight.post-relu+",
                                    "fc2_weight.pre-activation"]
    assert ints["arrays"]["fc1_weight.post-relu+"]["what"].startswith("post-ReLU, positive")
    assert "the spec holds only the codebook" in d["networks"]["float"]["absent"]
    assert "float network: not fitted" in text and "exact zeros left out" in text
    # with the weight file the spec came from, the float network too
    out2 = tmp_path / "act2"
    assert main(["fit", str(net / "mlp.npz"), "--activations", str(net / "net.json"),
                 "--data", str(net / "x.npy"), "-o", str(out2)]) == 0
    d = _no_nan((out2 / "fit.json").read_text())
    assert set(d["networks"]) == {"integer", "float"}
    assert list(d["networks"]["float"]["layers"]) == list(ints["layers"])
    assert d["networks"]["float"]["summary"]["layers"] == 3
    for p in out2.glob("*.png"):
        assert p.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out2.iterdir() if p.suffix == ".png") == sorted(
        f"{net}_fc{i}_weight_{what}.png" for net in ("integer", "float")
        for i, what in ((1, "pre_activation"), (1, "post_relu"), (2, "pre_activation")))


def test_fit_activations_bad_input(net, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((5, 3)))
    _user_error(capsys, ["fit", "--activations", net / "net.json", "--data", tmp_path / "bad.npy",
                         "-o", tmp_path / "o"], "expected (N, 8)")
    _user_error(capsys, ["fit", "--activations", net / "net.json", "-o", tmp_path / "o"],
                "--activations and --data go together")
    _user_error(capsys, ["fit", "-o", tmp_path / "o"], "give a weight file")
    assert not (tmp_path / "o").exists()
