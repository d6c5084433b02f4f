"""``lognet sweep SWEEP.toml``: a design-space sweep on Dask, from a laptop to a cluster.

The sweep file (:mod:`lognet.sweep_config`) names networks and the axes of the grid (picker, K,
arithmetic, tunability, lanes or ``auto``, targets, clocks) and the stages each point runs
(quantise -> integer accuracy -> generate -> synth -> bulk RTL check). :func:`run_sweep` checks
everything it can first (the file, the scheduler, the tools, points no spec can have), loads the
networks once, starts a ``distributed.LocalCluster`` (or joins the scheduler given) and runs the
points through :func:`lognet.sweep_engine.run_points`, whose stage cache makes a rerun, a widened
grid or a restarted sweep compute only what is new. The results land whole in the output folder
(:mod:`lognet.sweep_report`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError

__all__ = ["load_networks", "run_sweep"]

#: invalid or failed points listed on the terminal (the table has them all)
_SHOWN = 10


def _network_key(cfg, name: str) -> str:
    """Hash of what a network is made from: its config, the bytes of the files it names, the
    seed, the sources that load or train it and scikit-learn's version."""
    import dataclasses
    import hashlib
    import json
    from importlib.metadata import version

    from lognet.config import _plain
    from lognet.sweep_stages import source_digest

    nc = cfg.networks[name]
    doc = {"name": name, "config": _plain(dataclasses.asdict(nc)), "seed": cfg.sweep.seed,
           "sources": source_digest("base", "model", "lognet"),
           "sklearn": version("scikit-learn"), "files": {}}
    for k, v in [*doc["config"]["model"].items(), *doc["config"]["data"].items()]:
        if isinstance(v, str) and Path(v).is_file():
            doc["files"][k] = hashlib.sha256(Path(v).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _save_network(net, path: Path) -> None:
    import io
    import json

    from lognet.base.files import atomic_write_bytes

    f = net.in_fmt
    meta = {"name": net.name, "layers": [[n, a, b is not None] for n, _, b, a in net.layers],
            "in_fmt": [f.int_bits, f.frac_bits, f.signed], "float_accuracy": net.float_accuracy}
    arrays = {"x_calib": net.x_calib, "x_test": net.x_test, "truth": net.truth,
              "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i, (_, W, b, _) in enumerate(net.layers):
        arrays[f"W{i}"] = W
        if b is not None:
            arrays[f"b{i}"] = b
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def _load_network(path: Path):
    import json

    from lognet.model.qformat import QFormat
    from lognet.sweep_stages import NetworkData

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            layers = [(n, z[f"W{i}"], z[f"b{i}"] if has_b else None, a)
                      for i, (n, a, has_b) in enumerate(meta["layers"])]
            return NetworkData(meta["name"], layers, z["x_calib"], z["x_test"], z["truth"],
                               QFormat(*meta["in_fmt"]), meta["float_accuracy"])
    except (OSError, ValueError, KeyError):
        return None


def load_networks(cfg, names, cache_dir=None) -> dict:
    """The float networks ``names`` of ``cfg`` (a SweepConfig) as
    :class:`~lognet.sweep_stages.NetworkData`: loaded (or trained) as the flow's ``train``
    step does, or read from ``cache_dir/networks`` when made before from the same inputs."""
    from lognet.config import FlowConfig, JobConfig
    from lognet.flow import step_train
    from lognet.sweep_stages import NetworkData

    out = {}
    for name in names:
        path = Path(cache_dir) / "networks" / f"{_network_key(cfg, name)}.npz" \
            if cache_dir else None
        if path is not None and path.is_file():
            out[name] = _load_network(path)
            if out[name] is not None:
                continue
        nc = cfg.networks[name]
        fc = FlowConfig(flow=JobConfig(name=name, seed=cfg.sweep.seed), model=nc.model,
                        data=nc.data)
        d = step_train(fc)
        out[name] = NetworkData(name, d.layers, d.in_fmt.quantise(d.x_calib),
                                d.in_fmt.quantise(d.x_test), np.asarray(d.truth, np.int64),
                                d.in_fmt, d.float_accuracy)
        if path is not None:
            _save_network(out[name], path)
    return out


def _check_tools(cfg, points) -> None:
    """Missing tools are one line now, not one failure per point later (local clusters)."""
    if cfg.stages.bulk:
        from lognet.sim.build import check_simulator

        check_simulator(cfg.bulk.engine)
    if cfg.stages.synth:
        from lognet.boards.synth import TARGETS
        from lognet.boards.tools import find_tool

        find_tool("yosys")
        if cfg.synth.place:
            for t in sorted({p.target for p in points}):
                find_tool(TARGETS[t].nextpnr)


def _options(cfg):
    from lognet.sweep_engine import Options

    q = cfg.quantise
    return Options(quantise={"level_bits": q.level_bits, "bias_bits": q.bias_bits,
                             "out_bits": q.out_bits, "topology": q.topology,
                             "seed": cfg.sweep.seed},
                   dsp=cfg.synth.dsp, place=cfg.synth.place, timeout=cfg.synth.timeout,
                   bulk_engine=cfg.bulk.engine, bulk_vectors=cfg.bulk.vectors,
                   work_dir=cfg.sweep.work_dir)


def _summary(run, n_points: int) -> str:
    ok = sum(r.status in ("ok", "synthesised") for r in run.results)
    cached = sum(r.cached for r in run.results if r.status != "invalid")
    comp = sum(run.computed.values())
    hit = sum(run.cached.values())
    return (f"{n_points} points: {ok} ok, {run.failed - len(run.invalid)} failed, "
            f"{len(run.invalid)} invalid, {cached} entirely from the cache; stages computed "
            f"{comp}, read from the cache {hit}; {run.seconds:.1f} s")


def _writable(folder: Path) -> bool:
    """Whether ``folder`` can be made or written: an empty folder can be made (and is removed
    at once) in its nearest existing ancestor."""
    import os
    import tempfile

    for p in (folder.absolute(), *folder.absolute().parents):
        if p.exists():
            try:
                os.rmdir(tempfile.mkdtemp(prefix=f".lognet-tmp-{os.getpid()}-", dir=p))
            except OSError:
                return False
            return True
    return False


def _check_folders(out_dir: Path, folders) -> None:
    """The results folder, the stage cache and the work folder: none a file or under one, each
    writable, and none inside another (the results folder is replaced whole at the end, which
    would take a cache or work folder inside it along, and cannot be made where a cache is)."""
    named = [("the results folder", str(out_dir)), *folders]
    for what, folder in folders:
        for p in (Path(folder), *Path(folder).absolute().parents):
            if p.exists() and not p.is_dir():
                raise InputError(f"{what} {folder}: {p} is a file, not a folder")
    for what, folder in named:
        if not _writable(Path(folder)):
            raise InputError(f"{what} {folder}: cannot write there (no permission or not a "
                             f"folder); choose a folder you can write")
    res = Path(out_dir).resolve()
    for what, folder in folders:
        other = Path(folder).resolve()
        if other == res or res in other.parents or other in res.parents:
            raise InputError(f"the results folder {out_dir} and {what} {folder} overlap; give "
                             f"them separate folders (-o, --cache, [sweep] work_dir)")


def run_sweep(path, out=None, *, scheduler: str | None = None, workers: int | None = None,
              force: bool = False, cache: str | None = None, quiet: bool = False) -> int:
    """Run the sweep of ``path`` into the folder ``out``; returns 0 (failed points are
    results, listed in the table)."""
    from lognet.base.files import atomic_folder, check_out_folder
    from lognet.sweep_config import SweepConfig
    from lognet.sweep_engine import connect, local_cluster, run_points
    from lognet.sweep_report import write_outputs
    from lognet.sweep_stages import arch_problem

    cfg = SweepConfig.from_file(path)
    out_dir = check_out_folder(out or cfg.sweep.out, force)
    _check_folders(out_dir, (("[sweep] cache", cache or cfg.sweep.cache),
                             ("[sweep] work_dir", cfg.sweep.work_dir)))
    if scheduler is not None and workers is not None:
        raise InputError("--workers sizes a local cluster; with --scheduler the scheduler's "
                         "own workers run the points: drop one of the two")
    if workers is not None:
        import psutil

        from lognet.sweep_engine import MIN_WORKER_BYTES

        most = max(1, psutil.virtual_memory().total // MIN_WORKER_BYTES)
        if workers > most:
            raise InputError(f"--workers {workers}: this machine's memory holds at most {most} "
                             f"local workers (1 GiB each); give at most {most}, or --scheduler "
                             f"for a cluster")
    live: dict = {}
    if scheduler is not None:
        live["client"] = connect(scheduler)  # an unreachable one is one line, now
    points = cfg.expand()
    invalid = [(p, why) for p in points if (why := arch_problem(p.arith, p.tunable, p.lanes))]
    for p, why in invalid[:_SHOWN]:
        print(f"invalid point (not run): {p.label()}: {why}", file=sys.stderr)
    if len(invalid) > _SHOWN:
        print(f"... and {len(invalid) - _SHOWN} more invalid points (all in results.json)",
              file=sys.stderr)
    cache_dir = cache or cfg.sweep.cache

    def make_client():
        if "client" not in live:
            from distributed import Client

            live["cluster"] = local_cluster(workers or cfg.sweep.workers or None)
            live["client"] = Client(live["cluster"], set_as_default=False)
        c = live["client"]
        print(f"sweep: on {len(c.scheduler_info()['workers'])} Dask worker(s) at "
              f"{c.scheduler.address}", flush=True)
        return c

    try:
        if scheduler is None:
            _check_tools(cfg, points)
        names = sorted({p.network for p in points})
        print(f"sweep: {len(points)} points ({len(invalid)} invalid), networks "
              f"{', '.join(names)}; stages quantise, plan, {', '.join(cfg.stages.names())}",
              flush=True)
        networks = load_networks(cfg, names, cache_dir)
        try:
            run = run_points(points, networks, _options(cfg), cache_dir, make_client,
                             quiet=quiet)
        except KeyboardInterrupt:
            print(f"lognet: sweep interrupted; finished stages are cached in {cache_dir}: run "
                  f"the same command to go on from there", file=sys.stderr)
            raise
    finally:
        if "client" in live:
            live["client"].close()
        if "cluster" in live:
            live["cluster"].close()
    summary = _summary(run, len(points))
    with atomic_folder(out_dir, force=force) as tmp:
        write_outputs(run, tmp, config=cfg.to_json(), summary=summary)
    bad = [r for r in run.results if r.status not in ("ok", "synthesised", "invalid")]
    for r in bad[:_SHOWN]:
        print(f"  {r.status}: {r.point.label()}: {r.reason[:200]}")
    if len(bad) > _SHOWN:
        print(f"  ... and {len(bad) - _SHOWN} more failed points (see results.csv)")
    print(summary)
    print(f"wrote {out_dir}/results.csv, results.json, sweep.html and the Pareto PNGs")
    return 0
