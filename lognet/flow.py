"""``lognet flow``: the whole job in timed steps, ending in one report folder.

Steps: ``train`` (the digits MLP, or a weight file of dense layers with test inputs given as
``.npy``) -> ``fit`` (per-layer distribution analysis: is |w| lognormal?) -> ``quantise`` (the
main NetworkSpec, or one given with ``--spec``) -> ``analyse`` (``[analyse]``: the network as an
Ising model trained, untrained and quantised; its layers on the order-to-chaos diagram; the
distributions of its neuron outputs) -> ``compare`` (pickers x K: bit-exact integer
accuracy, and area from Yosys for the Pareto plot) -> ``tune`` (with ``[tune] enabled``: the
main spec's levels and biases trained, as register writes to the same core, and optionally the
same core adapted to shifted digits) -> ``generate`` (Verilog, register map) ->
``simulate`` (the RTL on the whole test split in Verilator, Icarus or Amaranth's simulator,
every output compared with the integer reference) -> ``synth`` (out-of-context synthesis and
place-and-route per target: LUTs, FFs, DSPs, Fmax) -> ``report`` (report.json, report.html with
inline plots, PNGs, a text summary).

Each step is one function returning a small typed result; :func:`run_flow` chains them, times
them and hands their JSON to :mod:`lognet.report`. The configuration is a
:class:`lognet.config.FlowConfig` (the one home of the defaults).

Any RTL output that differs from the integer reference fails the flow (exit 1) and names the
first diverging sample and output. Steps can be skipped with ``--skip STEP``; ``--spec FILE``
resumes from a NetworkSpec (the IR) instead of quantising again.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError
from lognet.config import Engine, FlowConfig

__all__ = ["DEFAULT_CONFIG", "STEPS", "load_config", "run_flow"]

DEFAULT_CONFIG = Path(__file__).with_name("default_flow.toml")
STEPS = ("train", "fit", "quantise", "analyse", "compare", "tune", "generate", "simulate",
         "synth", "report")
REPORT_VERSION = 2

#: Most fraction bits an input format calibrated on real data may get. Inputs feed no
#: accumulator that would bound them (``calibrated_format``'s ``acc_frac``); the cap only stops
#: inputs of nearly zero magnitude from asking for an absurd number of fraction bits.
INPUT_FRAC_CAP = 64


def load_config(path=None) -> FlowConfig:
    """The flow config of a ``.toml`` (or ``.json``) file; None: the shipped digits demo."""
    return FlowConfig.from_file(Path(path) if path else DEFAULT_CONFIG)


class _Steps:
    """Runs the steps not skipped and keeps the seconds each took."""

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


# -- step results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelData:
    """``train``: the float network ``(name, W, b, activation)`` per layer and its data."""

    source: str
    layers: list
    x_calib: np.ndarray
    x_test: np.ndarray
    #: labels (None: scores are agreement with the float model's top-1)
    y_test: np.ndarray | None
    #: the input format (real inputs are quantised to it)
    in_fmt: object
    float_accuracy: float | None
    train_accuracy: float | None = None
    #: the float model's top-1 on the test inputs (weight files)
    float_argmax: np.ndarray | None = None
    #: labels of ``x_calib`` when it is a labelled training split (the digits demo)
    y_train: np.ndarray | None = None

    @property
    def truth(self) -> np.ndarray:
        """What predictions are scored against: the labels, or the float model's top-1."""
        return self.y_test if self.y_test is not None else self.float_argmax

    def score(self, y_int) -> float:
        """Top-1 accuracy of integer outputs against :attr:`truth`."""
        pred = np.asarray(y_int).argmax(1)
        return float(np.mean(pred == self.truth[:len(pred)]))

    def to_json(self) -> dict:
        return {"source": self.source,
                "layers": [{"name": n, "n_out": W.shape[0], "n_in": W.shape[1],
                            "activation": a} for n, W, _, a in self.layers],
                "test_vectors": len(self.x_test), "labels": self.y_test is not None}


@dataclass(frozen=True)
class FitResult:
    """``fit``: the distribution analysis of each layer's |w| (model.fit's dicts)."""

    layers: dict[str, dict]

    def to_json(self) -> dict:
        return {n: {"table2": a["table2"], "best_family": a["mle"]["best"],
                    "summary": a["verdict"]["summary"],
                    "mle": [{k: f[k] for k in ("family", "aic", "delta_aic", "ks")}
                            for f in a["mle"]["fits"]],
                    "gaussian_control": a["gaussian_control"]["table2"]}
                for n, a in self.layers.items()}


@dataclass(frozen=True)
class QuantiseResult:
    """``quantise``: the main network, its integer reference outputs and their score."""

    net: object
    #: quantise_layer's report per layer (None: the spec was given)
    layers: list[dict] | None
    picker: str
    K: int
    int_accuracy: float
    y_int: np.ndarray
    given_spec: str | None = None

    def to_json(self) -> dict:
        return {"picker": self.picker, "K": self.K, "int_accuracy": self.int_accuracy,
                "layers": self.layers, "spec": "network.json", "given_spec": self.given_spec}


@dataclass(frozen=True)
class ComparePoint:
    """``compare``: one (picker, K) point."""

    picker: str
    K: int
    int_accuracy: float
    sqnr_db: list[float]
    #: core cells from Yosys (None: no area run)
    area: dict | None = None
    pareto: bool = False

    def to_json(self) -> dict:
        d = {"picker": self.picker, "K": self.K, "int_accuracy": self.int_accuracy,
             "sqnr_db": self.sqnr_db}
        if self.area is not None:
            d["area"] = self.area
        if self.pareto:
            d["pareto"] = True
        return d


@dataclass(frozen=True)
class GenerateResult:
    """``generate``: the Verilog's top and its timing, in ``folder`` of the report."""

    top: str
    latency_cycles: int
    cycles_per_vector: int
    folder: str = "rtl"

    def to_json(self) -> dict:
        return {"top": self.top, "latency_cycles": self.latency_cycles,
                "cycles_per_vector": self.cycles_per_vector, "folder": self.folder}


