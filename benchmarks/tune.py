"""Level tuning on the digits MLP (64-32-10): accuracy before and after, the time it takes, and
field adaptation to shifted digits. Prints a table and writes JSON.

    python benchmarks/tune.py [--epochs 60] [--seeds 0] [--out benchmarks/results/tune.json]

Rows (accuracy of the bit-exact integer reference on the test split; every tuned spec keeps the
signs and indices of its start, so it loads as level and bias register writes):

- K = 4 ``optimal`` levels, free levels tuned. Target: >= 96.8 % (float - 0.5 pt).
- K = 4 ``lognormal-lloyd`` levels, tuned as a lognormal family (two numbers per layer, biases
  free; the same with biases frozen for comparison). Target: >= 96.0 %.
- K = 8 ``optimal`` levels, free levels tuned. Target: >= float - 0.2 pt.
- the demo network (``lognet/default_flow.toml``: optimal, K = 8, folded:1, tunable=levels):
  tuning time, target <= 60 s on 2 cores.
- field adaptation: the demo network on the digits shifted right by one pixel, before and after
  tuning its levels and biases on the shifted training split, with the register words written.
  Target: recovers >= half of the accuracy the shift cost.

With several ``--seeds`` (the tuning's shuffling seed) each row gives the mean and the range.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from lognet.config import FlowConfig
from lognet.flow import tune_spec
from lognet.model.arch import Arch
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.reference import reference
from lognet.model.train import train_digits_mlp
from lognet.model.tune import TuneData, shift_images


def _acc(net, x, y) -> float:
    return float(np.mean(reference(net, x).argmax(1) == y))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=FlowConfig().tune.epochs)
    ap.add_argument("--seeds", default="0", help="tuning seeds, comma-separated")
    ap.add_argument("--out", default="benchmarks/results/tune.json")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    demo = FlowConfig.from_file(Path(__file__).parents[1] / "lognet" / "default_flow.toml")
    d = train_digits_mlp(hidden=demo.model.hidden, seed=demo.flow.seed)
    fmt = QFormat(0, 8, False)
    xtr, xte = fmt.quantise(d["x_train"]), fmt.quantise(d["x_test"])
    data = TuneData(xtr, d["y_train"], xte, d["y_test"])
    q = demo.quantise
    arch = Arch.parse(q.arch, arith=q.arith, tunable=q.tunable)
    fl = d["test_accuracy"]

    def net(picker, K):
        return quantise_network(d["layers"], K=K, picker=picker, in_fmt=fmt, calib_x=xtr,
                                level_bits=q.level_bits, bias_bits=q.bias_bits,
                                out_bits=q.out_bits, arch=arch, name="digits")[0]

    cases = [
        ("K=4 optimal, free levels", "optimal", 4, "free", True, 0.968),
        ("K=4 lognormal-lloyd, LN family", "lognormal-lloyd", 4, "lognormal", True, 0.960),
        ("K=4 lognormal-lloyd, LN family, biases frozen", "lognormal-lloyd", 4, "lognormal",
         False, None),
        ("K=8 optimal, free levels (demo net)", q.picker, q.K, "free", True, fl - 0.002),
    ]
    rows = []
    for name, picker, K, fam, biases, target in cases:
        n = net(picker, K)
        runs = [tune_spec(n, data, family=fam, epochs=args.epochs, seed=s, biases=biases)
                for s in seeds]
        after = [t.test_after for t in runs]
        rows.append({"case": name, "picker": picker, "K": K, "family": fam, "biases": biases,
                     "before": runs[0].test_before, "after_mean": float(np.mean(after)),
                     "after_min": min(after), "after_max": max(after),
                     "seconds_mean": float(np.mean([t.result.seconds for t in runs])),
                     "words": len(runs[0].writes),
                     "target": target,
                     "met": None if target is None else bool(np.mean(after) >= target - 1e-12),
                     "levels": [la.to_json() for la in runs[0].result.layers]})
        print(f"  {name}: {rows[-1]['before']:.4f} -> {rows[-1]['after_mean']:.4f} "
              f"({rows[-1]['seconds_mean']:.1f} s)", flush=True)

    # field adaptation: the demo's bitstream, the digits shifted right by one pixel
    n = net(q.picker, q.K)
    xs_tr = fmt.quantise(shift_images(d["x_train"], 1))
    xs_te = fmt.quantise(shift_images(d["x_test"], 1))
    orig = _acc(n, xte, d["y_test"])
    shifted = TuneData(xs_tr, d["y_train"], xs_te, d["y_test"])
    field = []
    for s in seeds:
        t = tune_spec(n, shifted, family="free", epochs=args.epochs, seed=s)
        lost = orig - t.test_before
        field.append({"seed": s, "original_on_original": orig,
                      "original_on_shifted": t.test_before, "tuned_on_shifted": t.test_after,
                      "recovered_fraction": (t.test_after - t.test_before) / lost
                      if lost > 0 else None,
                      "register_words": len(t.writes), "writable_words": t.writable,
                      "seconds": t.result.seconds})
    rec = [f["recovered_fraction"] for f in field if f["recovered_fraction"] is not None]
    demo_seconds = rows[3]["seconds_mean"]

    print(f"\nDigits MLP 64-32-10, float test accuracy {fl:.4f}; tuning {args.epochs} epochs, "
          f"seeds {seeds}; integer-reference test accuracy")
    print(f"{'case':<48} {'PTQ':>7} {'tuned':>7} {'range':>15} {'target':>8} {'met':>4} "
          f"{'s':>6} {'words':>6}")
    for r in rows:
        tgt = "" if r["target"] is None else f">={r['target']:.4f}"
        met = "" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"{r['case']:<48} {r['before']:>7.4f} {r['after_mean']:>7.4f} "
              f"{r['after_min']:.4f}-{r['after_max']:.4f} {tgt:>8} {met:>4} "
              f"{r['seconds_mean']:>6.1f} {r['words']:>6}")
    print(f"{'tuning time, demo network (target <= 60 s)':<48} {demo_seconds:>7.1f} s "
          f"{'yes' if demo_seconds <= 60 else 'NO'}")
    f0 = field[0]
    print(f"field adaptation (digits shifted right by 1 pixel, demo network): original "
          f"{orig:.4f}, on shifted {f0['original_on_shifted']:.4f}, after level/bias tuning "
          f"{np.mean([f['tuned_on_shifted'] for f in field]):.4f}; recovered "
          f"{np.mean(rec) if rec else float('nan'):.2f} of the loss (target >= 0.5), "
          f"{f0['register_words']} of {f0['writable_words']} register words written")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "tune", "machine": {"python": sys.version.split()[0],
                                         "platform": platform.platform()},
        "float_accuracy": fl, "epochs": args.epochs, "seeds": seeds, "rows": rows,
        "demo_tune_seconds": demo_seconds, "demo_tune_target_met": demo_seconds <= 60,
        "field_adaptation": field}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
