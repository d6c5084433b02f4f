"""`lognet fit` on a transformer-sized checkpoint, and the level pickers' SQNR on real-ish weights.

    python benchmarks/fit.py [--quick] [--out benchmarks/results/fit.json]

(a) A synthetic safetensors checkpoint shaped like a small transformer (d = 512, 6 blocks, a
2048-token vocabulary): per block four attention matrices (512 x 512), an MLP up (2048 x 512)
and down (512 x 2048) matrix, their biases, two LayerNorm gains (1 + noise) and biases; token and
position embeddings, a final LayerNorm, an int64 ``position_ids`` buffer and one all-zero bias:
101 arrays, 20.2 M weights. Matrices are lognormal magnitudes with random signs (sigma 0.55 to
0.95), Student-t (df 3 to 8) or Gaussian, float32. ``lognet fit`` runs on it in a fresh process
(default selection, then ``--all``): wall clock, CPU time, and the peak of the summed resident
memory of it and its worker processes. Target: <= 60 s and <= 1 GB on 2 cores.

(b) The pickers' SQNR (dB, before rounding to the level format) at K = 4, 8, 16 on the digits
MLP of :mod:`lognet.model.train` (each layer on its own, and pooled) and on four matrices of the
checkpoint above (one of each kind), with the picker ``auto`` picks.

``--quick``: one block (17 arrays) and K = 8 only.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lognet.model.levels import PICKERS, pick_levels
from lognet.model.train import train_digits_mlp

D, VOCAB, HIDDEN = 512, 2048, 2048


def _matrix(rng, shape, kind: str) -> np.ndarray:
    n = int(np.prod(shape))
    if kind == "lognormal":
        sigma = rng.uniform(0.55, 0.95)
        m = np.exp(rng.normal(np.log(0.02) - sigma**2, sigma, n)) * rng.choice([-1.0, 1.0], n)
    elif kind == "student-t":
        m = rng.standard_t(rng.uniform(3, 8), n) * 0.015
    else:
        m = rng.normal(0, 0.02, n)
    return m.reshape(shape).astype(np.float32)


def build_checkpoint(path: Path, blocks: int = 6, seed: int = 0) -> dict:
    """Write the synthetic checkpoint; returns its array and weight counts."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    kinds = ("lognormal", "lognormal", "student-t", "gaussian")
    t = {"tok_emb.weight": _matrix(rng, (VOCAB, D), "gaussian"),
         "pos_emb.weight": _matrix(rng, (D, D), "gaussian"),
         "position_ids": np.arange(D, dtype=np.int64)[None, :]}
    for b in range(blocks):
        p = f"blocks.{b}."
        for j, name in enumerate(("q", "k", "v", "o")):
            t[f"{p}attn.{name}.weight"] = _matrix(rng, (D, D), kinds[(b + j) % 4])
            t[f"{p}attn.{name}.bias"] = rng.normal(0, 0.01, D).astype(np.float32)
        for ln in ("ln1", "ln2"):
            t[f"{p}{ln}.weight"] = (1 + rng.normal(0, 0.05, D)).astype(np.float32)
            t[f"{p}{ln}.bias"] = rng.normal(0, 0.02, D).astype(np.float32)
        t[f"{p}mlp.up.weight"] = _matrix(rng, (HIDDEN, D), kinds[b % 4])
        t[f"{p}mlp.up.bias"] = rng.normal(0, 0.01, HIDDEN).astype(np.float32)
        t[f"{p}mlp.down.weight"] = _matrix(rng, (D, HIDDEN), kinds[(b + 1) % 4])
        t[f"{p}mlp.down.bias"] = rng.normal(0, 0.01, D).astype(np.float32)
    t["blocks.0.attn.v.bias"][:] = 0  # an all-zero bias, as a freshly initialised model has
    t["ln_f.weight"] = (1 + rng.normal(0, 0.05, D)).astype(np.float32)
    t["ln_f.bias"] = rng.normal(0, 0.02, D).astype(np.float32)
    save_file(t, str(path))
    return {"arrays": len(t), "weights": int(sum(a.size for a in t.values())),
            "matrices": sum(1 for a in t.values() if a.ndim >= 2 and a.dtype.kind == "f"),
            "bytes": path.stat().st_size}


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), MB."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def time_fit(ckpt: Path, out: Path, *extra: str) -> dict:
    """``lognet fit`` in a fresh process: wall time, CPU time (its own and its workers'), and
    the peak of the summed resident memory of it and its worker processes (sampled every
    0.1 s)."""
    import os

    t0 = time.perf_counter()
    peak = 0.0
    with open(out.with_suffix(".log"), "w+") as log:
        p = subprocess.Popen([sys.executable, "-m", "lognet.cli", "fit", str(ckpt), "-o",
                              str(out), *extra], stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_rss_mb(p.pid))
            time.sleep(0.1)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        log.seek(0)
        text = log.read()
    r = subprocess.CompletedProcess(p.args, p.returncode, text, text)
    if r.returncode != 0:
        raise SystemExit(f"lognet fit failed: {r.stderr.strip()}")
    d = json.loads((out / "fit.json").read_text())
    s = d["summary"]
    return {"options": list(extra), "seconds": wall,
            "peak_rss_mb": peak, "largest_process_rss_mb": usage.ru_maxrss / 1024,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "fitted": len(d["layers"]), "skipped": len(d["skipped"]),
            "failed": [f["name"] for f in d["failed"]],
            "r2": s["table2"]["r2"], "sigma": s["table2"]["sigma"],
            "control_r2": s["control"]["r2"], "control_sigma": s["control"]["sigma"],
            "family_ranks": s["family_ranks"], "flags": {k: len(v) for k, v in s["flags"].items()}}