@dataclass(frozen=True)
class RtlCheck:
    """``simulate``: the RTL's outputs on the test split against the integer reference."""

    engine: str
    vectors: int
    cycles: int
    mismatches: int
    rtl_accuracy: float
    confusion: list[list[int]]
    #: ``{sample, output, expected, actual}`` of the first difference (None: none)
    first_mismatch: dict | None = None
    #: build and speed figures of a cocotb run (empty for Amaranth's simulator)
    build: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = {"engine": self.engine, "vectors": self.vectors, "cycles": self.cycles,
             "mismatches": self.mismatches, "rtl_accuracy": self.rtl_accuracy, **self.build}
        if self.first_mismatch is not None:
            d["first_mismatch"] = self.first_mismatch
        d["confusion"] = self.confusion
        return d


@dataclass(frozen=True)
class TargetSynth:
    """``synth``: one target's run (``result``), or the tool failure that ended it, with the
    folding it was built with and the rate that gives."""

    target: str
    #: per layer ``name folded:P`` or ``name parallel``, then the tunability
    arch: str
    result: object | None = None  # lognet.boards.results.SynthResult
    error: str | None = None
    #: folded lanes per layer name (parallel layers are absent)
    lanes: dict[str, int] = field(default_factory=dict)
    #: input elements per transfer into the network, output elements per transfer out of it
    beats: tuple[int, int] = (0, 0)
    #: clocks between two vectors of a long stream (the folded clock model the RTL is checked
    #: against; 1 for parallel builds)
    cycles_per_vector: float | None = None

    @property
    def rate_clock_mhz(self) -> float | None:
        """The clock the build runs at: the asked one when met, its Fmax when missed (None
        when it was not placed)."""
        r = self.result
        if r is None or r.fmax_mhz is None:
            return None
        return min(r.clock_mhz, r.fmax_mhz)

    @property
    def inferences_per_s(self) -> float | None:
        """Vectors per second of a long stream at :attr:`rate_clock_mhz`."""
        clock = self.rate_clock_mhz
        if clock is None or not self.cycles_per_vector:
            return None
        return clock * 1e6 / self.cycles_per_vector

    def to_json(self) -> dict:
        rate = {"lanes": dict(self.lanes), "in_beat": self.beats[0], "out_beat": self.beats[1],
                "cycles_per_vector": self.cycles_per_vector,
                "inferences_per_s": self.inferences_per_s}
        if self.result is None:
            return {"target": self.target, "status": "error", "reason": self.error,
                    "arch": self.arch, **rate}
        return {**self.result.to_json(), "arch": self.arch, **rate}

    def line(self) -> str:
        r = self.result
        lut = r.cells.total.lut4 if r is not None and r.cells else "?"
        ips = self.inferences_per_s
        rate = (f"; {self.cycles_per_vector:g} clocks/vector, {ips:,.0f} inferences/s"
                if ips is not None else "")
        return (f"  {self.target:<11} {self.arch}: {r.status if r else 'error'}, {lut} LUT4, "
                f"Fmax {r.fmax_mhz if r else None} MHz (asked {r.clock_mhz if r else None})"
                f"{rate}")


@dataclass(frozen=True)
class TuneOutcome:
    """Level tuning of a spec (``lognet tune`` and the flow's ``tune`` step): the tuning run,
    the integer-reference accuracy on the test split before and after, and the register words
    that carry the tuned set into the built core."""

    #: lognet.model.tune.TuneResult (its ``spec`` is the tuned spec)
    result: object
    test_before: float | None
    test_after: float | None
    #: ``(address, word)``: only the words that change
    writes: list
    #: per touched region: ``{"layer", "region", "words", "of"}``
    regions: list
    #: words the core's tier makes writable (a full load)
    writable: int

    @property
    def spec(self):
        return self.result.spec

    def to_json(self) -> dict:
        return {**self.result.to_json(), "test_accuracy_before": self.test_before,
                "test_accuracy_after": self.test_after,
                "register_words_changed": len(self.writes),
                "register_words_writable": self.writable, "register_regions": self.regions}


def tune_spec(spec, data, *, family: str = "free", epochs: int = 60, seed: int = 0,
              lr: float | None = None, batch: int = 128, biases: bool = True,
              reassign: bool = False) -> TuneOutcome:
    """Tune ``spec``'s levels (and biases) on ``data`` (a lognet.model.tune.TuneData), check
    the result with the integer reference, and list the register writes that load it into a
    core built from ``spec``. Refuses (SpecError) a result the core's tier cannot take."""
    from lognet.boards.host import retune_writes, write_regions
    from lognet.hw.arch import resolve_spec
    from lognet.hw.regmap import config_writes
    from lognet.model.reference import reference
    from lognet.model.tune import level_candidates, tune_network

    core = resolve_spec(spec)
    res = tune_network(spec, data.x_train, data.y_train, family=family, epochs=epochs,
                       seed=seed, lr=lr, batch=batch, biases=biases, reassign=reassign,
                       candidates=[level_candidates(la) for la in core.layers])
    writes = retune_writes(spec, res.spec)
    before = after = None
    if data.x_test is not None:
        before = float(np.mean(reference(spec, data.x_test).argmax(1) == data.y_test))
        after = float(np.mean(reference(res.spec, data.x_test).argmax(1) == data.y_test))
    return TuneOutcome(res, before, after, writes, write_regions(spec, writes),
                       len(config_writes(core, core)))


# -- train ---------------------------------------------------------------------------------------


def _forward(layers, x_real) -> np.ndarray:
    """Float inference of ``(name, W, b, act)`` layers."""
    y = np.asarray(x_real, dtype=np.float64)
    for _, W, b, act in layers:
        y = y @ W.T if b is None else y @ W.T + b[None, :]
        if act == "relu":
            y = np.maximum(y, 0.0)
    return y


