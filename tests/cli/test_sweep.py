"""`lognet sweep` on a real Dask LocalCluster with 2 workers (no mocks): the table, the cache
(a rerun computes nothing, a widened grid only the new points, an interrupted sweep resumes and
a sweep that loses a worker finishes, with no stage computed twice), invalid points refused before
any work, bad input as one line."""

import json
import time

import numpy as np
import pytest
from support.clitools import assert_user_error, run

from lognet.sweep_config import SweepConfig


def _network(tmp_path):
    """A two-layer float MLP (10-6-3) of our own with 40 labelled test inputs."""
    rng = np.random.default_rng(1)
    W1, b1 = rng.lognormal(-2, 0.6, (6, 10)) * rng.choice([-1, 1], (6, 10)), rng.normal(0, .1, 6)
    W2, b2 = rng.lognormal(-2, 0.6, (3, 6)) * rng.choice([-1, 1], (3, 6)), rng.normal(0, .1, 3)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": W1, "fc1.bias": b1, "fc2.weight": W2,
                                      "fc2.bias": b2})
    x = rng.uniform(-1, 1, (40, 10))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (np.maximum(x @ W1.T + b1, 0) @ W2.T + b2).argmax(1))


def _sweep(tmp_path, K=(2, 4), extra="", arith=("auto", "multiply"),
           tunable=("levels", "all")):
    _network(tmp_path)
    p = tmp_path / "sweep.toml"
    p.write_text(f"""
[sweep]
cache = "{tmp_path / 'cache'}"
work_dir = "{tmp_path / 'work'}"
[networks.mlp]
weights = "mlp.npz"
x_test = "x.npy"
y_test = "y.npy"
[grid]
picker = ["optimal", "uniform"]
K = {list(K)}
arith = {json.dumps(list(arith))}
tunable = {json.dumps(list(tunable))}
lanes = [1, "auto"]
[stages]
synth = false
{extra}
""")
    return p


def _counts(out):
    return json.loads((out / "results.json").read_text())["counts"]


def _cache_files(tmp_path, stages=("quantise", "accuracy", "plan")):
    """Outcome files in the sweep's stage cache, by stage."""
    return {stage: len(list((tmp_path / "cache" / stage).rglob("*.json"))) for stage in stages}


@pytest.fixture(scope="module")
def dask_client():
    """A real LocalCluster of 2 worker processes, as ``lognet sweep`` starts by default."""
    from distributed import Client

    from lognet.sweep_engine import local_cluster

    with local_cluster(2) as cluster, Client(cluster, set_as_default=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


def _main(capsys, *args):
    """``lognet ARGS`` in this process: (exit code, stdout, stderr)."""
    from lognet.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sweep_cache_and_widening(tmp_path, monkeypatch, capsys, dask_client):
    monkeypatch.chdir(tmp_path)
    cfg = _sweep(tmp_path)
    out = tmp_path / "out"
    addr = dask_client.scheduler.address
    code, stdout, stderr = _main(capsys, "sweep", cfg, "-o", out, "--scheduler", addr)
    assert code == 0, stderr
    # invalid points are named before any work starts
    assert stderr.count("invalid point (not run)") == 8
    assert "multiply stores plain weights" in stderr
    assert "on 2 Dask worker(s)" in stdout
    doc = json.loads((out / "results.json").read_text())
    c = doc["counts"]
    assert c["points"] == 32 and c["invalid"] == 8 and c["failed"] == 8
    # 2 pickers x 2 K quantised once each; 24 valid points planned; accuracy per quantisation
    assert c["stages_computed"] == {"quantise": 4, "accuracy": 4, "plan": 24}
    assert c["stages_cached"] == {}
    ok = [p for p in doc["points"] if p["status"] == "ok"]
    assert len(ok) == 24 and all(len(p["spec_hash"]) == 16 for p in ok)
    auto = [p for p in ok if p["point"]["lanes"] == "auto"]
    assert auto and all(p["arch"].startswith("folded:") for p in auto)
    # the accuracy is exactly the integer reference's top-1 of the spec quantised the same way
    from lognet.model.quantise import quantise_network
    from lognet.model.reference import reference
    from lognet.sweep import load_networks

    net = load_networks(SweepConfig.from_file(cfg), ["mlp"])["mlp"]
    spec, _ = quantise_network(net.layers, K=4, picker="uniform", name="mlp",
                               in_fmt=net.in_fmt, calib_x=net.x_calib, level_bits=8,
                               bias_bits=16, out_bits=8, topology="dense", seed=0)
    want = float(np.mean(reference(spec, net.x_test).argmax(1) == net.truth))
    got = {p["int_accuracy"] for p in ok if p["point"]["picker"] == "uniform"
           and p["point"]["K"] == 4}
    assert got == {want}
    assert (out / "results.csv").read_text().count("\n") == 33
    assert (out / "pareto_ice40-up5k.png").stat().st_size > 1000
    assert "data:image/png;base64" in (out / "sweep.html").read_text()

    # a rerun reads everything from the cache: nothing computed, no cluster started
    code, stdout, stderr = _main(capsys, "sweep", cfg, "-o", out, "--force")
    assert code == 0, stderr
    assert "Dask worker" not in stdout
    c = _counts(out)
    assert c["stages_computed"] == {}
    assert c["stages_cached"] == {"quantise": 4, "accuracy": 4, "plan": 24}

    # a widened grid (K = 8 added) computes only the new points
    cfg = _sweep(tmp_path, K=(2, 4, 8))
    code, _, stderr = _main(capsys, "sweep", cfg, "-o", out, "--force", "--scheduler", addr)
    assert code == 0, stderr
    c = _counts(out)
    assert c["points"] == 48
    assert c["stages_computed"] == {"quantise": 2, "accuracy": 2, "plan": 12}
    assert c["stages_cached"] == {"quantise": 4, "accuracy": 4, "plan": 24}


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, monkeypatch, dask_client):
    """Ctrl-C after a few points; the rerun computes exactly the stages that had not
    finished, so no stage is computed twice over the two runs."""
    from lognet.sweep import _options, load_networks
    from lognet.sweep_engine import run_points

    monkeypatch.chdir(tmp_path)
    cfg = SweepConfig.from_file(_sweep(tmp_path))
    points = cfg.expand()
    nets = load_networks(cfg, ["mlp"])
    seen = []

    def stop_after_three(r):
        seen.append(r)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_points(points, nets, _options(cfg), cfg.sweep.cache, dask_client, quiet=True,
                   on_result=stop_after_three)
    first = _cache_files(tmp_path)
    assert 0 < sum(first.values()) < 32
    second = run_points(points, nets, _options(cfg), cfg.sweep.cache, dask_client, quiet=True)
    for stage, n in {"quantise": 4, "accuracy": 4, "plan": 24}.items():
        assert first[stage] + second.computed.get(stage, 0) == n, stage
        assert second.cached.get(stage, 0) == first[stage], stage
    assert len(second.results) == 32 and second.failed == 8  # the 8 invalid ones


