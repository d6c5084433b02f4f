"""``lognet flow``: the whole job in timed steps, ending in one report folder.

Steps: ``train`` (or load) -> ``fit`` (per-layer distribution analysis) -> ``quantise`` (the
main NetworkSpec) -> ``compare`` (pickers x K by bit-exact integer accuracy) -> ``generate``
(Verilog, register map) -> ``simulate`` (the RTL on the test split, every output compared with
the integer reference) -> ``report`` (report.json, report.html with inline plots, PNGs).

Any RTL output that differs from the integer reference fails the flow (exit 1) and names the
first diverging sample and output. Steps can be skipped with ``--skip STEP``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

from lognet.model.errors import InputError

__all__ = ["DEFAULT_CONFIG", "run_flow"]

DEFAULT_CONFIG = Path(__file__).with_name("default_flow.toml")
STEPS = ("train", "fit", "quantise", "compare", "generate", "simulate", "report")
REPORT_VERSION = 1


def load_config(path) -> dict:
    p = Path(path) if path else DEFAULT_CONFIG
    if not p.exists():
        raise InputError(f"{p}: no such config file")
    try:
        if p.suffix == ".json":
            return json.loads(p.read_text())
        return tomllib.loads(p.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{p}: not a valid config ({str(e).splitlines()[0]})") from None


class _Steps:
    def __init__(self, skip):
        self.skip = set(skip)
        bad = self.skip - set(STEPS)
        if bad:
            raise InputError(f"unknown step {sorted(bad)[0]!r}; steps are {', '.join(STEPS)}")
        self.times: dict[str, float] = {}

    def run(self, name, fn):
        if name in self.skip:
            print(f"[{name}] skipped")
            self.times[name] = 0.0
            return None
        print(f"[{name}] ...", flush=True)
        t0 = time.perf_counter()
        out = fn()
        self.times[name] = time.perf_counter() - t0
        print(f"[{name}] done in {self.times[name]:.1f} s", flush=True)
        return out


def _png_b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def _plot_levels(w, levels_real, title, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = np.abs(w.ravel())
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(a, bins=120, color="#bbb")
    for v in levels_real:
        ax.axvline(v, color="r", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("|w| (red: picked levels after rounding)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_compare(rows, float_acc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for p in sorted({r["picker"] for r in rows}):
        rs = sorted((r for r in rows if r["picker"] == p), key=lambda r: r["K"])
        ax.plot([r["K"] for r in rs], [100 * r["int_accuracy"] for r in rs], "o-", label=p)
    ax.axhline(100 * float_acc, color="k", ls="--", lw=0.8, label="float")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("levels K")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_confusion(y_true, y_pred, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = int(max(y_true.max(), y_pred.max())) + 1
    cm = np.zeros((n, n), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7)
    ax.set_xlabel("RTL prediction")
    ax.set_ylabel("true label")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return cm.tolist()


def _plot_times(times, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = list(times)
    ax.barh(names, [times[n] for n in names], color="#69c")
    ax.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_flow(config=None, out=None, force=False, skip=()) -> int:
    from lognet import __version__
    from lognet.hw.amsim import stream_through
    from lognet.hw.export import build_core, generate
    from lognet.model.fit import analyse_layer, plot_layer
    from lognet.model.qformat import QFormat
    from lognet.model.quantise import quantise_network
    from lognet.model.reference import reference
    from lognet.model.spec import Arch, dump_spec
    from lognet.model.train import train_digits_mlp

    cfg = load_config(config)
    fcfg = cfg.get("flow", {})
    qcfg = cfg.get("quantise", {})
    ccfg = cfg.get("compare", {})
    scfg = cfg.get("simulate", {})
    seed = int(fcfg.get("seed", 0))
    out_dir = Path(out or fcfg.get("out", "report"))
    if out_dir.exists() and not force:
        raise InputError(f"{out_dir} already exists; choose another folder or pass --force")
    steps = _Steps(skip)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    report: dict = {"report_version": REPORT_VERSION, "lognet_version": __version__,
                    "config": cfg}
    try:
        data = steps.run("train", lambda: train_digits_mlp(
            hidden=tuple(cfg.get("model", {}).get("hidden", [32])), seed=seed))
        if data is None:
            raise InputError("the train step cannot be skipped in the digits demo (it makes "
                             "the network)")
        report["float"] = {"train_accuracy": data["train_accuracy"],
                           "test_accuracy": data["test_accuracy"]}
        in_fmt = QFormat(0, 8, False)
        xtr, xte = in_fmt.quantise(data["x_train"]), in_fmt.quantise(data["x_test"])
        yte = data["y_test"]

        def fit():
            res = {}
            for name, W, _, _ in data["layers"]:
                a = analyse_layer(W, name, seed=seed)
                plot_layer(a, W, tmp / f"fit_{name}.png")
                res[name] = a
            return res

        fits = steps.run("fit", fit) or {}
        report["fit"] = {n: {"table2": a["table2"], "best_family": a["mle"]["best"],
                             "summary": a["verdict"]["summary"],
                             "mle": [{k: f[k] for k in ("family", "aic", "delta_aic", "ks")}
                                     for f in a["mle"]["fits"]],
                             "gaussian_control": a["gaussian_control"]["table2"]}
                         for n, a in fits.items()}

        K = int(qcfg.get("K", 8))
        picker = qcfg.get("picker", "optimal")
        arch = Arch.parse(qcfg.get("arch", "parallel"), arith=qcfg.get("arith", "auto"),
                          tunable=qcfg.get("tunable", "levels"))

        def quantise():
            net, reps = quantise_network(data["layers"], K=K, picker=picker, in_fmt=in_fmt,
                                         level_bits=int(qcfg.get("level_bits", 8)),
                                         out_bits=int(qcfg.get("out_bits", 8)),
                                         calib_x=xtr, name=fcfg.get("name", "digits"),
                                         seed=seed, arch=arch)
            dump_spec(net, tmp / "network.json")
            for (name, W, _, _), r in zip(data["layers"], reps):
                _plot_levels(W, np.array(r["levels_int"]) * 2.0 ** -int(
                    r["formats"]["level"].split(".")[1]), f"{name}: {picker}, K={K}",
                    tmp / f"levels_{name}.png")
            return net, reps

        net, reps = steps.run("quantise", quantise)
        y_int = reference(net, xte)
        int_acc = float(np.mean(y_int.argmax(1) == yte))
        report["quantised"] = {"picker": picker, "K": K, "int_accuracy": int_acc,
                               "layers": reps, "spec": "network.json"}
        print(f"float accuracy {data['test_accuracy']:.4f}, integer reference {int_acc:.4f} "
              f"({picker}, K={K})")

        def compare():
            rows = []
            for p in ccfg.get("pickers", ["lognormal-lloyd", "optimal", "pow2", "uniform"]):
                for k in ccfg.get("K", [4, 8, 16]):
                    n2, r2 = quantise_network(data["layers"], K=int(k), picker=p,
                                              in_fmt=in_fmt, calib_x=xtr, seed=seed)
                    acc = float(np.mean(reference(n2, xte).argmax(1) == yte))
                    rows.append({"picker": p, "K": int(k), "int_accuracy": acc,
                                 "sqnr_db": [r["sqnr_rounded_db"] for r in r2]})
                    print(f"  {p:<16} K={int(k):<3} accuracy {acc:.4f}", flush=True)
            _plot_compare(rows, data["test_accuracy"], tmp / "accuracy_vs_K.png")
            return rows

        report["compare"] = steps.run("compare", compare)

        def gen():
            man = generate(net, tmp / "rtl", force=True)
            return {"top": man["top"], "latency_cycles": man["latency_cycles"],
                    "cycles_per_vector": man["cycles_per_vector"], "folder": "rtl"}

        report["generate"] = steps.run("generate", gen)

        def simulate():
            n = scfg.get("vectors", "all")
            X = xte if n == "all" else xte[:int(n)]
            core = build_core(net)
            y_rtl, cycles = stream_through(core, X)
            ref = y_int[:len(X)]
            if y_rtl.shape != ref.shape:
                raise RuntimeError(f"RTL gave {len(y_rtl)} outputs for {len(X)} inputs")
            bad = np.argwhere(y_rtl != ref)
            result = {"engine": "amaranth simulator", "vectors": len(X),
                      "cycles": int(cycles), "mismatches": len(bad),
                      "rtl_accuracy": float(np.mean(y_rtl.argmax(1) == yte[:len(X)]))}
            if len(bad):
                i, j = map(int, bad[0])
                result["first_mismatch"] = {"sample": i, "output": j,
                                            "expected": int(ref[i, j]),
                                            "actual": int(y_rtl[i, j])}
            result["confusion"] = _plot_confusion(yte[:len(X)], y_rtl.argmax(1),
                                                  tmp / "confusion_rtl.png",
                                                  "RTL on the test split")
            return result

        sim = steps.run("simulate", simulate)
        report["simulate"] = sim
        report["synthesis"] = {"status": "not run",
                               "reason": "synthesis in the flow lands with the boards work"}
        report["step_seconds"] = steps.times
        _plot_times(steps.times, tmp / "step_times.png")
        if "report" not in steps.skip:
            _write_report(report, tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"report: {out_dir}/report.html and report.json")
    if sim and sim["mismatches"]:
        fm = sim["first_mismatch"]
        print(f"lognet: RTL differs from the integer reference: sample {fm['sample']}, output "
              f"{fm['output']}: expected {fm['expected']}, got {fm['actual']}", file=sys.stderr)
        return 1
    if sim:
        print(f"RTL accuracy {sim['rtl_accuracy']:.4f} on {sim['vectors']} test vectors, "
              f"bit-exact with the integer reference")
    return 0


def _write_report(report: dict, folder: Path) -> None:
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    img = {p.stem: _png_b64(p) for p in sorted(folder.glob("*.png"))}

    def fig(name, caption):
        if name not in img:
            return ""
        return (f'<figure><img src="data:image/png;base64,{img[name]}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>")

    fl = report["float"]
    q = report["quantised"]
    sim = report.get("simulate") or {}
    rows = "".join(
        f"<tr><td>{r['picker']}</td><td>{r['K']}</td><td>{100 * r['int_accuracy']:.2f}</td>"
        f"<td>{', '.join(f'{s:.1f}' for s in r['sqnr_db'])}</td></tr>"
        for r in report.get("compare") or [])
    fits = "".join(
        f"<h3>{n}</h3><p>{f['summary']}</p>{fig('fit_' + n, 'distribution of |w| for ' + n)}"
        f"{fig('levels_' + n, 'picked levels for ' + n)}" for n, f in report["fit"].items())
    steps = "".join(f"<tr><td>{k}</td><td>{v:.1f}</td></tr>"
                    for k, v in report["step_seconds"].items())
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>lognet report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}
figure{{display:inline-block;margin:0.5em}}img{{max-width:100%}}</style></head><body>
<h1>lognet report</h1>
<h2>Headline</h2>
<table><tr><th>float accuracy</th><td>{100 * fl['test_accuracy']:.2f}%</td></tr>
<tr><th>integer reference ({q['picker']}, K={q['K']})</th>
<td>{100 * q['int_accuracy']:.2f}%</td></tr>
<tr><th>RTL ({sim.get('engine', 'not run')})</th>
<td>{100 * sim.get('rtl_accuracy', float('nan')):.2f}%
on {sim.get('vectors', 0)} vectors, {sim.get('mismatches', 'n/a')} mismatches</td></tr>
<tr><th>synthesis</th><td>{report['synthesis']['status']}: {report['synthesis']['reason']}</td></tr>
</table>
<h2>Is |w| lognormal? (measured, not assumed)</h2>{fits}
<h2>Pickers and bit widths</h2>
<table><tr><th>picker</th><th>K</th><th>accuracy %</th><th>SQNR per layer (dB)</th></tr>
{rows}</table>
{fig('accuracy_vs_K', 'integer-reference accuracy against K')}
<h2>Hardware against software</h2>
{fig('confusion_rtl', 'RTL predictions on the test split')}
<h2>Step times</h2><table><tr><th>step</th><th>seconds</th></tr>{steps}</table>
{fig('step_times', 'time per step')}
</body></html>"""
    (folder / "report.html").write_text(html)