def step_train(cfg: FlowConfig) -> ModelData:
    """The float network and its data: the digits MLP trained here, or a weight file of dense
    layers with test inputs (and optionally labels) from ``.npy`` files."""
    from lognet.model.qformat import QFormat

    if cfg.model.weights is None:
        from lognet.model.train import train_digits_mlp

        d = train_digits_mlp(hidden=cfg.model.hidden, seed=cfg.flow.seed)
        return ModelData("digits MLP trained here (scikit-learn's bundled digits, seeded)",
                         d["layers"], d["x_train"], d["x_test"], d["y_test"],
                         QFormat(0, 8, False), d["test_accuracy"], d["train_accuracy"],
                         y_train=d["y_train"])
    return _load_weight_file(cfg)


def _load_weight_file(cfg: FlowConfig) -> ModelData:
    from lognet.base.files import load_npy
    from lognet.model.qformat import QFormat
    from lognet.model.quantise import calibrated_format, load_dense_layers

    m, dc = cfg.model, cfg.data
    layers = load_dense_layers(m.weights, m.layers, m.activation,
                               how_to_select="pick layers that chain with [model] layers = [...]")
    if dc.x_test is None:
        raise InputError("a weight file needs test inputs: set [data] x_test = \"x.npy\" "
                         "(N x n_in, real values or integer codes)")
    n_in = layers[0][1].shape[1]

    def inputs(key, path):
        x = load_npy(path, f"[data] {key}")
        if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] == 0:
            raise InputError(f"{path}: shape {x.shape}, expected (N, {n_in}) with N >= 1 for "
                             f"{layers[0][0]}")
        if x.dtype.kind not in "iuf":
            raise InputError(f"{path}: {x.dtype} values; give integer or real inputs")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise InputError(f"{path}: the inputs hold NaN or inf; clean them first")
        return x

    x_test = inputs("x_test", dc.x_test)
    x_calib = inputs("x_calib", dc.x_calib) if dc.x_calib is not None else x_test
    bits = dc.input_bits
    if x_test.dtype.kind in "iu":  # integer codes: the format must be given
        if dc.input_frac_bits is None:
            raise InputError("integer test inputs need their format: set [data] "
                             "input_frac_bits (and input_signed)")
        sg = True if dc.input_signed is None else dc.input_signed
        in_fmt = QFormat(bits - int(sg) - dc.input_frac_bits, dc.input_frac_bits, sg)
        x_test, x_calib = in_fmt.to_real(x_test), in_fmt.to_real(x_calib)
    else:
        sg = dc.input_signed
        if sg is None:
            sg = bool(np.min(x_calib) < 0 or np.min(x_test) < 0)
        in_fmt = calibrated_format(np.concatenate([x_calib, x_test]), bits, sg,
                                   acc_frac=INPUT_FRAC_CAP)
    y_test = None
    if dc.y_test is not None:
        raw = load_npy(dc.y_test, "[data] y_test")
        n_out = layers[-1][1].shape[0]
        if (raw.dtype.kind not in "iuf" or raw.size == 0 or not np.all(np.isfinite(raw))
                or np.any(raw != np.round(raw)) or raw.min() < 0 or raw.max() >= n_out):
            raise InputError(f"{dc.y_test}: labels must be whole numbers in 0..{n_out - 1} "
                             f"(the network's {n_out} outputs)")
        y_test = raw.astype(np.int64).ravel()
        if len(y_test) != len(x_test):
            raise InputError(f"{dc.y_test}: {len(y_test)} labels for {len(x_test)} "
                             f"test inputs")
    top1 = _forward(layers, x_test).argmax(1)
    return ModelData(f"{m.weights} ({len(layers)} dense layers)", layers, x_calib, x_test,
                     y_test, in_fmt,
                     float(np.mean(top1 == y_test)) if y_test is not None else None,
                     float_argmax=top1)


# -- fit, quantise, compare ----------------------------------------------------------------------


def step_fit(data: ModelData, seed: int, folder: Path) -> FitResult:
    """Distribution analysis of each layer's |w|, with one plot per layer; its flags (a fit
    on a bound, a crowded first bin, ...) end the summary, and NaN becomes null with a reason."""
    from lognet.model.fit import analyse_layer, json_ready, plot_layer

    res = {}
    for name, W, _, _ in data.layers:
        a = analyse_layer(W, name, seed=seed)
        plot_layer(a, W, folder / f"fit_{name}.png")
        a = json_ready(a)
        if a["flags"]:
            a["verdict"]["summary"] += ". Flags: " + "; ".join(f["text"] for f in a["flags"])
        res[name] = a
    return FitResult(res)


def _quantise_options(cfg: FlowConfig, data: ModelData, xcal) -> dict:
    """The quantise_network options shared by the main spec and every compare point."""
    from lognet.model.arch import Arch

    q = cfg.quantise
    # arch = "auto": one lane per layer here; step_quantise folds the main spec for the
    # first synthesis target (compare points keep one lane)
    return dict(in_fmt=data.in_fmt, level_bits=q.level_bits, bias_bits=q.bias_bits,
                out_bits=q.out_bits, calib_x=xcal, seed=cfg.flow.seed, topology=q.topology,
                arch=Arch.parse("folded:1" if q.arch == "auto" else q.arch, arith=q.arith,
                                tunable=q.tunable))


def _auto_folded(cfg: FlowConfig, net, target: str, where: str):
    """``net`` folded by the resource plan for ``target`` (``arch = "auto"``); a device that
    cannot hold it is refused with the plan's reason."""
    from lognet.hw.plan import auto_folded, auto_summary

    y = cfg.synth
    folded, found = auto_folded(net, target, y.clock.get(target), dsp=y.dsp)
    if not found.ok:
        raise InputError(f"{where} = \"auto\" on {target}: {found.reason}; choose a larger "
                         f"target or a smaller network")
    print(auto_summary(folded, found), flush=True)
    return folded


