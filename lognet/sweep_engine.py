"""The sweep engine: design-space points run as Dask tasks, one task per stage, every stage's
outcome cached under the hash of its inputs.

The client holds each point's little graph (``quantise -> accuracy``, ``quantise -> plan ->
generate / synth / bulk``, :mod:`lognet.sweep_stages`) and submits a stage as a Dask future as
soon as the stages it depends on have finished, with their results as its arguments. So:

- cheap stages never queue behind synthesis: they carry a higher Dask priority, and a point's
  quantise and plan run while other points synthesise;
- equal stages are one task: two points whose netlists are the same (a writable level table
  does not change the area) share one synthesis, by key;
- a stage's outcome is written to the cache (:class:`Cache`, one JSON file per key, atomic) the
  moment it reaches the client. A rerun, a widened grid or a sweep restarted after Ctrl-C or a
  crash reads what is there and submits only what is missing; a worker that dies (SIGKILL, out
  of memory) loses only its running task, which Dask runs again elsewhere. Since every task
  gets plain values, never a future held on another worker, nothing finished is recomputed.

:func:`run_points` is the whole engine; :func:`local_cluster` and :func:`connect` give it a
client. ``lognet sweep`` (:mod:`lognet.sweep`) and the flow's compare step both use it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, fields
from pathlib import Path

from lognet.base.errors import InputError
from lognet.base.files import atomic_write_text
from lognet.base.records import OPTIONAL, json_fields

from . import sweep_stages as st

__all__ = ["Cache", "Options", "Point", "PointResult", "SweepRun", "connect", "local_cluster",
           "run_points", "worker_memory"]

#: Dask priorities: higher runs first, so cheap stages overtake queued synthesis
_PRIORITY = {"quantise": 50, "accuracy": 40, "plan": 40, "generate": 20, "bulk": 10,
             "synth": 0}
#: largest memory one YoWASP tool run can take: Yosys and nextpnr are 32-bit WebAssembly
#: (4 GiB address space) plus the runtime's own
TOOL_PEAK_BYTES = int(4.5 * 2**30)
#: the least memory a worker process gets for elaboration and the reference
MIN_WORKER_BYTES = 2**30


@dataclass(frozen=True)
class Point:
    """One design-space point on one target."""

    network: str
    picker: str
    K: int
    #: ``shared``, ``factored``, ``shift``, ``multiply`` or ``auto``
    arith: str
    #: ``all``, ``levels`` or ``none``
    tunable: str
    #: ``parallel``, ``folded:P`` or ``auto`` (lanes per layer from the resource plan)
    lanes: str
    target: str
    #: MHz (None: the target's default)
    clock: float | None = None
    #: stages after quantise and plan: any of ``accuracy``, ``generate``, ``synth``, ``bulk``
    stages: tuple[str, ...] = ("accuracy",)

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> Point:
        return cls(**{**d, "stages": tuple(d.get("stages", ()))})

    def label(self) -> str:
        return (f"{self.network} {self.picker} K={self.K} {self.arith}/{self.tunable} "
                f"{self.lanes} {self.target}" + (f"@{self.clock:g}" if self.clock else ""))


@dataclass(frozen=True)
class Options:
    """What every point of a sweep shares."""

    #: quantise_network options: level_bits, bias_bits, out_bits, topology, seed
    quantise: dict = field(default_factory=dict)
    dsp: bool = False
    #: run nextpnr after Yosys (False: cell counts only, no Fmax)
    place: bool = True
    #: seconds one tool run may take (None: no limit)
    timeout: float | None = None
    #: simulator of the bulk stage and how many test vectors it runs
    bulk_engine: str = "verilator"
    bulk_vectors: int = 200
    #: where workers put Verilog, synthesis runs and simulator builds
    work_dir: str = "build/sweep"


def _opt(default=None):
    return field(default=default, metadata=OPTIONAL)


@dataclass(frozen=True)
class PointResult:
    """Every figure of one point on one target (a row of the sweep's table)."""

    point: Point
    #: ``ok``, ``invalid``, ``failed``, ``tool_error``, ``does_not_fit``, ``timing_failed``,
    #: ``rtl_mismatch``, ``synthesised`` (Yosys only), ``error`` (a lost worker, a bug)
    status: str
    reason: str = ""
    #: every stage came from the cache
    cached: bool = False
    spec_hash: str | None = _opt()
    arch: str | None = _opt()
    arith_resolved: tuple[str, ...] | None = _opt()
    int_accuracy: float | None = _opt()
    sqnr_db: tuple[float, ...] | None = _opt()
    lut4_est: int | None = _opt()
    ff_est: int | None = _opt()
    memory_bits: int | None = _opt()
    cycles_per_vector: float | None = _opt()
    clock_mhz: float | None = _opt()
    inferences_per_s: float | None = _opt()
    plan_fits: bool | None = _opt()
    latency_cycles: int | None = _opt()
    lut4: int | None = _opt()
    ff: int | None = _opt()
    carry: int | None = _opt()
    dsp: int | None = _opt()
    bram: int | None = _opt()
    mapper: str | None = _opt()
    fmax_mhz: float | None = _opt()
    timing_met: bool | None = _opt()
    rtl_mismatches: int | None = _opt()
    #: seconds per stage (0 for cached ones)
    seconds: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return json_fields(self)

    @classmethod
    def from_json(cls, d: dict) -> PointResult:
        d = dict(d)
        for k in ("arith_resolved", "sqnr_db"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**{**d, "point": Point.from_json(d["point"])})

    def row(self) -> dict:
        """The flat table row: the point's fields, then the figures."""
        p = self.point.to_json()
        p["stages"] = "+".join(self.point.stages)
        d = {k: v for k, v in json_fields(self).items() if k not in ("point", "seconds")}
        for k in ("arith_resolved", "sqnr_db"):
            if isinstance(d.get(k), (list, tuple)):
                d[k] = " ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in d[k])
        return {**p, **d, "seconds": round(sum(self.seconds.values()), 3)}


#: the table's columns in order
COLUMNS = ([f.name for f in fields(Point)]
           + [f.name for f in fields(PointResult) if f.name != "point"])


class Cache:
    """Stage outcomes by key: ``DIR/<stage>/<key[:2]>/<key>.json``, each written through a
    temporary file and a rename (a kill leaves the file whole or absent)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, stage: str, key: str) -> Path:
        return self.folder / stage / key[:2] / f"{key}.json"

    def get(self, stage: str, key: str) -> dict | None:
        try:
            d = json.loads(self.path(stage, key).read_text())
        except (OSError, ValueError):
            return None
        return d if isinstance(d, dict) and d.get("key") == key else None

    def put(self, outcome: dict) -> None:
        p = self.path(outcome["stage"], outcome["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        keep = {k: v for k, v in outcome.items() if k != "cached"}
        atomic_write_text(p, json.dumps(keep, sort_keys=True, default=float) + "\n")

    def size(self) -> tuple[int, int]:
        """``(files, bytes)`` in the cache."""
        n = b = 0
        if self.folder.is_dir():
            for p in self.folder.rglob("*.json"):
                n += 1
                b += p.stat().st_size
        return n, b


@dataclass
class SweepRun:
    """What :func:`run_points` did."""

    results: list[PointResult]
    #: stage runs computed now, by stage
    computed: dict[str, int]
    #: stage outcomes read from the cache, by stage
    cached: dict[str, int]
    seconds: float
    invalid: list[tuple[Point, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.status not in ("ok", "synthesised") for r in self.results)


# -- clients -------------------------------------------------------------------------------------


def worker_memory(n_workers: int, total: int | None = None) -> int:
    """Memory limit of each of ``n_workers`` worker processes on this machine: what is left
    when every worker runs one Yosys/nextpnr (at most :data:`TOOL_PEAK_BYTES`) beside it, so
    the workers and their tools together cannot exhaust the machine."""
    import psutil

    total = psutil.virtual_memory().total if total is None else total
    return max(MIN_WORKER_BYTES, (total - n_workers * TOOL_PEAK_BYTES) // max(n_workers, 1))


def default_workers() -> int:
    """One worker per core, fewer when the memory does not hold a tool run for each."""
    import psutil

    total = psutil.virtual_memory().total
    by_memory = max(1, total // (TOOL_PEAK_BYTES + MIN_WORKER_BYTES))
    return max(1, min(os.cpu_count() or 1, by_memory))


def local_cluster(workers: int | None = None, *, processes: bool = True):
    """A ``distributed.LocalCluster`` here: ``workers`` processes (default
    :func:`default_workers`) of one thread each, memory limits from :func:`worker_memory`.
    ``processes=False``: one in-process worker with ``workers`` threads (small sweeps)."""
    import logging

    from distributed import LocalCluster

    n = workers or default_workers()
    if processes:
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                            memory_limit=worker_memory(n), dashboard_address=":0",
                            silence_logs=logging.ERROR)
    return LocalCluster(n_workers=1, threads_per_worker=n, processes=False,
                        dashboard_address=":0", silence_logs=logging.ERROR)


def connect(address: str, timeout: float = 5.0):
    """A client of the Dask scheduler at ``address``, or InputError within ``timeout``
    seconds naming it."""
    import asyncio
    import socket

    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    t0 = time.perf_counter()
    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):
            # a refused port fails here at once (Dask itself retries until its timeout)
            socket.create_connection(parse_host_port(loc), timeout=timeout / 2).close()
        asyncio.run(_handshake(address, timeout / 2))  # something that is not Dask fails here
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as e:
        why = " ".join(str(e).split())[:160] or type(e).__name__
        if not isinstance(e, (OSError, TimeoutError, ValueError)):
            why = f"what answers is not a Dask scheduler: {why}"
        raise InputError(f"cannot reach the Dask scheduler at {address} ({why}, after "
                         f"{time.perf_counter() - t0:.1f} s); check the address, or leave "
                         f"--scheduler out to start a local cluster") from None


async def _handshake(address: str, timeout: float) -> None:
    from distributed.comm import connect as comm_connect

    comm = await comm_connect(address, timeout=timeout)
    await comm.close()


def _warm_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmTools(WorkerPlugin):
        """Warms the YoWASP tools once per worker process, in a thread (the worker keeps
        answering the scheduler); synthesis tasks wait for it."""

        name = "lognet-warm-tools"

        def setup(self, worker):
            import threading

            threading.Thread(target=st.warm_tools, daemon=True, name="lognet-warm").start()

    return WarmTools()


# -- the engine ----------------------------------------------------------------------------------


class _Job:
    """One point's stages: what is asked and what has come back."""

    def __init__(self, point: Point):
        self.point = point
        self.keys: dict[str, str] = {}
        self.out: dict[str, dict] = {}

    def done(self) -> bool:
        return set(self.keys) <= set(self.out)


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="point", desc="sweep", file=sys.stderr, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


def _the_network(network):
    """The network a sweep's stages take, as a task result (see ``net_future``)."""
    return network


def run_points(points, networks: dict, options: Options, cache_dir, client, *,
               quiet: bool = False, on_result=None) -> SweepRun:
    """Run every point (a list of :class:`Point`) on ``client`` (a ``distributed.Client``,
    or a function that makes one when the first task is submitted) with the networks named by
    the points (``{name: NetworkData}``), reading and writing the stage cache in
    ``cache_dir``. Points whose arithmetic, tunability and lanes no spec can
    have are reported (``SweepRun.invalid``) and never run. ``on_result(PointResult)`` is
    called as each point finishes. Ctrl-C cancels the running tasks (what finished stays
    cached) and raises KeyboardInterrupt."""
    from distributed import as_completed

    t0 = time.perf_counter()
    cache = Cache(cache_dir)
    cache_text = str(Path(cache_dir).absolute())
    # Task names carry this run's id: a rerun right after Ctrl-C on the same scheduler must
    # not reuse a name the scheduler is still cancelling (its future would come back
    # cancelled, as an error, instead of being computed).
    run_id = uuid.uuid4().hex[:8]
    invalid, jobs = [], []
    for p in points:
        why = st.arch_problem(p.arith, p.tunable, p.lanes)
        if why:
            invalid.append((p, why))
        else:
            jobs.append(_Job(p))
    results = [PointResult(p, "invalid", why) for p, why in invalid]
    computed: dict[str, int] = {}
    from_cache: dict[str, int] = {}
    if not jobs:
        return SweepRun(results, computed, from_cache, time.perf_counter() - t0, invalid)
    net_futs: dict = {}
    live: dict = {}

    def dask():
        """The client, made on the first task (a sweep found whole in the cache needs none);
        the warm-up plugin goes on with it."""
        if "client" not in live:
            cl = client() if callable(client) else client
            if any("synth" in j.point.stages for j in jobs):
                cl.register_plugin(_warm_plugin(), name="lognet-warm-tools")
            live["client"] = cl
            live["ac"] = as_completed(loop=cl.loop)
        return live["client"]

    def net_future(name):
        # a task that returns the network, not scattered data: scattered data on a worker that
        # dies is lost for good (and every stage waiting for it fails), while a lost task
        # result is made again from the task, which the scheduler keeps
        if name not in net_futs:
            net_futs[name] = dask().submit(_the_network, networks[name], pure=False,
                                           key=f"lognet-network-{name}-{run_id}")
        return net_futs[name]

    memo: dict[str, dict] = {}
    waiting: dict[str, list[tuple[_Job, str]]] = {}
    inflight = {}
    ready: deque = deque()
    bar = _progress(len(jobs), quiet)
    failed = cached_points = 0
    work = Path(options.work_dir).absolute()

    def ask(job: _Job, stage: str, args: dict, net: bool = False, **key_inputs):
        key = st.stage_key(stage, **key_inputs)
        job.keys[stage] = key
        if key in memo:
            ready.append((job, stage, memo[key]))
            return
        hit = cache.get(stage, key)
        if hit is not None:
            memo[key] = {**hit, "cached": True}
            from_cache[stage] = from_cache.get(stage, 0) + 1
            ready.append((job, stage, memo[key]))
            return
        waiting.setdefault(key, []).append((job, stage))
        if key in inflight:
            return
        if stage in ("generate", "synth"):
            args = {**args, "folder": str(work / stage / key)}
        if stage == "bulk":
            args = {**args, "build_dir": str(work / "bulk-build")}
        fut = dask().submit(st.run_stage, stage, key, cache_text, args,
                            net_future(job.point.network) if net else None,
                            key=f"lognet-{stage}-{key}-{run_id}", priority=_PRIORITY[stage],
                            pure=False, retries=0)
        inflight[key] = fut
        live["ac"].add(fut)

    def advance(job: _Job) -> None:
        p, out = job.point, job.out
        if not job.keys:
            ask(job, "quantise", {"picker": p.picker, "K": p.K, "options": options.quantise},
                net=True, network=networks[p.network].key, picker=p.picker, K=p.K,
                options=options.quantise)
            return
        q = out.get("quantise")
        if q is None or not q["ok"]:
            return
        spec = q["value"]["spec"]
        if "accuracy" in p.stages and "accuracy" not in job.keys:
            ask(job, "accuracy", {"spec": spec}, net=True, quantise=job.keys["quantise"],
                network=networks[p.network].key)
        if "plan" not in job.keys:
            opts = {"arith": p.arith, "tunable": p.tunable, "lanes": p.lanes,
                    "target": p.target, "clock": p.clock, "dsp": options.dsp}
            ask(job, "plan", {"spec": spec, **opts}, quantise=job.keys["quantise"], **opts)
        pl = out.get("plan")
        if pl is None or not pl["ok"]:
            return
        v = pl["value"]
        base = {"spec": spec, "arches": v["arches"]}
        if "generate" in p.stages and "generate" not in job.keys:
            ask(job, "generate", base, spec_hash=v["spec_hash"])
        if "synth" in p.stages and "synth" not in job.keys:
            opts = {"target": p.target, "clock": p.clock, "dsp": options.dsp,
                    "place": options.place, "timeout": options.timeout}
            ask(job, "synth", {**base, **opts}, structure=v["structure_key"], **opts)
        if "bulk" in p.stages and "bulk" not in job.keys:
            opts = {"engine": options.bulk_engine,
                    "vectors": min(options.bulk_vectors, len(networks[p.network].x_test))}
            ask(job, "bulk", {**base, **opts}, net=True, spec_hash=v["spec_hash"],
                network=networks[p.network].key, **opts)

    def deliver(job: _Job, stage: str, outcome: dict) -> None:
        nonlocal failed, cached_points
        job.out[stage] = outcome
        advance(job)
        if job.done():
            r = _result(job)
            results.append(r)
            failed += r.status not in ("ok", "synthesised")
            cached_points += r.cached
            bar.update(1)
            bar.set_postfix(failed=failed, cached=cached_points, refresh=False)
            if on_result is not None:
                on_result(r)

    try:
        for job in jobs:
            advance(job)
        while ready or inflight:
            while ready:
                deliver(*ready.popleft())
            if not inflight:
                break
            fut = next(live["ac"])
            key = next(k for k, f in inflight.items() if f is fut)
            del inflight[key]
            stage = fut.key.split("-")[1]
            try:
                outcome = fut.result()
            except Exception as e:  # a lost worker or a bug: recorded, not cached
                outcome = {"stage": stage, "key": key, "ok": False, "status": "error",
                           "reason": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}",
                           "value": {}, "seconds": 0.0, "cached": False}
            else:
                if outcome.get("cached"):
                    from_cache[stage] = from_cache.get(stage, 0) + 1
                else:
                    cache.put(outcome)
                    computed[stage] = computed.get(stage, 0) + 1
            fut.release()
            memo[key] = outcome
            for job, s in waiting.pop(key, []):
                ready.append((job, s, outcome))
    except BaseException:
        if inflight:
            live["client"].cancel(list(inflight.values()))
        raise
    finally:
        bar.close()
        for f in net_futs.values():
            f.release()
    order = {id(p): i for i, p in enumerate(points)}
    results.sort(key=lambda r: order.get(id(r.point), 0))
    return SweepRun(results, computed, from_cache, time.perf_counter() - t0, invalid)


