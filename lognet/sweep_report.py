"""The outputs of a sweep: one table (``results.csv``, ``results.json``: every figure and the
point's spec hash), the Pareto fronts per target as PNGs (accuracy against LUT4, memory bits and
inferences/s) and ``sweep.html`` with the plots inline, in the style of the flow's report."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path
from string import Template

from lognet.report import _Figures, _table, figure

__all__ = ["AXES", "pareto", "write_outputs"]

#: the fronts: (name, field, label, better) with better ``min`` (a cost) or ``max`` (a rate)
AXES = (("lut4", "lut4", "LUT4 of the core", "min"),
        ("memory", "memory_bits", "memory bits (plan)", "min"),
        ("rate", "inferences_per_s", "inferences/s", "max"))

SWEEP_VERSION = 1


def _lut4(r) -> tuple[int | None, str]:
    """LUT4 from Yosys when the point was synthesised, else the plan's estimate."""
    if r.lut4 is not None:
        return r.lut4, "Yosys"
    return r.lut4_est, "plan estimate"


def _x(r, axis: str):
    if axis == "lut4":
        return _lut4(r)[0]
    return getattr(r, dict((a[0], a[1]) for a in AXES)[axis])


def pareto(results, axis: str) -> list:
    """The results no other beats on accuracy (higher or equal) and on ``axis`` (fewer LUT4 or
    memory bits, more inferences/s; one of the two strictly)."""
    better = dict((a[0], a[3]) for a in AXES)[axis]
    pts = [r for r in results if r.int_accuracy is not None and _x(r, axis) is not None
           and r.status in ("ok", "synthesised")]

    def cost(r):
        v = _x(r, axis)
        return v if better == "min" else -v

    def beats(a, b):
        return (cost(a) <= cost(b) and a.int_accuracy >= b.int_accuracy
                and (cost(a) < cost(b) or a.int_accuracy > b.int_accuracy))
    return [r for r in pts if not any(beats(o, r) for o in pts if o is not r)]


def plot_fronts(results, target: str, path) -> bool:
    """One figure per target: accuracy against each axis, every point, its front dotted."""
    rs = [r for r in results if r.point.target == target and r.int_accuracy is not None]
    if not rs:
        return False
    with figure(path, (13, 3.8), ncols=3) as (_, axes):
        pickers = sorted({r.point.picker for r in rs})
        marks = dict(zip(pickers, "osD^v<>p*hX"))
        for ax, (name, _, label, better) in zip(axes, AXES):
            pts = [r for r in rs if _x(r, name) is not None]
            for pk in pickers:
                sel = [r for r in pts if r.point.picker == pk]
                ax.scatter([_x(r, name) for r in sel], [100 * r.int_accuracy for r in sel],
                           marker=marks[pk], label=pk, s=18)
            front = sorted((r for r in pareto(pts, name)), key=lambda r: _x(r, name))
            ax.plot([_x(r, name) for r in front], [100 * r.int_accuracy for r in front], "k:",
                    lw=0.9, label="Pareto front")
            if name == "lut4":
                src = {_lut4(r)[1] for r in pts}
                label = f"{label} ({', '.join(sorted(src))})"
            if name in ("memory", "rate") and pts:
                ax.set_xscale("log")
            ax.set_xlabel(label + (" (fewer is better)" if better == "min" else ""))
            ax.set_ylabel("integer accuracy (%)")
            ax.set_title(target, fontsize=9)
        axes[0].legend(fontsize=7)
    return True


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return buf.getvalue()


_PAGE = Template("""<!doctype html><html><head><meta charset="utf-8"><title>lognet sweep</title>
<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0;font-size:90%}
td,th{border:1px solid #ccc;padding:2px 6px}
figure{display:inline-block;margin:0.5em}img{max-width:100%}</style></head><body>
<h1>lognet sweep</h1>
<p>lognet $version, sweep version $sweep_version: $summary</p>
<h2>Pareto fronts</h2>$fronts
<h2>Points</h2>$table
$invalid
</body></html>""")