def step_quantise(cfg: FlowConfig, data: ModelData, qkw: dict, xte, folder: Path
                  ) -> QuantiseResult:
    """The main NetworkSpec, with a plot of each layer's picked levels."""
    from lognet.model.quantise import quantise_network
    from lognet.model.reference import reference
    from lognet.report import plot_levels

    q = cfg.quantise
    net, reps = quantise_network(data.layers, K=q.K, picker=q.picker, name=cfg.flow.name, **qkw)
    if q.arch == "auto":
        net = _auto_folded(cfg, net, cfg.synth.targets[0], "[quantise] arch")
    if q.in_beat or q.out_beat:
        from lognet.model.spec import with_beats

        net = with_beats(net, q.in_beat, q.out_beat)
    if q.single_copy:
        from lognet.model.spec import with_single_copy

        net = with_single_copy(net)
    for (name, W, _, _), la in zip(data.layers, net.layers):
        plot_levels(W, np.asarray(la.levels) * la.level_fmt.step, f"{name}: {q.picker}, K={q.K}",
                    folder / f"levels_{name}.png")
    y_int = reference(net, xte)
    return QuantiseResult(net, reps, q.picker, q.K, data.score(y_int), y_int)


def _given(net, path, data: ModelData, cfg: FlowConfig, xte) -> QuantiseResult:
    """The quantise result of a spec given with ``--spec`` (checked against the data)."""
    from lognet.model.reference import reference

    n_in = data.layers[0][1].shape[1]
    if net.n_in != n_in or net.in_fmt != data.in_fmt:
        raise InputError(f"{path}: takes {net.n_in} inputs in {net.in_fmt.describe()}, the "
                         f"data gives {n_in} in {data.in_fmt.describe()}")
    y_int = reference(net, xte)
    return QuantiseResult(net, None, "from spec", cfg.quantise.K, data.score(y_int), y_int,
                          str(path))


def step_compare(cfg: FlowConfig, data: ModelData, qkw: dict, xte, folder: Path,
                 area_dir: Path, area_on: bool) -> list[ComparePoint]:
    """Pickers x K by the integer reference's accuracy; with ``area_on`` also core cells from
    Yosys (no place and route) for the Pareto plot. It is a small sweep
    (:mod:`lognet.sweep_engine`) on an in-process Dask cluster: points whose netlists are equal
    share one synthesis, and every stage is cached in ``area_dir``'s sibling ``sweep-cache``
    (the cache of ``lognet sweep``), so a second run of the same flow computes nothing again."""
    import dataclasses

    from lognet.report import pareto_front, plot_compare, plot_pareto
    from lognet.sweep_engine import Options, Point, local_cluster, run_points
    from lognet.sweep_stages import NetworkData

    c = cfg.compare
    net = NetworkData(cfg.flow.name, data.layers, qkw["calib_x"], xte,
                      np.asarray(data.truth, np.int64), data.in_fmt)
    arch = qkw["arch"]
    lanes = "parallel" if arch.kind.value == "parallel" else f"folded:{arch.lanes}"
    pts = [Point(cfg.flow.name, p, k, arch.arith.value, arch.tunable.value, lanes,
                 c.area_target, None,
                 ("accuracy", "synth") if area_on and (c.area_pickers is None
                                                       or p in c.area_pickers)
                 else ("accuracy",))
           for p in c.pickers for k in c.K]
    opts = Options(quantise={k: qkw[k] for k in ("level_bits", "bias_bits", "out_bits",
                                                  "topology", "seed")},
                   dsp=c.dsp, place=False, work_dir=str(area_dir))
    held: dict = {}

    def client():
        from distributed import Client

        held["cluster"] = local_cluster(c.jobs or None, processes=False)
        held["client"] = Client(held["cluster"], set_as_default=False)
        return held["client"]

    try:
        run = run_points(pts, {cfg.flow.name: net}, opts, area_dir.parent / "sweep-cache",
                         client, quiet=True)
    finally:
        for k in ("client", "cluster"):
            if k in held:
                held[k].close()
    points = []
    for r in run.results:
        if r.int_accuracy is None and "levels asked" in (r.reason or ""):
            # pow2 / apot hold fewer distinct levels than this K in the level format: the grid
            # point does not exist, the others are still compared
            print(f"  {r.point.picker:<16} K={r.point.K:<3} skipped: {r.reason}", flush=True)
            continue
        if r.int_accuracy is None:  # quantise or the arch refused: no point to compare
            raise InputError(f"compare {r.point.picker}, K={r.point.K}: {r.reason}")
        pt = ComparePoint(r.point.picker, r.point.K, r.int_accuracy, list(r.sqnr_db))
        print(f"  {pt.picker:<16} K={pt.K:<3} accuracy {pt.int_accuracy:.4f}", flush=True)
        if r.lut4 is not None:
            pt = dataclasses.replace(pt, area={
                "target": c.area_target, "lut4": r.lut4, "ff": r.ff, "carry": r.carry,
                "dsp": r.dsp, "bram": r.bram, "mapper": r.mapper,
                "arith": list(r.arith_resolved)})
        elif "synth" in r.point.stages:
            print(f"  {pt.picker:<16} K={pt.K:<3} no area: {r.reason}", flush=True)
        points.append(pt)
    for pt in points:
        if pt.area:
            a = pt.area
            print(f"  {pt.picker:<16} K={pt.K:<3} {a['lut4']} LUT4, {a['ff']} FF, {a['dsp']} "
                  f"DSP, {a['bram']} BRAM ({c.area_target}, Yosys)", flush=True)
    rows = [pt.to_json() for pt in points]
    plot_compare(rows, data.float_accuracy, folder / "accuracy_vs_K.png")
    if plot_pareto(rows, data.float_accuracy, folder / "pareto.png"):
        front = {id(r) for r in pareto_front([r for r in rows if r.get("area")])}
        points = [dataclasses.replace(pt, pareto=True) if id(r) in front else pt
                  for pt, r in zip(points, rows)]
    return points


