"""``--arch auto --target T [--fps N]`` on ``spec`` and ``quantise``: each layer folded to the
lanes the resource plan picks, the same weights as any other arch, and goals the device cannot
meet refused with nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from lognet.cli import main
from lognet.hw.plan import auto_lanes, plan
from lognet.model.arch import Microarch
from lognet.model.specjson import load_spec

BASE = ["spec", "--inputs", "64", "--outputs", "32", "--mu", "-3", "--sigma", "0.6", "-K", "8",
        "--seed", "1"]


def test_spec_auto_takes_the_plans_lanes(tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main([*BASE, "--arch", "auto", "--target", "ice40-up5k", "-o", str(out)]) == 0
    s = load_spec(out)
    found = auto_lanes(s, "ice40-up5k")
    assert s.arch.kind is Microarch.FOLDED and s.arch.lanes == found.lanes[0] > 1
    assert found.ok and plan(s, "ice40-up5k").fits
    assert f"layer folded:{s.arch.lanes}" in capsys.readouterr().out
    # the weights are those of any other arch
    plain = tmp_path / "p.json"
    assert main([*BASE, "-o", str(plain)]) == 0
    p = load_spec(plain)
    assert (s.levels, s.sources, s.signs, s.indices) == (p.levels, p.sources, p.signs, p.indices)


def test_a_rate_gets_the_fewest_lanes_that_reach_it(tmp_path):
    fast, slow = tmp_path / "f.json", tmp_path / "s.json"
    assert main([*BASE, "--arch", "auto", "--target", "ice40-up5k", "-o", str(fast)]) == 0
    assert main([*BASE, "--arch", "auto", "--target", "ice40-up5k", "--fps", "30000",
                 "-o", str(slow)]) == 0
    a, b = load_spec(fast).arch.lanes, load_spec(slow).arch.lanes
    assert b < a
    assert plan(load_spec(slow), "ice40-up5k").inferences_per_s >= 30000


def test_quantise_auto_balances_a_network(tmp_path):
    rng = np.random.default_rng(0)
    w = tmp_path / "w.npz"
    np.savez(w, fc1=rng.lognormal(-3, 0.6, (32, 64)) * rng.choice([-1, 1], (32, 64)),
             fc2=rng.lognormal(-3, 0.6, (10, 32)) * rng.choice([-1, 1], (10, 32)))
    out = tmp_path / "n.json"
    assert main(["quantise", str(w), "--arch", "auto", "--target", "ice40-up5k", "--dsp",
                 "-o", str(out)]) == 0
    net = load_spec(out)
    lanes = [la.arch.lanes for la in net.layers]
    assert all(la.arch.kind is Microarch.FOLDED for la in net.layers)
    # balanced: the small layer is not given more lanes than it needs to keep pace
    p = plan(net, "ice40-up5k", dsp=True)
    assert p.fits and lanes[0] >= lanes[1]
    per = [la.cycles_per_vector for la in p.layers]
    assert per[1] <= per[0]


@pytest.mark.parametrize("extra, code, text", [
    (["--arch", "auto"], 2, "--arch auto needs --target"),
    (["--target", "ice40-up5k"], 2, "--target goes with --arch auto"),
    (["--fps", "10", "--dsp"], 2, "--fps, --dsp go with --arch auto"),
    (["--arch", "auto", "--target", "ice40-up5k", "--fps", "1e9"], 1, "inferences/s needs"),
])
def test_goals_that_cannot_be_met_write_nothing(tmp_path, capsys, extra, code, text):
    out = tmp_path / "x.json"
    assert main([*BASE, *extra, "-o", str(out)]) == code
    err = capsys.readouterr().err.strip()
    assert text in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_layer_too_big_for_the_device_is_refused(tmp_path, capsys):
    out = tmp_path / "big.json"
    assert main(["spec", "--inputs", "1536", "--outputs", "384", "--arch", "auto",
                 "--target", "ice40-up5k", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not fit" in err and "SB_RAM40_4K" in err and not out.exists()