def _html(results, invalid, summary: str, folder: Path, version: str, targets) -> str:
    fig = _Figures(folder)
    fronts = {a[0]: {id(r) for r in pareto(results, a[0])} for a in AXES}
    head = ["network", "picker", "K", "arith", "tunable", "lanes", "target", "status",
            "accuracy %", "LUT4", "FF", "DSP", "BRAM", "memory bits", "Fmax MHz",
            "inferences/s", "front", "spec hash"]
    body = []
    for r in results:
        p = r.point
        lut, src = _lut4(r)
        on = [n for n in fronts if id(r) in fronts[n]]
        body.append([escape(p.network), escape(p.picker), p.K,
                     escape("/".join(r.arith_resolved) if r.arith_resolved else p.arith),
                     escape(p.tunable), escape(r.arch or p.lanes), escape(p.target),
                     escape(r.status) + (f"<br><small>{escape(r.reason[:120])}</small>"
                                         if r.reason else ""),
                     "" if r.int_accuracy is None else f"{100 * r.int_accuracy:.2f}",
                     "" if lut is None else f"{lut:,}" + ("" if src == "Yosys" else " (est)"),
                     r.ff if r.ff is not None else "", r.dsp if r.dsp is not None else "",
                     r.bram if r.bram is not None else "",
                     "" if r.memory_bits is None else f"{r.memory_bits:,}",
                     "" if r.fmax_mhz is None else f"{r.fmax_mhz:.1f}",
                     "" if r.inferences_per_s is None else f"{r.inferences_per_s:,.0f}",
                     ", ".join(on), r.spec_hash or ""])
    inv = ""
    if invalid:
        inv = "<h2>Invalid points (not run)</h2><ul>" + "".join(
            f"<li>{escape(p.label())}: {escape(why)}</li>" for p, why in invalid) + "</ul>"
    return _PAGE.substitute(
        version=escape(version), sweep_version=SWEEP_VERSION, summary=escape(summary),
        fronts="".join(fig(f"pareto_{t}", f"{t}: accuracy against LUT4, memory bits and "
                                          f"inferences/s (fronts dotted)") for t in targets)
        or "<p>no point has an accuracy</p>",
        table=_table(head, body), invalid=inv)


def write_outputs(run, folder, *, config: dict, summary: str) -> None:
    """The table, the fronts and the page of a :class:`~lognet.sweep_engine.SweepRun` in
    ``folder`` (a fresh folder: the caller lands it atomically)."""
    from lognet import __version__
    from lognet.sweep_engine import COLUMNS

    folder = Path(folder)
    results = run.results
    fronts = {a[0]: {id(r) for r in pareto(results, a[0])} for a in AXES}
    rows = []
    for r in results:
        row = r.row()
        row["pareto"] = " ".join(n for n in fronts if id(r) in fronts[n])
        rows.append(row)
    (folder / "results.csv").write_text(_csv(rows, [*COLUMNS, "pareto"]))
    doc = {"sweep_version": SWEEP_VERSION, "lognet_version": __version__, "config": config,
           "summary": summary,
           "counts": {"points": len(results), "failed": run.failed,
                      "invalid": len(run.invalid), "stages_computed": run.computed,
                      "stages_cached": run.cached, "seconds": round(run.seconds, 3)},
           "points": [{**r.to_json(),
                       "pareto": [n for n in fronts if id(r) in fronts[n]]} for r in results]}
    (folder / "results.json").write_text(json.dumps(doc, indent=1, default=float) + "\n")
    targets = sorted({r.point.target for r in results})
    drawn = [t for t in targets if plot_fronts(results, t, folder / f"pareto_{t}.png")]
    (folder / "sweep.html").write_text(_html(results, run.invalid, summary, folder,
                                             __version__, drawn))