def step_tune(cfg: FlowConfig, data: ModelData, net, xcal, xte, folder: Path) -> dict:
    """Level tuning of the main spec (``[tune]``): the tuned spec as ``tuned.json``, each
    layer's levels before and after on its histogram, the loss curves, and with
    ``field_shift`` the same core adapted to digits shifted right (``field_epochs`` at
    ``field_lr``): accuracy before and after, register words written."""
    from lognet.model.specjson import dump_spec
    from lognet.model.tune import TuneData, load_tune_data, shift_images
    from lognet.report import plot_tune_curves, plot_tuned_levels

    t = cfg.tune
    if t.field_shift and (t.data is not None or data.y_train is None or net.n_in != 64):
        raise InputError("[tune] field_shift shifts the digits demo's 8 x 8 images; leave it 0 "
                         "for other data")
    if t.data is not None:
        td = load_tune_data(t.data, net)
    elif data.y_train is not None:
        td = TuneData(xcal, data.y_train, xte, data.y_test)
    else:
        raise InputError("[tune] needs labelled training data: set [tune] data = "
                         "\"tune.npz\" (x_train, y_train, x_test, y_test)")
    opts = dict(family=t.family, epochs=t.epochs, seed=cfg.flow.seed, lr=t.lr, batch=t.batch,
                biases=t.biases)
    main = tune_spec(net, td, **opts)
    dump_spec(main.spec, folder / "tuned.json")
    out = {"main": {**main.to_json(), "spec": "tuned.json"}}
    names = {la.name: W for la, (_, W, _, _) in zip(net.layers, data.layers)}
    for la in main.result.layers:
        if la.name in names:
            plot_tuned_levels(names[la.name], [v * la.level_step for v in la.levels_before],
                              [v * la.level_step for v in la.levels_after],
                              f"{la.name}: {t.family} tuning",
                              folder / f"tune_levels_{la.name}.png")
    print(f"  tuned: test {main.test_before} -> {main.test_after}, "
          f"{len(main.writes)} register words", flush=True)
    if t.field_shift:
        raw_tr, raw_te = data.in_fmt.to_real(xcal), data.in_fmt.to_real(xte)
        sh = TuneData(data.in_fmt.quantise(shift_images(raw_tr, t.field_shift)), data.y_train,
                      data.in_fmt.quantise(shift_images(raw_te, t.field_shift)), data.y_test)
        fa = tune_spec(net, sh, **{**opts, "epochs": t.field_epochs, "lr": t.field_lr})
        dump_spec(fa.spec, folder / "tuned_field.json")
        out["field"] = {**fa.to_json(), "spec": "tuned_field.json",
                        "shift_pixels": t.field_shift, "original_accuracy": main.test_before}
        print(f"  field adaptation ({t.field_shift} px shift): test {fa.test_before} -> "
              f"{fa.test_after}, {len(fa.writes)} register words", flush=True)
    plot_tune_curves(out, folder / "tune_curves.png")
    return out


# -- analyse: the network without data, and its neuron outputs ----------------------------------

#: what each part of the ``analyse`` step measures and what it does not show (report.json and
#: the HTML carry these sentences beside the numbers)
ANALYSE_NOTES = {
    "ising": {
        "measured": "each neuron a +-1 spin, each weight a coupling between consecutive layers, "
                    "each bias a field; the density of states g(E) by Wang-Landau sampling and "
                    "from it the specific heat C(T) per spin and the temperature of its peak, for "
                    "the trained, the untrained (same shapes, default initialisation) and the "
                    "quantised network (arXiv:2209.08678)",
        "not_shown": "a C(T) peak is not an accuracy and does not say whether a network is "
                     "good; the mapping ignores the inputs and the activation functions, and "
                     "a peak temperature scales with the weights (compare it with the RMS "
                     "local field beside it)"},
    "criticality": {
        "measured": "the largest Lyapunov exponent lambda of the input-output Jacobian of deep "
                    "random networks over a grid of the weight scale sigma_w (lambda < 0 "
                    "ordered, > 0 chaotic), and where the trained layers sit on that diagram "
                    "by their scale sqrt(fan-in * mean w^2) (arXiv:2203.12967)",
        "not_shown": "the trained network's own Jacobian: its layers are placed by scale "
                     "alone on a diagram of i.i.d. random weights of one width and depth, so "
                     "a phase here says nothing about the trained weights' structure"},
    "activations": {
        "measured": "each layer's pre-activations |W x + b| and positive ReLU outputs over the "
                    "test split, fitted like the weights (Table-2 fit beside a Gaussian "
                    "control, seven families ranked by AIC), for the float network and the "
                    "bit-exact integer one (arXiv:2405.10955)",
        "not_shown": "activations on other data: the fits describe this test split only; the "
                     "integer network's outputs are requantised to few distinct values, which "
                     "a continuous law describes only roughly"},
}


