"""The model verbs through the console script: outputs, and every bad input as one line,
exit code 2, no traceback, no partial output."""

import json

import numpy as np
import pytest
from support.clitools import assert_user_error, run
from support.weightfiles import bad_files

from lognet.hw.regmap import resolve_spec
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import load_spec


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
    assert r.returncode == 0, r.stderr
    assert [line.split() for line in r.stdout.splitlines()] == [
        ["name", "shape", "dtype"], ["fc1.weight", "(6,", "8)", "float64"],
        ["fc1.bias", "(6,)", "float64"], ["fc2.weight", "(3,", "6)", "float64"],
        ["fc2.bias", "(3,)", "float64"]]
    r = run("fit", mlp, "--layer", "fc*.weight", "--min-entries", "1", "-o", tmp_path / "fit")
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert set(d["layers"]) == {"fc1.weight", "fc2.weight"}
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == [
        ".lognet", "fc1_weight.png", "fc2_weight.png", "fit.json"]
    assert_user_error(run("fit", mlp, "-o", tmp_path / "fit"), "already exists")
    assert_user_error(run("fit", mlp, "--layer", "nope", "-o", tmp_path / "f2"), "no array")
    assert not (tmp_path / "f2").exists()


def test_quantise_and_spec(tmp_path, mlp):
    r = run("quantise", mlp, "-K", "8", "--picker", "optimal", "-o", tmp_path / "n.json")
    assert r.returncode == 0, r.stderr
    net = load_spec(tmp_path / "n.json")
    assert isinstance(net, NetworkSpec) and net.name == "mlp"
    assert [(lay.name, lay.n_in, lay.n_out, lay.K) for lay in net.layers] == [
        ("fc1_weight", 8, 6, 8), ("fc2_weight", 6, 3, 8)]
    r = run("quantise", mlp, "--layer", "fc2.*", "-K", "4", "--topology", "fanin:2",
            "-o", tmp_path / "l.json")
    assert r.returncode == 0, r.stderr
    one = load_spec(tmp_path / "l.json")
    assert isinstance(one, LayerSpec)
    assert (one.name, one.n_in, one.n_out, one.K) == ("fc2_weight", 6, 3, 4)
    assert [len(src) for src in one.sources] == [2, 2, 2]
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
    for src, out, top in [("s.json", "gen", "lognet_layer"), ("n.json", "gen2", "lognet_mlp")]:
        r = run("generate", tmp_path / src, "-o", tmp_path / out)
        assert r.returncode == 0, r.stderr
        # the spec it built, with arith=auto resolved
        assert load_spec(tmp_path / out / "spec.json") == resolve_spec(load_spec(tmp_path / src))
        assert json.loads((tmp_path / out / "manifest.json").read_text())["top"] == top
        assert f"module {top}" in (tmp_path / out / f"{top}.v").read_text()


def test_quantise_prints_one_line_per_layer(tmp_path, mlp, capsys):
    """quantise_layers_from_file returns data; the CLI formats one line per layer from it."""
    from lognet import cli
    from lognet.model.arch import Arch
    from lognet.model.quantise import quantise_layers_from_file

    out = tmp_path / "n.json"
    assert cli.main(["quantise", str(mlp), "-K", "4", "--picker", "optimal", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    spec, reports = quantise_layers_from_file(
        mlp, K=4, picker="optimal", topology="dense", arch=Arch.parse("parallel", "auto", "all"))
    assert load_spec(out) == spec
    assert [(r["name"], r["K"], r["topology"]["connections"]) for r in reports] == [
        ("fc1_weight", 4, 48), ("fc2_weight", 4, 18)]
    # one line per layer, then the picker's note (and a rounding note, if any) indented
    assert lines == [line for r in reports for line in (
        f"{r['name']}: K=4 optimal SQNR {r['sqnr_db']:.2f} dB ({r['sqnr_rounded_db']:.2f} dB "
        f"after rounding to {r['formats']['level']}), {r['topology']['connections']} connections",
        f"  {r['picker_note']}", *([f"  {r['rounding_note']}"] if r["rounding_note"] else []))
    ] + [f"wrote {out}"]
    assert all(r["picker_note"] == "exact dynamic programming on the distinct values"
               for r in reports)


def test_arch_overrides(tmp_path, mlp):
    """One override function for the CLI's --arch/--arith/--tunable and the flow's per-target
    [synth] arch/tunable, on a network or a lone layer."""
    from lognet.model.arch import Arch, Arith, Microarch, Tunable
    from lognet.model.spec import with_arch_overrides

    assert run("quantise", mlp, "-o", tmp_path / "n.json").returncode == 0
    net = load_spec(tmp_path / "n.json")
    assert with_arch_overrides(net) is net
    o = with_arch_overrides(net, arch="folded:2", tunable="levels")
    assert isinstance(o, NetworkSpec) and o.name == net.name
    assert [la.arch for la in o.layers] == [Arch(Microarch.FOLDED, 2, Arith.AUTO,
                                                 Tunable.LEVELS)] * 2
    assert [la.with_arch(net.layers[0].arch) for la in o.layers] == list(net.layers)
    one = with_arch_overrides(net.layers[1], arith="factored")
    assert isinstance(one, LayerSpec)
    assert one.arch == Arch(Microarch.PARALLEL, 1, Arith.FACTORED, Tunable.ALL)
    r = run("generate", tmp_path / "n.json", "-o", tmp_path / "g", "--arch", "folded:2",
            "--tunable", "levels")
    assert r.returncode == 0, r.stderr
    got = load_spec(tmp_path / "g" / "spec.json")
    assert [(la.arch.kind, la.arch.lanes, la.arch.tunable) for la in got.layers] == [
        (Microarch.FOLDED, 2, Tunable.LEVELS)] * 2
    assert_user_error(run("generate", tmp_path / "n.json", "-o", tmp_path / "g2", "--arch",
                          "folded:x"), "folded lanes 'x' is not an integer")
    assert not (tmp_path / "g2").exists()
