"""The flow's report: the PNG plots, ``report.json`` and a self-contained ``report.html``.

Everything here reads plain report data (the content of ``report.json``: dicts and lists), so a
report can be drawn again from its JSON. Plots share one matplotlib set-up (:func:`figure`); the
HTML is built from small functions and one :class:`string.Template` for the page.
"""

from __future__ import annotations

import base64
import contextlib
import json
from html import escape
from pathlib import Path
from string import Template

import numpy as np

__all__ = [
    "analyse_lines",
    "figure",
    "pareto_front",
    "plot_compare",
    "plot_confusion",
    "plot_levels",
    "plot_pareto",
    "plot_synth",
    "plot_times",
    "render_html",
    "summary_lines",
    "write_report",
]

#: resolution of every PNG
DPI = 90


@contextlib.contextmanager
def figure(path, figsize, ncols: int = 1):
    """``(fig, axes)`` of a new figure on the Agg back end; on leaving, the figure is laid out,
    saved to ``path`` and closed (also when drawing fails)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=figsize)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)


# -- plots ---------------------------------------------------------------------------------------


def plot_levels(w, levels_real, title: str, path) -> None:
    """Histogram of |w| with the picked levels (after rounding) as red lines."""
    with figure(path, (6, 3.2)) as (_, ax):
        ax.hist(np.abs(np.ravel(w)), bins=120, color="#bbb")
        for v in levels_real:
            ax.axvline(v, color="r", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("|w| (red: picked levels after rounding)")


def plot_tuned_levels(w, before_real, after_real, title: str, path) -> None:
    """Histogram of |w| with the levels before tuning (red) and after (blue, dashed)."""
    with figure(path, (6, 3.2)) as (_, ax):
        ax.hist(np.abs(np.ravel(w)), bins=120, color="#bbb")
        for v in before_real:
            ax.axvline(v, color="r", lw=0.8)
        for v in after_real:
            ax.axvline(v, color="b", lw=1.0, ls="--")
        ax.set_title(title)
        ax.set_xlabel("|w| (red: levels before tuning, blue dashed: after)")


def plot_tune_curves(runs: dict[str, dict], path) -> None:
    """Training loss and integer training accuracy per epoch of each tuning run."""
    with figure(path, (9, 3.2), ncols=2) as (_, (a1, a2)):
        for name, r in runs.items():
            a1.plot(r["loss_curve"], label=name)
            a2.plot([100 * v for v in r["train_accuracy_curve"]], label=name)
        a1.set_xlabel("epoch")
        a1.set_ylabel("training loss")
        a2.set_xlabel("epoch")
        a2.set_ylabel("integer training accuracy (%)")
        a1.legend(fontsize=8)


def plot_compare(rows, float_acc, path) -> None:
    """Integer-reference accuracy against K, one line per picker."""
    with figure(path, (6, 3.4)) as (_, ax):
        for p in sorted({r["picker"] for r in rows}):
            rs = sorted((r for r in rows if r["picker"] == p), key=lambda r: r["K"])
            ax.plot([r["K"] for r in rs], [100 * r["int_accuracy"] for r in rs], "o-", label=p)
        if float_acc is not None:
            ax.axhline(100 * float_acc, color="k", ls="--", lw=0.8, label="float")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("levels K")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=8)


def plot_confusion(y_true, y_pred, path, title: str) -> list[list[int]]:
    """Confusion matrix (rows: truth, columns: prediction); returns its counts."""
    n = int(max(y_true.max(), y_pred.max())) + 1
    cm = np.zeros((n, n), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    with figure(path, (4, 4)) as (_, ax):
        ax.imshow(cm, cmap="Blues")
        for i, j in zip(*np.nonzero(cm)):
            ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=7)
        ax.set_xlabel("RTL prediction")
        ax.set_ylabel("true label")
        ax.set_title(title)
    return cm.tolist()


def plot_times(times: dict[str, float], path) -> None:
    """Seconds per flow step."""
    with figure(path, (6, 2.6)) as (_, ax):
        names = list(times)
        ax.barh(names, [times[n] for n in names], color="#69c")
        ax.set_xlabel("seconds")


def pareto_front(rows) -> list[dict]:
    """Rows that no other row beats on both LUTs (fewer or equal) and accuracy (higher or
    equal, one of them strictly)."""
    def beats(a, b):
        la, lb = a["area"]["lut4"], b["area"]["lut4"]
        return (la <= lb and a["int_accuracy"] >= b["int_accuracy"]
                and (la < lb or a["int_accuracy"] > b["int_accuracy"]))
    return [r for r in rows if not any(beats(o, r) for o in rows if o is not r)]


def plot_pareto(rows, float_acc, path) -> bool:
    """Accuracy against LUT4 of the core for every (picker, K) row that has an area; False
    (and no file) when none has."""
    pts = [r for r in rows if r.get("area")]
    if not pts:
        return False
    with figure(path, (6, 3.6)) as (_, ax):
        marks = dict(zip(sorted({r["picker"] for r in pts}), "osD^v<>p"))
        for p, mk in marks.items():
            rs = [r for r in pts if r["picker"] == p]
            ax.scatter([r["area"]["lut4"] for r in rs], [100 * r["int_accuracy"] for r in rs],
                       marker=mk, label=p)
            for r in rs:
                ax.annotate(f"K={r['K']}", (r["area"]["lut4"], 100 * r["int_accuracy"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        fx = sorted(pareto_front(pts), key=lambda r: r["area"]["lut4"])
        ax.plot([r["area"]["lut4"] for r in fx], [100 * r["int_accuracy"] for r in fx], "k:",
                lw=0.8, label="Pareto front")
        if float_acc is not None:
            ax.axhline(100 * float_acc, color="k", ls="--", lw=0.8, label="float")
        ax.set_xlabel(f"LUT4 of the core ({pts[0]['area']['target']}, Yosys)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    return True


def _total(r: dict, cell: str, default=None):
    """A cell count of a synth row's total (``default`` when the run has none)."""
    return ((r.get("cells") or {}).get("total") or {}).get(cell, default)