def test_sweep_bad_input(tmp_path):
    from lognet.base.errors import InputError

    cfg = _sweep(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace("picker =", "pickr ="))
    assert_user_error(run("sweep", bad, "-o", tmp_path / "o"),
                      "unknown key [grid] pickr; did you mean 'picker'?")
    text = cfg.read_text()
    for old, new, msg in [('lanes = [1, "auto"]', 'lanes = ["fast"]', "lanes value 'fast'"),
                          ("[stages]", "[stage]", r"unknown section \[stage\]; did you mean"),
                          ('"optimal", "uniform"', '"optimal", "unifrom"', "did you mean"),
                          ("[grid]", "[networks.mlp2]\nweigths = 'a'\n[grid]",
                           "unknown key \\[networks.mlp2\\] weigths; did you mean 'weights'")]:
        bad.write_text(text.replace(old, new))
        with pytest.raises(InputError, match=msg):
            SweepConfig.from_file(bad)
    t0 = time.perf_counter()
    r = run("sweep", cfg, "-o", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9",
            cwd=tmp_path)
    assert time.perf_counter() - t0 < 10
    assert_user_error(r, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()


def test_config_points_and_defaults(tmp_path):
    c = SweepConfig.from_dict({"points": [{"picker": "pow2", "K": 4, "arith": "shift",
                                           "lanes": "folded:2"}]})
    (p,) = c.expand()
    assert (p.network, p.picker, p.K, p.arith, p.lanes, p.target) == \
        ("digits", "pow2", 4, "shift", "folded:2", "ice40-up5k")
    assert p.stages == ("accuracy", "synth")
    d = SweepConfig.from_file("lognet/default_sweep.toml")
    assert len(d.expand()) == 24


def test_killed_worker_sweep_finishes_without_recomputing(tmp_path, monkeypatch):
    """SIGKILL of a worker process while it holds a stage (once a point has finished): Dask runs
    the lost task again on a live worker, so the same run finishes every point with each stage
    computed once (one cache file per computed stage), and a rerun computes nothing."""
    import os
    import signal

    from distributed import Client

    from lognet.sweep import _options, load_networks
    from lognet.sweep_engine import local_cluster, run_points

    monkeypatch.chdir(tmp_path)
    # 8 valid points; their generate stage (Amaranth to Verilog, about a second each) keeps
    # both workers busy while the first points finish
    cfg = SweepConfig.from_file(_sweep(tmp_path, extra="generate = true", arith=("auto",),
                                       tunable=("all",)))
    points = cfg.expand()
    nets = load_networks(cfg, ["mlp"])
    want = {"quantise": 4, "accuracy": 4, "plan": 8, "generate": 8}
    killed = {}

    # a cluster of its own: the module's dask_client keeps both its workers
    with local_cluster(2) as cluster, Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        assert len(pids) == 2

        def kill_a_busy_worker(r):
            """SIGKILL the worker holding the most tasks (none busy: try on the next point)."""
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if killed or not busy:
                return
            victim = max(busy, key=lambda w: len(busy[w]))
            killed.update(worker=victim, keys=list(busy[victim]))
            os.kill(pids[victim], signal.SIGKILL)

        run = run_points(points, nets, _options(cfg), cfg.sweep.cache, client, quiet=True,
                         on_result=kill_a_busy_worker)
        assert killed, "no worker was busy when a point finished"
        # the scheduler gave a task the dead worker held to a worker again
        story = client.story(*killed["keys"])
        assert any(sum(e[0] == "scheduler" and e[1] == k and e[3] == "processing"
                       for e in story) >= 2 for k in killed["keys"]), story
        rerun = run_points(points, nets, _options(cfg), cfg.sweep.cache, client, quiet=True)

    assert len(run.results) == 8 and run.failed == 0
    assert {r.status for r in run.results} == {"ok"}, [r.reason for r in run.results]
    assert all(r.latency_cycles is not None for r in run.results)
    assert run.computed == want and run.cached == {}
    assert _cache_files(tmp_path, want) == want
    assert rerun.computed == {} and rerun.cached == want
    assert [r.status for r in rerun.results] == ["ok"] * 8
