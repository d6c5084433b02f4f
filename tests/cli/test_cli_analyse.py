"""``lognet analyse ising|criticality`` through the console script: small runs, their files,
and bad input as one line, exit code 2, nothing written."""

import json
import types

import numpy as np
import pytest
from support.clitools import assert_user_error, run

from lognet.cli import main
from lognet.model.specjson import dump_spec


def run_here(capsys, *args):
    """``lognet ARGS`` in this process (no interpreter start-up: for the quick failures)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=out, stderr=err)


@pytest.fixture
def tiny(tmp_path):
    """A 4-3-3 network: 10 spins, small enough to enumerate."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", **{"fc1.weight": rng.normal(0, .5, (3, 4)),
                                       "fc1.bias": rng.normal(0, .1, 3),
                                       "fc2.weight": rng.normal(0, .5, (3, 3)),
                                       "fc2.bias": rng.normal(0, .1, 3)})
    return tmp_path / "tiny.npz"


def test_lattice_exact_and_files(tmp_path):
    out = tmp_path / "ising"
    r = run("analyse", "ising", "--lattice", "square:4", "--exact", "--ln-f", "1e-5", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "Onsager's T_c" in r.stdout and "exact enumeration: ln g relative error" in r.stdout
    d = json.loads((out / "ising.json").read_text())
    (row,) = d["models"]
    assert row["model"]["spins"] == 16 and row["dos"]["occupied_bins"] == 15
    assert row["exact"]["comparison"]["mean_relative_error"] < 0.01
    assert row["thermo"]["peak"]["T"] == pytest.approx(row["exact"]["thermo"]["peak"]["T"],
                                                       rel=0.01)
    assert sorted(p.name for p in out.iterdir()) == [".lognet", "ising.json", "ising.png"]


def test_weight_file_and_spec(tmp_path, tiny):
    from support.specs import make_network

    r = run("analyse", "ising", tiny, "--exact", "--bins", "16", "--ln-f", "1e-4", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [m["model"]["name"] for m in d["models"]] == ["trained", "untrained"]
    assert all(m["model"]["spins"] == 10 for m in d["models"])
    assert all(m["exact"]["comparison"]["bins_missed"] == 0 for m in d["models"])
    spec = tmp_path / "net.json"
    dump_spec(make_network(), spec)
    r = run("analyse", "ising", spec, "--ln-f", "1e-3", "--bins", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("C(T) peak at T =") == 2 and "quantised:" in r.stdout


def test_criticality_small_with_weights(tmp_path, tiny):
    out = tmp_path / "crit"
    r = run("analyse", "criticality", "--fan-in", "32", "--depth", "200", "--points", "6",
            "--refine", "5", "--weights", tiny, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "lambda = 0 at sigma_w =" in r.stdout and "mean-field transition" in r.stdout
    assert "layer fc1_weight: sigma_w =" in r.stdout
    d = json.loads((out / "criticality.json").read_text())
    assert len(d["grid"]["sigma_w"]) == 6 and len(d["layers"]) == 2
    assert (out / "criticality.png").stat().st_size > 0


@pytest.mark.parametrize("args, needle", [
    (["ising", "--lattice", "square:5", "--exact"], "drop --exact to sample with Wang-Landau"),
    (["ising", "--lattice", "cubic:3"], "use square:L"),
    (["ising", "--lattice", "square:4", "x.npz"], "not both"),
    (["ising", "--lattice", "square:4", "--ln-f", "0"], "--ln-f"),
    (["criticality", "--fan-in", "0"], "--fan-in"),
    (["criticality", "--depth", "0"], "--depth"),
    (["criticality", "--family", "lognormal", "--sigma", "0"], "--sigma"),
    (["criticality", "--sigma-w-min", "0"], "--sigma-w-min"),
    (["criticality", "--sigma-w-min", "2", "--sigma-w-max", "1"], "must exceed"),
    (["criticality", "--depth", "10", "--burn-in", "10"], "below --depth"),
    (["criticality", "--weights", "missing.npz"], "no such file"),
])
def test_bad_input(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    r = run_here(capsys, "analyse", *args, "-o", out)
    assert_user_error(r, needle)
    assert not out.exists()


def test_bad_input_exact_on_a_network(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", w=rng.normal(0, 1, (12, 12)))
    assert_user_error(run_here(capsys, "analyse", "ising", tmp_path / "big.npz", "--exact"),
                      "24 spins; exact enumeration is limited to 20")