def plot_synth(results, path) -> None:
    """LUT4 and Fmax per synthesis target (nothing when no run has cell counts)."""
    ok = [r for r in results if r.get("cells")]
    if not ok:
        return
    with figure(path, (7, 2.8), ncols=2) as (_, (a1, a2)):
        names = [f"{r['target']}\n" + r["arch"].replace(", ", "\n") for r in ok]
        a1.bar(names, [_total(r, "lut4") for r in ok], color="#69c")
        a1.set_ylabel("LUT4 (core + harness)")
        a2.bar(names, [(r.get("timing") or {}).get("fmax_mhz") or 0 for r in ok], color="#c96")
        a2.set_ylabel("Fmax (MHz)")
        for x, r in enumerate(ok):
            a2.plot([x - 0.4, x + 0.4], [r["clock_mhz"]] * 2, "k--", lw=0.8)
        for a in (a1, a2):
            a.tick_params(labelsize=7)


# -- text ----------------------------------------------------------------------------------------


def _metric(report: dict) -> str:
    return "accuracy" if report["model"]["labels"] else "top-1 agreement with float"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def summary_lines(report: dict) -> list[str]:
    """The text summary that ends a run (also listed in the HTML)."""
    fl, q, sim = report["float"], report["quantised"], report.get("simulate")
    metric = _metric(report)
    out = [f"model: {report['model']['source']}"]
    if fl["test_accuracy"] is not None:
        out.append(f"float test accuracy {100 * fl['test_accuracy']:.2f}%")
    out.append(f"integer reference ({q['picker']}, K={q['K']}): {metric} "
               f"{100 * q['int_accuracy']:.2f}%")
    if sim:
        verdict = ("bit-exact with the integer reference" if not sim["mismatches"]
                   else f"{sim['mismatches']} values differ from the integer reference")
        speed = sim.get("vectors_per_second")
        bench = f" {sim['bench']}" if sim.get("bench") else ""
        out.append(f"RTL ({sim['engine']}{bench}, {sim['vectors']} vectors"
                   + (f", {speed:,.0f} vectors/s" if speed else "") + f"): {metric} "
                   f"{100 * sim['rtl_accuracy']:.2f}%, {verdict}")
        for a in sim.get("also", []):
            ok = ("bit-exact with the integer reference" if not a["mismatches"]
                  else f"{a['mismatches']} values differ from the integer reference")
            bench = f" {a['bench']}" if a.get("bench") else ""
            out.append(f"RTL ({a['engine']}{bench}, {a['vectors']} vectors): {ok}")
    t = report.get("tune")
    if t:
        m = t["main"]
        out.append(f"level tuning ({m['family']}): test accuracy {_pct(m['test_accuracy_before'])}"
                   f" -> {_pct(m['test_accuracy_after'])} in {m['seconds']:.1f} s, "
                   f"{m['register_words_changed']} of {m['register_words_writable']} register "
                   f"words to write")
        fa = t.get("field")
        if fa:
            out.append(f"field adaptation (digits shifted {fa['shift_pixels']} px): "
                       f"{_pct(fa['test_accuracy_before'])} -> {_pct(fa['test_accuracy_after'])}"
                       f" (unshifted {_pct(fa['original_accuracy'])}), "
                       f"{fa['register_words_changed']} register words written")
    for n, f in report.get("fit", {}).items():
        out.append(f"{n}: {f['summary']}")
    out += analyse_lines(report.get("analyse"))
    for r in report.get("synth") or []:
        tm = r.get("timing") or {}
        ips = r.get("inferences_per_s")
        rate = (f"; {r['cycles_per_vector']:g} clocks/vector, {ips:,.0f} inferences/s"
                if ips is not None else "")
        out.append(f"{r['target']} ({r['arch']}): {r['status']}, {_total(r, 'lut4')} LUT4, "
                   f"Fmax {tm.get('fmax_mhz')} MHz for {r.get('clock_mhz')} MHz{rate}")
    return out