@dataclass(frozen=True)
class AnalyseResult:
    """``analyse``: the Ising thermodynamics of the trained, untrained and quantised networks,
    the trained layers on the order-to-chaos diagram, and the fits of the neuron outputs; a
    part not run is None, with its reason in ``not_run``."""

    #: lognet.model.ising.analyse_models' result (curves trimmed to one temperature grid)
    ising: dict | None
    #: lognet.model.criticality.analyse_criticality's result
    criticality: dict | None
    #: per network (``float``, ``integer``): the fitted arrays and their cross-layer summary
    activations: dict | None
    not_run: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain JSON (no NaN or infinity: a missing number is null, its reason beside it)."""
        from lognet.model.fit import json_ready

        return json_ready({"ising": self.ising, "criticality": self.criticality,
                           "activations": self.activations, "not_run": self.not_run,
                           "seconds": self.seconds, "notes": ANALYSE_NOTES})


def _analyse_ising(cfg: FlowConfig, data: ModelData, net, folder: Path) -> tuple:
    from lognet.model.ising import (
        analyse_models,
        default_init,
        network_model,
        plot_ising,
        spec_layers,
    )

    a = cfg.analyse
    trained = [(W, b) for _, W, b, _ in data.layers]
    nets = {"trained": trained,
            "untrained": default_init([W.shape for W, _ in trained], cfg.flow.seed),
            "quantised": spec_layers(net)}
    spins = trained[0][0].shape[1] + sum(W.shape[0] for W, _ in trained)
    if spins > a.ising_max_spins:
        return None, (f"the network has {spins:,} spins, above [analyse] ising_max_spins = "
                      f"{a.ising_max_spins:,}")
    models = [(network_model(layers, name), layers) for name, layers in nets.items()]
    r = analyse_models(models, bins=a.ising_bins, ln_f_final=a.ising_ln_f, seed=cfg.flow.seed,
                       progress=lambda t: print(f"  ising: {t}", flush=True))
    plot_ising(r, folder / "ising.png", title=cfg.flow.name)
    for row in r["models"]:
        row["thermo"].pop("T")  # the shared grid is r["temperatures"]
        pk, scale = row["thermo"]["peak"], row["model"]["temperature_scale"]
        pk["T_over_scale"] = pk["T"] / scale
        print(f"  ising {row['model']['name']}: C(T) peak at T = {pk['T']:.3f} (RMS local "
              f"field {scale:.3f}), {row['dos']['steps']:.3g} flips"
              + ("" if row["dos"]["converged"] else ", NOT converged"), flush=True)
    r["plot"] = "ising.png"
    return r, None


def _analyse_criticality(cfg: FlowConfig, data: ModelData, folder: Path) -> dict:
    from lognet.model.criticality import WeightFamily, analyse_criticality, plot_criticality

    a = cfg.analyse
    layers = [(name, W) for name, W, _, _ in data.layers]
    width = a.criticality_fan_in or int(round(np.mean([W.shape[1] for _, W in layers])))
    r = analyse_criticality(
        family=WeightFamily(a.criticality_family, sigma=a.criticality_sigma),
        activation=a.criticality_activation, width=width, depth=a.criticality_depth,
        grid=(a.criticality_sigma_w_min, a.criticality_sigma_w_max, a.criticality_points),
        tol=a.criticality_tol, seed=cfg.flow.seed, layers=layers,
        progress=lambda t: print(f"  criticality: {t}", flush=True))
    plot_criticality(r, folder / "criticality.png")
    r["plot"] = "criticality.png"
    t = r["transition_sigma_w"]
    print(f"  criticality: lambda = 0 at sigma_w = "
          f"{'none on the grid' if t is None else f'{t:.4f}'}; "
          + ", ".join(f"{p['name']} sigma_w = {p['sigma_w']:.3f} ({p['phase']})"
                      for p in r["layers"]), flush=True)
    return r


def _analyse_activations(cfg: FlowConfig, data: ModelData, net, xte, folder: Path) -> dict:
    from lognet.model.activation_stats import activation_arrays, float_activation_arrays
    from lognet.model.fit import fit_arrays

    n = cfg.analyse.activation_vectors
    n = len(xte) if n == "all" else min(n, len(xte))
    nets = {"float": ("float network on the real test inputs",
                      float_activation_arrays(net, [(nm, W, b) for nm, W, b, _ in data.layers],
                                              data.x_test[:n])),
            "integer": ("bit-exact integer network (model.reference) on the quantised inputs",
                        activation_arrays(net, xte[:n]))}
    out = {"vectors": n}
    for key, (what, (arrays, info)) in nets.items():
        res = fit_arrays(arrays, seed=cfg.flow.seed, plot_dir=folder,
                         plot_prefix=f"act_{key}_", progress=False)
        out[key] = {
            "what": what,
            "arrays": {name: {**info[name], **_fit_row(a)} for name, a in res["layers"].items()},
            "failed": res["failed"], "summary": res["summary"]}
        for name, a in res["layers"].items():
            print(f"  activations {key} {name}: best {a['mle']['best']}, R^2 "
                  f"{a['table2']['r2']:.3f} (control {a['gaussian_control']['table2']['r2']:.3f})",
                  flush=True)
    return out


def _fit_row(a: dict) -> dict:
    """The report's part of one model.fit analysis (as the ``fit`` step keeps for weights)."""
    return {"table2": a["table2"], "best_family": a["mle"]["best"],
            "summary": a["verdict"]["summary"], "flags": a["flags"],
            "mle": [{k: f[k] for k in ("family", "aic", "delta_aic", "ks")}
                    for f in a["mle"]["fits"]],
            "gaussian_control": a["gaussian_control"]["table2"],
            "plot": Path(a["plot"]).stem if a.get("plot") else None}


def step_analyse(cfg: FlowConfig, data: ModelData, net, xte, folder: Path) -> AnalyseResult:
    """The parts of ``[analyse]`` on the flow's network ``net`` (the quantised spec) and its
    float layers: Ising thermodynamics, criticality placement, neuron-output fits; each part
    timed, with its plots in ``folder``."""
    a = cfg.analyse
    parts, not_run, seconds = {}, {}, {}
    todo = [("ising", a.ising, lambda: _analyse_ising(cfg, data, net, folder)),
            ("criticality", a.criticality,
             lambda: (_analyse_criticality(cfg, data, folder), None)),
            ("activations", a.activations,
             lambda: (_analyse_activations(cfg, data, net, xte, folder), None))]
    for name, on, fn in todo:
        if not on:
            parts[name], not_run[name] = None, f"[analyse] {name} = false"
            continue
        t0 = time.perf_counter()
        parts[name], why = fn()
        seconds[name] = time.perf_counter() - t0
        if why:
            not_run[name] = why
            print(f"  {name}: not run ({why})", flush=True)
    return AnalyseResult(parts["ising"], parts["criticality"], parts["activations"], not_run,
                         seconds)


# -- generate, simulate, synth -------------------------------------------------------------------


def step_generate(net, folder: Path) -> GenerateResult:
    """Verilog, register map and manifest in ``folder/rtl``."""
    from lognet import __version__
    from lognet.hw.export import generate

    man = generate(net, folder / "rtl", force=True, version=__version__)
    return GenerateResult(man["top"], man["latency_cycles"], man["cycles_per_vector"])