def _result(job: _Job) -> PointResult:
    """The table row of a finished job."""
    out = job.out
    fig: dict = {}
    status, reason = "ok", ""
    for stage in st.STAGES:
        o = out.get(stage)
        if o is None:
            continue
        if not o["ok"] and status == "ok":
            status, reason = o["status"], f"{stage}: {o['reason']}"
    q = out.get("quantise", {}).get("value", {})
    if "sqnr_db" in q:
        fig["sqnr_db"] = tuple(q["sqnr_db"])
    a = out.get("accuracy", {}).get("value", {})
    if "int_accuracy" in a:
        fig["int_accuracy"] = a["int_accuracy"]
    p = out.get("plan", {}).get("value", {})
    if p:
        fig.update(spec_hash=p["spec_hash"], arch=p["arch"],
                   arith_resolved=tuple(p["arith_resolved"]), lut4_est=p["lut4_est"],
                   ff_est=p["ff_est"], memory_bits=p["memory_bits"],
                   cycles_per_vector=p["cycles_per_vector"], clock_mhz=p["clock_mhz"],
                   inferences_per_s=p["inferences_per_s"], plan_fits=p["fits"])
    g = out.get("generate", {}).get("value", {})
    if g:
        fig["latency_cycles"] = g["latency_cycles"]
    s = out.get("synth", {}).get("value", {})
    if s:
        c = s["core"]
        fig.update(lut4=c["lut4"], ff=c["ff"], carry=c["carry"], dsp=c["dsp"],
                   bram=c["bram"], mapper=s["mapper"], fmax_mhz=s["fmax_mhz"],
                   timing_met=s["met"])
        if status == "ok" and s["status"] != "ok":
            status, reason = s["status"], f"synth: {s['reason']}"
        if s["fmax_mhz"] and p:
            fig["inferences_per_s"] = min(p["clock_mhz"], s["fmax_mhz"]) * 1e6 / \
                p["cycles_per_vector"]
    b = out.get("bulk", {})
    if b.get("value"):
        fig["rtl_mismatches"] = b["value"]["mismatches"]
    seconds = {k: (0.0 if o.get("cached") else o["seconds"]) for k, o in out.items()}
    cached = all(o.get("cached") for o in out.values())
    return PointResult(job.point, status, reason, cached, seconds=seconds, **fig)
