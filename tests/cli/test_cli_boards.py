"""`lognet synth`, `lognet build` and `lognet run` through the console script: a real
out-of-context run, a board plan, the host driver against the simulated board top, and one-line
errors (exit 2) that leave nothing behind."""

import json

import numpy as np
import pytest
from support.clitools import assert_user_error, run
from support.specs import make_network, make_spec

from lognet.boards.results import SynthResult
from lognet.model.reference import reference
from lognet.model.specjson import dump_spec


@pytest.fixture
def small(tmp_path):
    spec = make_spec(n_in=3, n_out=2, K=4, arch="parallel", arith="auto", seed=4)
    dump_spec(spec, tmp_path / "small.json")
    return spec, tmp_path / "small.json"


@pytest.mark.synth
@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25k"])
def test_synth_writes_parsed_report(small, tmp_path, target):
    """A real layer through Yosys and nextpnr for each family."""
    spec, path = small
    r = run("synth", path, "--target", target, "--clock", "12", "-o", tmp_path / "s",
            "--json", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "s" / "synth.json").read_text())
    assert res == json.loads((tmp_path / "s.json").read_text())
    assert SynthResult.from_json(res).to_json() == res  # the record's shape, key for key
    assert res["status"] == "ok" and res["timing"]["met"]
    assert res["cells"]["core"]["lut4"] > 0 and res["timing"]["fmax_mhz"] >= 12
    assert res["cells"]["core"]["ff"] > 0 and res["target"] == target
    assert 0 < res["cells"]["total"]["logic_cells"] <= next(
        v["available"] for k, v in res["utilisation"].items() if k in ("ICESTORM_LC",
                                                                      "TRELLIS_COMB"))
    assert "lut4" in r.stdout and "Fmax" in r.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".s.")]  # no leftovers
    r = run("synth", path, "--target", target, "-o", tmp_path / "s")
    assert_user_error(r, "already exists")


def test_synth_and_build_bad_input(small, tmp_path):
    _, path = small
    assert_user_error(run("synth", path, "--target", "xc7a35t", "-o", tmp_path / "o"),
                      "unknown target")
    assert_user_error(run("build", path, "--board", "arty", "-o", tmp_path / "o"),
                      "unknown board")
    assert_user_error(run("build", path, "--board", "icebreaker", "--baud", "5000000",
                          "-o", tmp_path / "o", "--plan-only"), "baud")
    assert_user_error(run("synth", tmp_path / "nope.json", "--target", "ice40-up5k"),
                      "nope.json")
    assert not (tmp_path / "o").exists()


def test_build_plan_only(small, tmp_path):
    _, path = small
    r = run("build", path, "--board", "ulx3s", "--plan-only", "-o", tmp_path / "b")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "b" / "build.json").read_text())
    assert res["status"] == "planned" and res["board"] == "ulx3s"
    assert SynthResult.from_json(res).to_json() == res
    assert (tmp_path / "b" / "lognet_top.lpf").exists()
    assert str(tmp_path / "b" / "lognet_top.bit") in res["program"]  # final path, not a temp


def test_run_against_simulated_board(tmp_path):
    net = make_network(seed=3)
    dump_spec(net, tmp_path / "net.json")
    x = np.random.default_rng(0).integers(net.in_fmt.min_int, net.in_fmt.max_int + 1,
                                          (4, net.n_in))
    np.save(tmp_path / "x.npy", x)
    r = run("run", tmp_path / "net.json", tmp_path / "x.npy", "--port", "sim",
            "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference(net, x))
    assert "equal the integer reference exactly" in r.stderr


def test_run_bad_input(tmp_path):
    net = make_network(seed=3)
    dump_spec(net, tmp_path / "net.json")
    np.save(tmp_path / "wide.npy", np.full((2, net.n_in), 10_000))
    assert_user_error(run("run", tmp_path / "net.json", tmp_path / "wide.npy", "--port", "sim"),
                      "outside the input format")
    np.save(tmp_path / "x.npy", np.zeros((2, net.n_in), dtype=np.int64))
    assert_user_error(run("run", tmp_path / "net.json", tmp_path / "x.npy", "--port",
                          "/dev/lognet-no-such-port"), "cannot open serial port")
