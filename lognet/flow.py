"""``lognet flow``: the whole job in timed steps, ending in one report folder.

Steps: ``train`` (the digits MLP, or a weight file of dense layers with test inputs given as
``.npy``) -> ``fit`` (per-layer distribution analysis: is |w| lognormal?) -> ``quantise`` (the
main NetworkSpec, or one given with ``--spec``) -> ``compare`` (pickers x K: bit-exact integer
accuracy, and area from Yosys for the Pareto plot) -> ``generate`` (Verilog, register map) ->
``simulate`` (the RTL on the whole test split in Verilator, Icarus or Amaranth's simulator,
every output compared with the integer reference) -> ``synth`` (out-of-context synthesis and
place-and-route per target: LUTs, FFs, DSPs, Fmax) -> ``report`` (report.json, report.html with
inline plots, PNGs, a text summary).

Any RTL output that differs from the integer reference fails the flow (exit 1) and names the
first diverging sample and output. Steps can be skipped with ``--skip STEP``; ``--spec FILE``
resumes from a NetworkSpec (the IR) instead of quantising again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError

__all__ = ["DEFAULT_CONFIG", "STEPS", "run_flow"]

DEFAULT_CONFIG = Path(__file__).with_name("default_flow.toml")
STEPS = ("train", "fit", "quantise", "compare", "generate", "simulate", "synth", "report")
REPORT_VERSION = 2
ENGINES = ("verilator", "icarus", "amaranth")


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

    def run(self, name, fn, why_not: str | None = None):
        if name in self.skip or why_not:
            print(f"[{name}] skipped" + (f" ({why_not})" if why_not else ""))
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


def _plot_pareto(rows, float_acc, path):
    """Accuracy against LUT4 of the core for every (picker, K) row that has an area."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get("area")]
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6))
    marks = dict(zip(sorted({r["picker"] for r in pts}), "osD^v<>p"))
    for p, mk in marks.items():
        rs = [r for r in pts if r["picker"] == p]
        ax.scatter([r["area"]["lut4"] for r in rs], [100 * r["int_accuracy"] for r in rs],
                   marker=mk, label=p)
        for r in rs:
            ax.annotate(f"K={r['K']}", (r["area"]["lut4"], 100 * r["int_accuracy"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = _pareto_front(pts)
    fx = sorted(front, key=lambda r: r["area"]["lut4"])
    ax.plot([r["area"]["lut4"] for r in fx], [100 * r["int_accuracy"] for r in fx], "k:",
            lw=0.8, label="Pareto front")
    if float_acc is not None:
        ax.axhline(100 * float_acc, color="k", ls="--", lw=0.8, label="float")
    ax.set_xlabel(f"LUT4 of the core ({pts[0]['area']['target']}, Yosys)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def _pareto_front(rows):
    """Rows that no other row beats on both LUTs (fewer or equal) and accuracy (higher or
    equal, one of them strictly)."""
    def beats(a, b):
        la, lb = a["area"]["lut4"], b["area"]["lut4"]
        return (la <= lb and a["int_accuracy"] >= b["int_accuracy"]
                and (la < lb or a["int_accuracy"] > b["int_accuracy"]))
    return [r for r in rows if not any(beats(o, r) for o in rows if o is not r)]


def _plot_synth(results, path):
    """LUT4 and Fmax per synthesis target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r.get("cells")]
    if not ok:
        return
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7, 2.8))
    names = [f"{r['target']}\n{r['arch']}" for r in ok]
    a1.bar(names, [r["cells"]["total"]["lut4"] for r in ok], color="#69c")
    a1.set_ylabel("LUT4 (core + harness)")
    a2.bar(names, [r["timing"].get("fmax_mhz") or 0 for r in ok], color="#c96")
    a2.set_ylabel("Fmax (MHz)")
    for r, x in zip(ok, range(len(ok))):
        a2.plot([x - 0.4, x + 0.4], [r["clock_mhz"]] * 2, "k--", lw=0.8)
    for a in (a1, a2):
        a.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _forward(layers, x_real) -> np.ndarray:
    """Float inference of ``(name, W, b, act)`` layers."""
    y = np.asarray(x_real, dtype=np.float64)
    for _, W, b, act in layers:
        y = y @ W.T if b is None else y @ W.T + b[None, :]
        if act == "relu":
            y = np.maximum(y, 0.0)
    return y


def _load_model(cfg: dict, seed: int) -> dict:
    """The float network and its data: the digits MLP trained here, or a weight file of dense
    layers with test inputs (and optionally labels) from ``.npy`` files."""
    from lognet.model.qformat import QFormat
    from lognet.model.quantise import calibrated_format
    from lognet.model.train import train_digits_mlp

    mcfg, dcfg = cfg.get("model", {}), cfg.get("data", {})
    if "weights" not in mcfg:
        d = train_digits_mlp(hidden=tuple(mcfg.get("hidden", [32])), seed=seed)
        return {"source": "digits MLP trained here (scikit-learn's bundled digits, seeded)",
                "layers": d["layers"], "x_calib": d["x_train"], "x_test": d["x_test"],
                "y_test": d["y_test"], "float_accuracy": d["test_accuracy"],
                "train_accuracy": d["train_accuracy"], "in_fmt": QFormat(0, 8, False)}

    from lognet.base.files import load_npy
    from lognet.base.names import sanitise
    from lognet.model.weights import load_weights, pair_biases, select_layers

    path = Path(mcfg["weights"])
    pairs = pair_biases(select_layers(load_weights(path), mcfg.get("layers"), require_2d=True))
    for (n1, W1, _), (n2, W2, _) in zip(pairs, pairs[1:]):
        if W1.shape[0] != W2.shape[1]:
            raise InputError(f"{n1} has {W1.shape[0]} outputs but {n2} has {W2.shape[1]} "
                             f"inputs; pick layers that chain with [model] layers = [...]")
    act = mcfg.get("activation", "relu-hidden")
    if act not in ("relu-hidden", "relu", "none"):
        raise InputError(f"[model] activation = {act!r}; use relu-hidden, relu or none")
    layers = [(sanitise(n), W, b, ("relu" if i < len(pairs) - 1 else "none")
               if act == "relu-hidden" else act) for i, (n, W, b) in enumerate(pairs)]
    if "x_test" not in dcfg:
        raise InputError("a weight file needs test inputs: set [data] x_test = \"x.npy\" "
                         "(N x n_in, real values or integer codes)")
    n_in = layers[0][1].shape[1]

    def inputs(key):
        x = load_npy(dcfg[key], f"[data] {key}")
        if x.ndim != 2 or x.shape[1] != n_in:
            raise InputError(f"{dcfg[key]}: shape {x.shape}, expected (N, {n_in}) for "
                             f"{layers[0][0]}")
        return x

    x_test = inputs("x_test")
    x_calib = inputs("x_calib") if "x_calib" in dcfg else x_test
    bits = int(dcfg.get("input_bits", 8))
    if x_test.dtype.kind in "iu":  # integer codes: the format must be given
        if "input_frac_bits" not in dcfg:
            raise InputError("integer test inputs need their format: set [data] "
                             "input_frac_bits (and input_signed)")
        fb = int(dcfg["input_frac_bits"])
        sg = bool(dcfg.get("input_signed", True))
        in_fmt = QFormat(bits - int(sg) - fb, fb, sg)
        x_test, x_calib = in_fmt.to_real(x_test), in_fmt.to_real(x_calib)
    else:
        sg = bool(dcfg.get("input_signed", bool(np.min(x_calib) < 0 or np.min(x_test) < 0)))
        in_fmt = calibrated_format(np.concatenate([x_calib, x_test]), bits, sg, acc_frac=64)
    y_test = None
    if "y_test" in dcfg:
        y_test = load_npy(dcfg["y_test"], "[data] y_test").astype(np.int64).ravel()
        if len(y_test) != len(x_test):
            raise InputError(f"{dcfg['y_test']}: {len(y_test)} labels for {len(x_test)} "
                             f"test inputs")
    y_float = _forward(layers, x_test)
    return {"source": f"{path} ({len(layers)} dense layers)", "layers": layers,
            "x_calib": x_calib, "x_test": x_test, "y_test": y_test,
            "float_accuracy": (float(np.mean(y_float.argmax(1) == y_test))
                               if y_test is not None else None),
            "float_argmax": y_float.argmax(1), "in_fmt": in_fmt}


def _score(y_int, data) -> float:
    """Top-1 accuracy against the labels, or agreement with the float model's top-1 when the
    data has no labels."""
    pred = np.asarray(y_int).argmax(1)
    ref = data["y_test"] if data["y_test"] is not None else data["float_argmax"]
    return float(np.mean(pred == ref[:len(pred)]))


def _structure_key(spec) -> str:
    """Specs with the same key synthesise to the same netlist: shape, formats, arch and, when
    weights are wired in, their values (writable levels and biases do not change the area)."""
    from lognet.hw.regmap import resolve_spec
    from lognet.model.specjson import dumps_spec

    d = json.loads(dumps_spec(resolve_spec(spec)))
    for la in d.get("layers", [d]):
        tun = la.get("arch", {}).get("tunable", "all")
        if tun != "none":
            la.pop("levels", None)
            la.pop("bias", None)
        if tun == "all":
            la.pop("signs", None)
            la.pop("indices", None)
        d.pop("name", None)
        la.pop("name", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _areas(specs, target: str, folder: Path, *, dsp: bool, jobs: int | None) -> list[dict]:
    """Core cell counts from Yosys (no place and route) for each spec; specs that synthesise
    to the same netlist (:func:`_structure_key`) share one run, and runs go ``jobs`` at a time
    (default: one per core)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from lognet.boards.synth import synth_core
    from lognet.hw.export import build_core
    from lognet.hw.regmap import resolve_spec

    keys = [_structure_key(sp) for sp in specs]
    first = {}
    for k, sp in zip(keys, specs):
        first.setdefault(k, sp)

    def one(item):
        key, sp = item
        res = synth_core(lambda: build_core(sp), target, None, folder / key, place=False, dsp=dsp)
        c = res["cells"]["core"]
        return key, {"target": target, "lut4": c["lut4"], "ff": c["ff"], "carry": c["carry"],
                     "dsp": c["dsp"], "bram": c["bram"], "mapper": res["mapper"],
                     "arith": [la.arch.arith.value for la in resolve_spec(sp).layers]}

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        done = dict(pool.map(one, first.items()))
    return [done[k] for k in keys]


def _with_arch(net, arch_text: str | None, tunable: str | None):
    from lognet.model.arch import Arch
    from lognet.model.spec import NetworkSpec

    if not arch_text and not tunable:
        return net

    def one(layer):
        a = layer.arch
        new = Arch.parse(arch_text, arith=a.arith.value, tunable=(tunable or a.tunable.value)) \
            if arch_text else Arch(a.kind, a.lanes, a.arith, tunable or a.tunable.value)
        return layer.with_arch(new)

    return NetworkSpec(net.name, tuple(one(la) for la in net.layers))


def _arch_text(net) -> str:
    a = net.layers[0].arch
    kinds = {la.arch.kind.value + (f":{la.arch.lanes}" if la.arch.lanes > 1 else "")
             for la in net.layers}
    return f"{'/'.join(sorted(kinds))}, tunable={a.tunable.value}"


def run_flow(config=None, out=None, force=False, skip=(), spec=None) -> int:
    """Run the flow of ``config`` (a TOML/JSON path; None: the shipped digits demo) into the
    report folder ``out``. Returns 0, or 1 when the RTL differs from the integer reference."""
    from lognet import __version__
    from lognet.base.files import atomic_folder, check_out_folder
    from lognet.boards.synth import TARGETS
    from lognet.hw.export import build_core, generate
    from lognet.model.arch import Arch
    from lognet.model.fit import analyse_layer, plot_layer
    from lognet.model.quantise import quantise_network
    from lognet.model.reference import reference
    from lognet.model.spec import NetworkSpec
    from lognet.model.specjson import dump_spec, load_spec

    cfg = load_config(config)
    fcfg = cfg.get("flow", {})
    qcfg = cfg.get("quantise", {})
    ccfg = cfg.get("compare", {})
    scfg = cfg.get("simulate", {})
    ycfg = cfg.get("synth", {})
    seed = int(fcfg.get("seed", 0))
    out_dir = check_out_folder(out or fcfg.get("out", "report"), force)
    steps = _Steps(skip)
    engine = scfg.get("engine", "verilator")
    if engine not in ENGINES:
        raise InputError(f"[simulate] engine = {engine!r}; use one of {', '.join(ENGINES)}")
    targets = list(ycfg.get("targets", []))
    for t in targets + ([ccfg["area_target"]] if ccfg.get("area_target") else []):
        if t not in TARGETS:
            raise InputError(f"unknown synthesis target {t!r}; use {', '.join(TARGETS)}")
    given = spec or qcfg.get("spec")
    given_spec = None
    if given:
        given_spec = load_spec(given)
        if not isinstance(given_spec, NetworkSpec):
            given_spec = NetworkSpec(given_spec.name, (given_spec,))
    if engine != "amaranth" and "simulate" not in steps.skip:
        from lognet.sim.build import check_simulator

        check_simulator(engine)  # a missing simulator is one line now, not after training
    build_dir = Path(scfg.get("build_dir", "build/flow-sim"))

    report: dict = {"report_version": REPORT_VERSION, "lognet_version": __version__,
                    "config": cfg}
    sim = None
    with atomic_folder(out_dir, force=force) as tmp:
        data = steps.run("train", lambda: _load_model(cfg, seed))
        if data is None:
            raise InputError("the train step cannot be skipped (it loads or makes the network)")
        report["model"] = {"source": data["source"],
                           "layers": [{"name": n, "n_out": W.shape[0], "n_in": W.shape[1],
                                       "activation": a} for n, W, _, a in data["layers"]],
                           "test_vectors": len(data["x_test"]),
                           "labels": data["y_test"] is not None}
        report["float"] = {"test_accuracy": data["float_accuracy"],
                           "train_accuracy": data.get("train_accuracy")}
        in_fmt = data["in_fmt"]
        xcal, xte = in_fmt.quantise(data["x_calib"]), in_fmt.quantise(data["x_test"])

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
        qkw = dict(in_fmt=in_fmt, level_bits=int(qcfg.get("level_bits", 8)),
                   bias_bits=int(qcfg.get("bias_bits", 16)),
                   out_bits=int(qcfg.get("out_bits", 8)), calib_x=xcal, seed=seed, arch=arch,
                   topology=qcfg.get("topology", "dense"))

        def quantise():
            net, reps = quantise_network(data["layers"], K=K, picker=picker,
                                         name=fcfg.get("name", "net"), **qkw)
            for (name, W, _, _), r in zip(data["layers"], reps):
                _plot_levels(W, np.array(r["levels_int"]) * 2.0 ** -int(
                    r["formats"]["level"].split(".")[1]), f"{name}: {picker}, K={K}",
                    tmp / f"levels_{name}.png")
            return net, reps

        if given_spec is not None:
            print(f"[quantise] resumed from {given}")
            net, reps = given_spec, None
            if net.n_in != len(data["layers"][0][1][0]) or net.in_fmt != in_fmt:
                raise InputError(f"{given}: takes {net.n_in} inputs in "
                                 f"{net.in_fmt.describe()}, the data gives "
                                 f"{len(data['layers'][0][1][0])} in {in_fmt.describe()}")
            steps.times["quantise"] = 0.0
        else:
            got = steps.run("quantise", quantise)
            if got is None:
                raise InputError("the quantise step cannot be skipped without --spec FILE")
            net, reps = got
        dump_spec(net, tmp / "network.json")
        y_int = reference(net, xte)
        int_acc = _score(y_int, data)
        report["quantised"] = {"picker": picker if reps else "from spec", "K": K,
                               "int_accuracy": int_acc, "layers": reps,
                               "spec": "network.json", "given_spec": str(given) if given else None}
        fa = data["float_accuracy"]
        print(f"float accuracy {fa if fa is None else f'{fa:.4f}'}, integer reference "
              f"{int_acc:.4f} ({report['quantised']['picker']}, K={K})")

        area_on = bool(ccfg.get("area", False)) and "synth" not in steps.skip
        area_target = ccfg.get("area_target", "ice40-up5k")

        def compare():
            rows, specs = [], []
            for p in ccfg.get("pickers", ["lognormal-lloyd", "optimal", "pow2", "uniform"]):
                for k in ccfg.get("K", [4, 8, 16]):
                    n2, r2 = quantise_network(data["layers"], K=int(k), picker=p, name="cmp",
                                              **qkw)
                    acc = _score(reference(n2, xte), data)
                    rows.append({"picker": p, "K": int(k), "int_accuracy": acc,
                                 "sqnr_db": [r["sqnr_rounded_db"] for r in r2]})
                    specs.append(n2)
                    print(f"  {p:<16} K={int(k):<3} accuracy {acc:.4f}", flush=True)
            if area_on:
                which = ccfg.get("area_pickers")
                idx = [i for i, r in enumerate(rows) if which is None or r["picker"] in which]
                areas = _areas([specs[i] for i in idx], area_target,
                               build_dir.parent / "flow-area", dsp=bool(ccfg.get("dsp", True)),
                               jobs=int(ccfg.get("jobs", 0)) or None)
                for row, a in zip([rows[i] for i in idx], areas):
                    row["area"] = a
                    print(f"  {row['picker']:<16} K={row['K']:<3} {a['lut4']} LUT4, {a['ff']} FF,"
                          f" {a['dsp']} DSP, {a['bram']} BRAM ({area_target}, Yosys)", flush=True)
            _plot_compare(rows, fa, tmp / "accuracy_vs_K.png")
            if _plot_pareto(rows, fa, tmp / "pareto.png"):
                for r in _pareto_front([r for r in rows if r.get("area")]):
                    r["pareto"] = True
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
            extra = {}
            if engine == "amaranth":
                from lognet.hw import amsim

                y_rtl, cycles = amsim.stream_through(build_core(net), X)
            else:
                from lognet.sim.runner import run_sim

                s = run_sim(net, simulator=engine, inputs=X, scenario="random",
                            build_dir=build_dir, p_valid=1.0, p_ready=1.0)
                if "outputs" not in s:
                    raise InputError(f"the {engine} simulation did not finish: "
                                     f"{s.get('error') or s.get('first_mismatch')}")
                y_rtl, cycles = s["outputs"], s.get("cycles", 0)
                extra = {"build_seconds": s.get("build_seconds"),
                         "build_cached": s.get("build_cached"),
                         "vectors_per_second": s.get("vectors_per_second")}
            ref = y_int[:len(X)]
            if y_rtl.shape != ref.shape:
                raise RuntimeError(f"RTL gave {len(y_rtl)} outputs for {len(X)} inputs")
            bad = np.argwhere(y_rtl != ref)
            result = {"engine": engine, "vectors": len(X), "cycles": int(cycles),
                      "mismatches": len(bad), "rtl_accuracy": _score(y_rtl, data), **extra}
            if len(bad):
                i, j = map(int, bad[0])
                result["first_mismatch"] = {"sample": i, "output": j,
                                            "expected": int(ref[i, j]),
                                            "actual": int(y_rtl[i, j])}
            truth = data["y_test"] if data["y_test"] is not None else data["float_argmax"]
            result["confusion"] = _plot_confusion(
                truth[:len(X)], y_rtl.argmax(1), tmp / "confusion_rtl.png",
                "RTL on the test split" + ("" if data["y_test"] is not None
                                           else " (rows: float model's top-1)"))
            return result

        sim = steps.run("simulate", simulate)
        report["simulate"] = sim

        def synth():
            from lognet.boards.synth import synth_core
            from lognet.boards.tools import ToolFailed

            results = []
            for t in targets:
                nt = _with_arch(net, ycfg.get("arch", {}).get(t),
                                ycfg.get("tunable", {}).get(t))
                try:
                    r = synth_core(lambda nt=nt: build_core(nt), t, ycfg.get("clock", {}).get(t),
                                   tmp / "synth" / t, dsp=bool(ycfg.get("dsp", True)))
                except ToolFailed as e:
                    r = {"target": t, "status": "error", "reason": str(e).replace(str(tmp),
                                                                                str(out_dir))}
                r["arch"] = _arch_text(nt)
                results.append(r)
                tm = r.get("timing") or {}
                print(f"  {t:<11} {r['arch']}: {r['status']}, "
                      f"{r.get('cells', {}).get('total', {}).get('lut4', '?')} LUT4, Fmax "
                      f"{tm.get('fmax_mhz')} MHz (asked {r.get('clock_mhz')})", flush=True)
            _plot_synth(results, tmp / "synth.png")
            return results

        report["synth"] = steps.run("synth", synth, None if targets else "no [synth] targets")
        report["step_seconds"] = steps.times
        _plot_times(steps.times, tmp / "step_times.png")
        report["summary"] = _summary_lines(report)
        if "report" not in steps.skip:
            _write_report(report, tmp)
    print(f"report: {out_dir}/report.html and report.json")
    for line in report["summary"]:
        print(line)
    if sim and sim["mismatches"]:
        fm = sim["first_mismatch"]
        print(f"lognet: RTL differs from the integer reference: sample {fm['sample']}, output "
              f"{fm['output']}: expected {fm['expected']}, got {fm['actual']}", file=sys.stderr)
        return 1
    return 0


def _summary_lines(report: dict) -> list[str]:
    fl, q, sim = report["float"], report["quantised"], report.get("simulate")
    metric = "accuracy" if report["model"]["labels"] else "top-1 agreement with float"
    out = [f"model: {report['model']['source']}"]
    if fl["test_accuracy"] is not None:
        out.append(f"float test accuracy {100 * fl['test_accuracy']:.2f}%")
    out.append(f"integer reference ({q['picker']}, K={q['K']}): {metric} "
               f"{100 * q['int_accuracy']:.2f}%")
    if sim:
        verdict = ("bit-exact with the integer reference" if not sim["mismatches"]
                   else f"{sim['mismatches']} values differ from the integer reference")
        out.append(f"RTL ({sim['engine']}, {sim['vectors']} vectors): {metric} "
                   f"{100 * sim['rtl_accuracy']:.2f}%, {verdict}")
    for n, f in report.get("fit", {}).items():
        out.append(f"{n}: {f['summary']}")
    for r in report.get("synth") or []:
        tm = r.get("timing") or {}
        lut = r.get("cells", {}).get("total", {}).get("lut4")
        out.append(f"{r['target']} ({r['arch']}): {r['status']}, {lut} LUT4, Fmax "
                   f"{tm.get('fmax_mhz')} MHz for {r.get('clock_mhz')} MHz")
    return out


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _write_report(report: dict, folder: Path) -> None:
    """report.json and a self-contained report.html (plots inline as base64 PNGs)."""
    from html import escape

    (folder / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    img = {p.stem: _png_b64(p) for p in sorted(folder.glob("*.png"))}

    def fig(name, caption):
        if name not in img:
            return ""
        return (f'<figure><img src="data:image/png;base64,{img[name]}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>")

    fl, q = report["float"], report["quantised"]
    sim = report.get("simulate") or {}
    metric = "accuracy" if report["model"]["labels"] else "top-1 agreement with float"
    has_area = any(r.get("area") for r in report.get("compare") or [])
    area_head = "<th>LUT4</th><th>FF</th><th>DSP</th><th>Pareto</th>" if has_area else ""

    def area_cells(r):
        if not has_area:
            return ""
        a = r.get("area") or {}
        return (f"<td>{a.get('lut4', '')}</td><td>{a.get('ff', '')}</td>"
                f"<td>{a.get('dsp', '')}</td><td>{'yes' if r.get('pareto') else ''}</td>")

    rows = "".join(
        f"<tr><td>{r['picker']}</td><td>{r['K']}</td><td>{100 * r['int_accuracy']:.2f}</td>"
        f"<td>{', '.join(f'{s:.1f}' for s in r['sqnr_db'])}</td>{area_cells(r)}</tr>"
        for r in report.get("compare") or [])
    fits = "".join(
        f"<h3>{escape(n)}</h3><p>{escape(f['summary'])}</p>"
        f"{fig('fit_' + n, 'distribution of |w| for ' + n)}"
        f"{fig('levels_' + n, 'picked levels for ' + n)}" for n, f in report["fit"].items())
    synth_rows = "".join(
        f"<tr><td>{r['target']}</td><td>{escape(r['arch'])}</td><td>{r['status']}</td>"
        f"<td>{r.get('cells', {}).get('total', {}).get('lut4', '')}</td>"
        f"<td>{r.get('cells', {}).get('total', {}).get('ff', '')}</td>"
        f"<td>{r.get('cells', {}).get('total', {}).get('dsp', '')}</td>"
        f"<td>{r.get('cells', {}).get('total', {}).get('bram', '')}</td>"
        f"<td>{(r.get('timing') or {}).get('fmax_mhz', '')}</td><td>{r.get('clock_mhz', '')}"
        f"</td></tr>" for r in report.get("synth") or [])
    synth_fig = fig("synth", "LUT4 and Fmax per target")
    synth = (f"<table><tr><th>target</th><th>arch</th><th>status</th><th>LUT4</th><th>FF</th>"
             f"<th>DSP</th><th>BRAM</th><th>Fmax MHz</th><th>asked MHz</th></tr>{synth_rows}"
             f"</table><p>Out of context: the core sits behind shift registers so that nothing "
             f"is optimised away; counts include that harness.</p>{synth_fig}"
             if synth_rows else "<p>not run</p>")
    steps = "".join(f"<tr><td>{k}</td><td>{v:.1f}</td></tr>"
                    for k, v in report["step_seconds"].items())
    summary = "".join(f"<li>{escape(s)}</li>" for s in report.get("summary", []))
    rtl = (f"{_pct(sim.get('rtl_accuracy'))} on {sim.get('vectors', 0)} vectors, "
           f"{sim.get('mismatches', 'n/a')} mismatches with the integer reference"
           if sim else "not run")
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>lognet report</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:2px 8px}}
figure{{display:inline-block;margin:0.5em}}img{{max-width:100%}}</style></head><body>
<h1>lognet report</h1>
<p>{escape(report['model']['source'])}; lognet {report['lognet_version']},
report version {report['report_version']}.</p>
<h2>Headline</h2>
<table><tr><th>float {metric}</th><td>{_pct(fl['test_accuracy'])}</td></tr>
<tr><th>integer reference ({q['picker']}, K={q['K']})</th><td>{_pct(q['int_accuracy'])}</td></tr>
<tr><th>RTL ({sim.get('engine', 'not run')})</th><td>{rtl}</td></tr>
</table><ul>{summary}</ul>
<h2>Is |w| lognormal? (measured, not assumed)</h2>{fits or '<p>not run</p>'}
<h2>Pickers and bit widths</h2>
<table><tr><th>picker</th><th>K</th><th>{metric} %</th><th>SQNR per layer (dB)</th>{area_head}
</tr>{rows}</table>
{fig('accuracy_vs_K', metric + ' of the integer reference against K')}
{fig('pareto', metric + ' against LUT4 (Pareto front dotted)')}
<h2>Hardware against software</h2>
{fig('confusion_rtl', 'RTL predictions on the test split')}
<h2>Synthesis</h2>{synth}
<h2>Step times</h2><table><tr><th>step</th><th>seconds</th></tr>{steps}</table>
{fig('step_times', 'time per step')}
</body></html>"""
    (folder / "report.html").write_text(html)