def _rtl_outputs(cfg: FlowConfig, engine: Engine, net, X) -> tuple[np.ndarray, int, dict]:
    """The RTL's outputs for ``X`` in ``engine``, the cycles it took, and build/speed
    figures."""
    from lognet.hw.export import build_core

    if engine is Engine.AMARANTH:
        from lognet.hw import amsim

        y, cycles = amsim.stream_through(build_core(net), X)
        return y, cycles, {}
    if cfg.simulate.bulk:
        from lognet.sim.bulk import run_bulk

        s = run_bulk(net, X, simulator=engine.value, build_dir=cfg.simulate.build_dir)
    else:
        from lognet.sim.runner import run_sim

        s = run_sim(net, simulator=engine.value, inputs=X, scenario="random",
                    build_dir=cfg.simulate.build_dir, p_valid=1.0, p_ready=1.0)
    if s.outputs is None:
        raise InputError(f"the {engine.value} simulation did not finish: "
                         f"{s.error or s.first_mismatch}")
    return s.outputs, s.cycles, {"bench": "bulk" if cfg.simulate.bulk else "cocotb",
                                 "build_seconds": s.build_seconds,
                                 "build_cached": s.build_cached,
                                 "vectors_per_second": s.vectors_per_second}


def _first_difference(y, ref) -> tuple[int, dict | None]:
    if y.shape != ref.shape:
        raise RuntimeError(f"RTL gave {len(y)} outputs for {len(ref)} inputs")
    bad = np.argwhere(y != ref)
    if not len(bad):
        return 0, None
    i, j = map(int, bad[0])
    return len(bad), {"sample": i, "output": j, "expected": int(ref[i, j]),
                      "actual": int(y[i, j])}


def step_simulate(cfg: FlowConfig, q: QuantiseResult, data: ModelData, xte,
                  folder: Path) -> RtlCheck:
    """The RTL on the test split (or its first ``vectors``), every output compared with the
    integer reference, and the confusion matrix of its predictions."""
    from lognet.report import plot_confusion

    n = cfg.simulate.vectors
    X = xte if n == "all" else xte[:n]
    y_rtl, cycles, build = _rtl_outputs(cfg, cfg.simulate.engine, q.net, X)
    ref = q.y_int[:len(X)]
    n_bad, first = _first_difference(y_rtl, ref)
    also = []
    for engine in cfg.simulate.also:
        y2, cycles2, build2 = _rtl_outputs(cfg, engine, q.net, X)
        n2, first2 = _first_difference(y2, ref)
        also.append({"engine": engine.value, "vectors": len(X), "cycles": int(cycles2),
                     "mismatches": n2, **build2, **({"first_mismatch": first2} if first2 else {})})
        if n2 and first is None:
            first = first2
        n_bad += n2
    if also:
        build = {**build, "also": also}
    confusion = plot_confusion(
        data.truth[:len(X)], y_rtl.argmax(1), folder / "confusion_rtl.png",
        "RTL on the test split" + ("" if data.y_test is not None
                                   else " (rows: float model's top-1)"))
    return RtlCheck(cfg.simulate.engine.value, len(X), int(cycles), n_bad,
                    data.score(y_rtl), confusion, first, build)


def _arch_text(net) -> str:
    """``fc1 folded:6, fc2 folded:1, tunable=levels``: each layer's kind and lanes."""
    kinds = ", ".join(f"{la.name} " + (f"folded:{la.arch.lanes}"
                                        if la.arch.kind.value == "folded" else "parallel")
                      for la in net.layers)
    return f"{kinds}, tunable={net.layers[0].arch.tunable.value}"


def _rate(net) -> dict:
    """The :class:`TargetSynth` fields that say how fast ``net`` runs: lanes, beats, clocks per
    vector (the slowest layer sets the pace of a stream)."""
    from lognet.hw.plan import cycles_per_vector

    return dict(lanes={la.name: la.arch.lanes for la in net.layers
                       if la.arch.kind.value == "folded"},
                beats=(net.layers[0].in_beat_size, net.layers[-1].out_beat_size),
                cycles_per_vector=max(cycles_per_vector(la) for la in net.layers))


def step_synth(cfg: FlowConfig, net, folder: Path, out_dir: Path) -> list[TargetSynth]:
    """Out-of-context synthesis and place-and-route of the network per target (with the
    target's own arch/tunability when the config gives one); paths as in the final folder."""
    from lognet.boards.synth import synth_core
    from lognet.boards.tools import ToolFailed
    from lognet.hw.export import build_core
    from lognet.model.spec import with_arch_overrides

    y = cfg.synth
    results = []
    for t in y.targets:
        auto = y.arch.get(t) == "auto"
        nt = with_arch_overrides(net, arch=None if auto else y.arch.get(t),
                                 tunable=y.tunable.get(t))
        if auto:
            nt = _auto_folded(cfg, nt, t, f"[synth.arch] {t}")
        arch, rate = _arch_text(nt), _rate(nt)
        try:
            r = synth_core(lambda nt=nt: build_core(nt), t, y.clock.get(t), folder / "synth" / t,
                           dsp=y.dsp, place_timeout=y.place_timeout)
            one = TargetSynth(t, arch, r.relocated(folder, out_dir), **rate)
        except ToolFailed as e:
            one = TargetSynth(t, arch, error=str(e).replace(str(folder), str(out_dir)), **rate)
        results.append(one)
        print(one.line(), flush=True)
    return results


# -- the flow ------------------------------------------------------------------------------------


def _check_early(cfg: FlowConfig, steps, given) -> None:
    """What can be refused before any work: architectures and topology texts, folders that are
    files, a skipped quantise with nothing to resume from."""
    from lognet.model.arch import Arch
    from lognet.model.topology import make_topology

    for where, text in [("[quantise] arch", cfg.quantise.arch),
                        *((f"[synth.arch] {t}", a) for t, a in cfg.synth.arch.items())]:
        if text == "auto":  # lanes from the resource plan of a synthesis target
            continue
        try:
            Arch.parse(text)
        except ValueError as e:
            raise InputError(f"{where}: {e} (or \"auto\": lanes from the resource plan)"
                             ) from None
    if cfg.quantise.arch == "auto" and not cfg.synth.targets:
        raise InputError('[quantise] arch = "auto" plans for the first [synth] targets entry: '
                         'give one, e.g. targets = ["ice40-up5k"]')
    make_topology(np.ones((2, 65535)), cfg.quantise.topology)  # the text's form alone
    for where, folder in (("[simulate] build_dir", cfg.simulate.build_dir),
                          ("the report folder", cfg.flow.out)):
        for p in (Path(folder), *Path(folder).absolute().parents):
            if p.exists() and not p.is_dir():
                raise InputError(f"{where} {folder}: {p} is a file, not a folder")
    if "quantise" in steps.skip and not given:
        raise InputError("the quantise step cannot be skipped without --spec FILE")