def picker_rows(sets: dict, Ks) -> list[dict]:
    rows = []
    for name, w in sets.items():
        for K in Ks:
            row = {"weights": name, "K": K, "n": int(w.size)}
            for p in PICKERS:
                if p == "auto":
                    continue
                row[p] = pick_levels(w, K, p).sqnr_db
            a = pick_levels(w, K, "auto")
            row["auto"] = a.sqnr_db
            row["auto_picked"] = a.chosen
            rows.append(row)
            best = max((p for p in PICKERS if p != "auto"), key=lambda p: row[p])
            print(f"{name:<24} {K:>3} " + " ".join(f"{row[p]:>9.2f}" for p in PICKERS
                                                    if p != "auto")
                  + f"   auto: {a.chosen}" + ("" if a.chosen == best else f" (max {best})"),
                  flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one block, K = 8 only")
    ap.add_argument("--out", default="benchmarks/results/fit.json")
    args = ap.parse_args()
    import os

    result = {"machine": platform.platform(), "python": platform.python_version(),
              "cores": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as td:
        ckpt = Path(td) / "checkpoint.safetensors"
        info = build_checkpoint(ckpt, blocks=1 if args.quick else 6)
        result["checkpoint"] = info
        print(f"checkpoint: {info['arrays']} arrays, {info['weights'] / 1e6:.1f} M weights, "
              f"{info['matrices']} float matrices, {info['bytes'] / 2**20:.0f} MiB", flush=True)
        runs = []
        for extra in ((), ("--all",)):
            r = time_fit(ckpt, Path(td) / f"fit{len(runs)}", *extra)
            runs.append(r)
            print(f"lognet fit {' '.join(extra) or '(default)':<10} {r['seconds']:6.1f} s "
                  f"(CPU {r['cpu_seconds']:.1f} s)  "
                  f"peak RSS {r['peak_rss_mb']:6.0f} MB  fitted {r['fitted']}, skipped "
                  f"{r['skipped']}, failed {r['failed']}  R^2 {r['r2']['mean']:.3f} +- "
                  f"{r['r2']['sd']:.3f} (control {r['control_r2']['mean']:.3f})  flags "
                  f"{r['flags']}", flush=True)
        result["fit_runs"] = runs
        result["load_average_after_fits"] = os.getloadavg()
        print(f"load average (1, 5, 15 min) before {result['load_average_before']}, after "
              f"{result['load_average_after_fits']}: wall time on a shared machine stretches "
              f"with it; the CPU time does not", flush=True)
        from safetensors.numpy import load_file

        t = load_file(str(ckpt))
        sample = {k: t[k] for k in ("blocks.0.attn.q.weight", "blocks.0.attn.k.weight",
                                    "blocks.0.attn.v.weight", "blocks.0.attn.o.weight")}
    mlp = train_digits_mlp()
    sets = {f"digits {n}": W for n, W, _, _ in mlp["layers"]}
    sets["digits pooled"] = np.concatenate([W.ravel() for _, W, _, _ in mlp["layers"]])
    kinds = {"blocks.0.attn.q.weight": "lognormal", "blocks.0.attn.k.weight": "lognormal",
             "blocks.0.attn.v.weight": "student-t", "blocks.0.attn.o.weight": "gaussian"}
    for k, w in sample.items():
        sets[f"ckpt {k.split('.')[3]} ({kinds[k]})"] = w
    Ks = (8,) if args.quick else (4, 8, 16)
    short = {"lognormal-quantile": "LN-quant", "lognormal-lloyd": "LN-lloyd"}
    print(f"\nSQNR in dB before rounding (the best of each row: the picker auto takes)\n"
          f"{'weights':<24} {'K':>3} " + " ".join(f"{short.get(p, p):>9}" for p in PICKERS
                                                  if p != "auto"))
    result["pickers"] = picker_rows(sets, Ks)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