def _num(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None else format(v, fmt)


def analyse_lines(an: dict | None) -> list[str]:
    """The ``analyse`` step's results in a few lines (empty when it did not run)."""
    if not an:
        return []
    out = []
    ising = an.get("ising")
    if ising:
        peaks = ", ".join(f"{r['model']['name']} {_num(r['thermo']['peak']['T'])}"
                          for r in ising["models"])
        out.append(f"Ising model: C(T) peak temperature {peaks}")
    cr = an.get("criticality")
    if cr:
        where = ", ".join(f"{p['name']} sigma_w={p['sigma_w']:.2f} ({p['phase']})"
                          for p in cr["layers"])
        out.append(f"criticality ({cr['family_text']}, {cr['activation']}, N={cr['width']}): "
                   f"lambda = 0 at sigma_w = {_num(cr['transition_sigma_w'], '.3f')}; {where}")
    act = an.get("activations")
    if act:
        for key in ("float", "integer"):
            rows = act.get(key, {}).get("arrays", {})
            if rows:
                best = ", ".join(f"{n} {r['best_family']}" for n, r in rows.items())
                out.append(f"neuron outputs, {key} network (best family by AIC): {best}")
    for part, why in (an.get("not_run") or {}).items():
        out.append(f"{part} analysis not run: {why}")
    return out


# -- HTML ----------------------------------------------------------------------------------------

_PAGE = Template("""<!doctype html><html><head><meta charset="utf-8"><title>lognet report</title>
<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}
figure{display:inline-block;margin:0.5em}img{max-width:100%}</style></head><body>
<h1>lognet report</h1>
<p>$source; lognet $version,
report version $report_version.</p>
<h2>Headline</h2>
$headline<ul>$summary</ul>
<h2>Is |w| lognormal? (measured, not assumed)</h2>$fits
<h2>Without data, and the neuron outputs</h2>$analyse
<h2>Pickers and bit widths</h2>
$compare
<h2>Hardware against software</h2>
$confusion
<h2>Level tuning: register writes, not re-synthesis</h2>$tune
<h2>Synthesis</h2>$synth
<h2>Step times</h2>$steps
</body></html>""")

_NOT_RUN = "<p>not run</p>"


def _row(cells, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>"


def _table(head, rows) -> str:
    """A table with header cells ``head`` and body rows ``rows`` (cells already HTML)."""
    return "<table>" + _row(head, "th") + "".join(_row(r) for r in rows) + "</table>"


class _Figures:
    """The folder's PNGs as inline ``<figure>`` elements, by file stem."""

    def __init__(self, folder: Path):
        self.img = {p.stem: base64.b64encode(p.read_bytes()).decode()
                    for p in sorted(folder.glob("*.png"))}

    def __call__(self, name: str, caption: str) -> str:
        if name not in self.img:
            return ""
        return (f'<figure><img src="data:image/png;base64,{self.img[name]}" '
                f'alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>')


def _headline(report: dict) -> str:
    fl, q = report["float"], report["quantised"]
    sim = report.get("simulate") or {}
    rtl = (f"{_pct(sim.get('rtl_accuracy'))} on {sim.get('vectors', 0)} vectors, "
           f"{sim.get('mismatches', 'n/a')} mismatches with the integer reference"
           if sim else "not run")
    return ("<table>"
            f"<tr><th>float {_metric(report)}</th><td>{_pct(fl['test_accuracy'])}</td></tr>"
            f"<tr><th>integer reference ({escape(str(q['picker']))}, K={q['K']})</th>"
            f"<td>{_pct(q['int_accuracy'])}</td></tr>"
            f"<tr><th>RTL ({sim.get('engine', 'not run')})</th><td>{rtl}</td></tr></table>")


def _fits(report: dict, fig: _Figures) -> str:
    parts = [f"<h3>{escape(n)}</h3><p>{escape(f['summary'])}</p>"
             f"{fig('fit_' + n, 'distribution of |w| for ' + n)}"
             f"{fig('levels_' + n, 'picked levels for ' + n)}"
             for n, f in report["fit"].items()]
    return "".join(parts) or _NOT_RUN


def _said(notes: dict, part: str) -> str:
    n = notes.get(part) or {}
    return (f"<p><b>Measured:</b> {escape(n.get('measured', ''))}. <b>Not shown:</b> "
            f"{escape(n.get('not_shown', ''))}.</p>")


def _analyse(report: dict, fig: _Figures) -> str:
    an = report.get("analyse")
    if not an:
        return _NOT_RUN
    notes, parts = an.get("notes") or {}, []
    ising = an.get("ising")
    if ising:
        body = [[escape(r["model"]["name"]), r["model"]["spins"], f"{r['model']['couplings']:,}",
                 _num(r["thermo"]["peak"]["T"]), _num(r["thermo"]["peak"]["C"], ".4f"),
                 _num(r["model"]["temperature_scale"]),
                 _num(r["thermo"]["peak"].get("T_over_scale")),
                 f"{r['dos']['steps']:.3g}" + ("" if r["dos"]["converged"] else " (not converged)")]
                for r in ising["models"]]
        parts.append("<h3>The network as an Ising model</h3>" + _said(notes, "ising")
                     + _table(["network", "spins", "couplings", "peak T", "peak C/N",
                               "RMS local field", "peak T / field", "Wang-Landau flips"], body)
                     + fig("ising", "density of states and specific heat C(T)"))
    cr = an.get("criticality")
    if cr:
        reg = cr.get("critical_region") or {}
        body = [[escape(p["name"]), p["n_in"], f"{p['sigma_w']:.3f}", _num(p["lambda"], "+.4f"),
                 escape(p["phase"])] for p in cr["layers"]]
        parts.append(
            "<h3>Signal propagation: order, chaos and the trained layers</h3>"
            + _said(notes, "criticality")
            + f"<p>{escape(cr['family_text'])} weights, {escape(cr['activation'])}, N = "
              f"{cr['width']}, depth {cr['depth']}: lambda = 0 at sigma_w = "
              f"{_num(cr['transition_sigma_w'], '.4f')}; critical region |lambda| &lt;= "
              f"{cr['tol']:g}: {_num(reg.get('lo'), '.3f')}..{_num(reg.get('hi'), '.3f')}.</p>"
            + _table(["layer", "fan-in", "sigma_w", "lambda at that scale", "phase"], body)
            + fig("criticality", "Lyapunov exponent against sigma_w, trained layers dashed"))
    act = an.get("activations")
    if act:
        body, figs = [], []
        for key in ("float", "integer"):
            for n, r in act.get(key, {}).get("arrays", {}).items():
                zf = r.get("zero_fraction")
                body.append([key, escape(n), f"{r['values']:,}",
                             "" if zf is None else f"{100 * zf:.1f}%", escape(r["best_family"]),
                             _num(r["table2"]["r2"]), _num(r["gaussian_control"]["r2"]),
                             escape("; ".join(f["flag"] for f in r["flags"]))])
                if r.get("plot"):
                    figs.append(fig(r["plot"], f"{key} network: {n}"))
        parts.append(f"<h3>Neuron outputs over {act['vectors']} test vectors</h3>"
                     + _said(notes, "activations")
                     + _table(["network", "array", "values", "ReLU zeros left out",
                               "best family (AIC)", "Table-2 R^2", "Gaussian control R^2",
                               "flags"], body) + "".join(figs))
    for part, why in (an.get("not_run") or {}).items():
        parts.append(f"<p>{escape(part)}: not run ({escape(why)})</p>")
    return "".join(parts) or _NOT_RUN


def _compare(report: dict, fig: _Figures) -> str:
    rows = report.get("compare") or []
    metric = _metric(report)
    has_area = any(r.get("area") for r in rows)
    head = ["picker", "K", f"{metric} %", "SQNR per layer (dB)"]
    if has_area:
        head += ["LUT4", "FF", "DSP", "Pareto"]
    body = []
    for r in rows:
        cells = [escape(r["picker"]), r["K"], f"{100 * r['int_accuracy']:.2f}",
                 ", ".join(f"{s:.1f}" for s in r["sqnr_db"])]
        if has_area:
            a = r.get("area") or {}
            cells += [a.get("lut4", ""), a.get("ff", ""), a.get("dsp", ""),
                      "yes" if r.get("pareto") else ""]
        body.append(cells)
    return (_table(head, body) + "\n"
            + fig("accuracy_vs_K", metric + " of the integer reference against K") + "\n"
            + fig("pareto", metric + " against LUT4 (Pareto front dotted)"))


def _synth(report: dict, fig: _Figures) -> str:
    runs = report.get("synth") or []
    if not runs:
        return _NOT_RUN

    def beats(r):
        return "" if r.get("in_beat") is None else f"{r['in_beat']} / {r['out_beat']}"

    def rate(r):
        ips = r.get("inferences_per_s")
        return "" if ips is None else f"{ips:,.0f}"

    body = [[r["target"], escape(r["arch"]), beats(r), r["status"]]
            + [_total(r, c, "") for c in ("lut4", "ff", "dsp", "bram")]
            + [(r.get("timing") or {}).get("fmax_mhz", ""), r.get("clock_mhz", ""),
               "" if r.get("cycles_per_vector") is None else f"{r['cycles_per_vector']:g}",
               rate(r)]
            for r in runs]
    return (_table(["target", "arch", "beats in / out", "status", "LUT4", "FF", "DSP", "BRAM",
                    "Fmax MHz", "asked MHz", "clocks/vector", "inferences/s"], body)
            + "<p>Out of context: the core sits behind shift registers so that nothing is "
              "optimised away; counts include that harness. Beats: elements per stream "
              "transfer into and out of the network. Inferences/s: a long stream at the asked "
              "clock when it is met, at Fmax when it is not.</p>"
            + fig("synth", "LUT4 and Fmax per target"))


def _tune(report: dict, fig: _Figures) -> str:
    t = report.get("tune")
    if not t:
        return _NOT_RUN
    runs = {"main": t["main"], **({"field": t["field"]} if t.get("field") else {})}
    body = [[name, escape(r["family"]), _pct(r["test_accuracy_before"]),
             _pct(r["test_accuracy_after"]), f"{r['seconds']:.1f}",
             f"{r['register_words_changed']} / {r['register_words_writable']}"]
            for name, r in runs.items()]
    lv = [[escape(la["name"]), ", ".join(map(str, la["levels_before"])),
           ", ".join(map(str, la["levels_after"])), f"{la['biases_changed']}/{la['biases']}"]
          for la in t["main"]["layers"]]
    plots = "".join(fig(f"tune_levels_{la['name']}", f"{la['name']}: levels before and after")
                    for la in t["main"]["layers"])
    return (_table(["run", "levels", "test before", "test after", "seconds",
                    "register words"], body)
            + _table(["layer", "levels before", "levels after", "biases changed"], lv)
            + plots + fig("tune_curves", "tuning: loss and integer training accuracy"))


def _steps(report: dict, fig: _Figures) -> str:
    body = [[k, f"{v:.1f}"] for k, v in report["step_seconds"].items()]
    return _table(["step", "seconds"], body) + "\n" + fig("step_times", "time per step")


def render_html(report: dict, folder: Path) -> str:
    """The page of ``report``, with the PNGs of ``folder`` inline."""
    fig = _Figures(Path(folder))
    return _PAGE.substitute(
        source=escape(report["model"]["source"]), version=escape(report["lognet_version"]),
        report_version=report["report_version"], headline=_headline(report),
        summary="".join(f"<li>{escape(s)}</li>" for s in report.get("summary", [])),
        fits=_fits(report, fig), analyse=_analyse(report, fig), compare=_compare(report, fig),
        confusion=fig("confusion_rtl", "RTL predictions on the test split"),
        tune=_tune(report, fig), synth=_synth(report, fig), steps=_steps(report, fig))


def write_report(report: dict, folder) -> None:
    """``report.json`` and a self-contained ``report.html`` (plots inline as base64 PNGs)."""
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (folder / "report.html").write_text(render_html(report, folder))