def _check_targets(cfg: FlowConfig) -> None:
    import difflib

    from lognet.boards.synth import TARGETS

    named = [("[synth] targets", t) for t in cfg.synth.targets]
    named += [(f"[synth.{k}]", t) for k in ("arch", "tunable", "clock")
              for t in getattr(cfg.synth, k)]
    named.append(("[compare] area_target", cfg.compare.area_target))
    for where, t in named:
        if t not in TARGETS:
            m = difflib.get_close_matches(t, list(TARGETS), n=1)
            raise InputError(f"{where}: unknown synthesis target {t!r}; "
                             + (f"did you mean {m[0]!r}?" if m else f"use {', '.join(TARGETS)}"))


def _given_spec(path):
    from lognet.model.spec import NetworkSpec
    from lognet.model.specjson import load_spec

    s = load_spec(path)
    return s if isinstance(s, NetworkSpec) else NetworkSpec(s.name, (s,))


def run_flow(config=None, out=None, force=False, skip=(), spec=None) -> int:
    """Run the flow of ``config`` (a TOML/JSON path, a :class:`FlowConfig`, or None: the
    shipped digits demo) into the report folder ``out``. Returns 0, or 1 when the RTL differs
    from the integer reference."""
    from lognet import __version__
    from lognet.base.files import atomic_folder, check_out_folder
    from lognet.model.specjson import dump_spec
    from lognet.report import plot_times, summary_lines, write_report

    cfg = config if isinstance(config, FlowConfig) else load_config(config)
    out_dir = check_out_folder(out or cfg.flow.out, force)
    steps = _Steps(skip)
    _check_targets(cfg)
    given = spec or cfg.quantise.spec
    _check_early(cfg, steps, given)
    given_net = _given_spec(given) if given else None
    if "simulate" not in steps.skip:
        from lognet.sim.build import check_simulator

        for engine in (cfg.simulate.engine, *cfg.simulate.also):
            if engine is not Engine.AMARANTH:
                check_simulator(engine.value)  # a missing simulator is one line now
    report: dict = {"report_version": REPORT_VERSION, "lognet_version": __version__,
                    "config": cfg.to_json()}
    sim = None
    with atomic_folder(out_dir, force=force) as tmp:
        data = steps.run("train", lambda: step_train(cfg))
        if data is None:
            raise InputError("the train step cannot be skipped (it loads or makes the network)")
        report["model"] = data.to_json()
        report["float"] = {"test_accuracy": data.float_accuracy,
                           "train_accuracy": data.train_accuracy}
        xcal, xte = data.in_fmt.quantise(data.x_calib), data.in_fmt.quantise(data.x_test)

        fits = steps.run("fit", lambda: step_fit(data, cfg.flow.seed, tmp))
        report["fit"] = fits.to_json() if fits else {}

        qkw = _quantise_options(cfg, data, xcal)
        if given_net is not None:
            print(f"[quantise] resumed from {given}")
            q = _given(given_net, given, data, cfg, xte)
            steps.times["quantise"] = 0.0
        else:
            q = steps.run("quantise", lambda: step_quantise(cfg, data, qkw, xte, tmp))
            if q is None:
                raise InputError("the quantise step cannot be skipped without --spec FILE")
        dump_spec(q.net, tmp / "network.json")
        report["quantised"] = q.to_json()
        fa = data.float_accuracy
        print(f"float accuracy {fa if fa is None else f'{fa:.4f}'}, integer reference "
              f"{q.int_accuracy:.4f} ({q.picker}, K={q.K})")

        a = cfg.analyse
        an = steps.run("analyse", lambda: step_analyse(cfg, data, q.net, xte, tmp),
                       "[analyse] enabled = false" if not a.enabled
                       else None if a.ising or a.criticality or a.activations
                       else "[analyse] ising, criticality and activations are all false")
        report["analyse"] = an.to_json() if an else None

        area_on = cfg.compare.area and "synth" not in steps.skip
        area_dir = Path(cfg.simulate.build_dir).parent / "flow-area"
        points = steps.run("compare", lambda: step_compare(cfg, data, qkw, xte, tmp, area_dir,
                                                           area_on))
        report["compare"] = None if points is None else [p.to_json() for p in points]

        tuned = steps.run("tune", lambda: step_tune(cfg, data, q.net, xcal, xte, tmp),
                          None if cfg.tune.enabled else "[tune] enabled = false")
        report["tune"] = tuned

        gen = steps.run("generate", lambda: step_generate(q.net, tmp))
        report["generate"] = gen.to_json() if gen else None

        sim = steps.run("simulate", lambda: step_simulate(cfg, q, data, xte, tmp))
        report["simulate"] = sim.to_json() if sim else None

        syn = steps.run("synth", lambda: step_synth(cfg, q.net, tmp, out_dir),
                        None if cfg.synth.targets else "no [synth] targets")
        report["synth"] = None if syn is None else [s.to_json() for s in syn]
        if syn:
            from lognet.report import plot_synth

            plot_synth(report["synth"], tmp / "synth.png")

        report["step_seconds"] = steps.times
        plot_times(steps.times, tmp / "step_times.png")
        report["summary"] = summary_lines(report)
        if "report" not in steps.skip:
            write_report(report, tmp)
    print(f"report: {out_dir}/report.html and report.json")
    for line in report["summary"]:
        print(line)
    if sim and sim.mismatches:
        fm = sim.first_mismatch
        print(f"lognet: RTL differs from the integer reference: sample {fm['sample']}, output "
              f"{fm['output']}: expected {fm['expected']}, got {fm['actual']}", file=sys.stderr)
        return 1
    return 0
