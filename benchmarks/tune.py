"""Level tuning on the digits MLP (64-32-10): accuracy before and after, the time it takes, and
field adaptation to shifted and to noisy digits. Prints a table and writes JSON.

    python benchmarks/tune.py [--epochs 60] [--seeds 0] [--field-recipes]
                              [--out benchmarks/results/tune.json]

Rows (accuracy of the bit-exact integer reference on the test split; every tuned spec keeps the
signs and indices of its start, so it loads as level and bias register writes):

- K = 4 ``optimal`` levels, free levels tuned. Target: >= 96.8 % (float - 0.5 pt).
- K = 4 ``lognormal-lloyd`` levels, tuned as a lognormal family (two numbers per layer, biases
  free; the same with biases frozen for comparison). Target: >= 96.0 %.
- K = 8 ``optimal`` levels, free levels tuned. Target: >= float - 0.2 pt.
- the demo network (``lognet/default_flow.toml``: optimal, K = 8, folded:1, tunable=levels):
  tuning time, target <= 60 s on 2 cores.
- field adaptation: the demo network on two distorted copies of the digits, the digits shifted
  right by one pixel and the digits with Gaussian noise (sigma 0.4 of full scale, clipped, the
  training and test splits drawn with seeds 1 and 2), before and after tuning its levels and
  biases on the distorted training split with the flow's adaptation settings (``[tune]
  field_epochs``, ``field_lr``), with the register words written. Target: recovers >= half of
  the accuracy the distortion cost. Beside it, what no level write can beat and what a wider
  tier gets: the float MLP trained afresh on the distorted training split, and the same core
  built ``tunable=all`` tuned with ``--reassign`` (connection words written too).
- ``--field-recipes``: the other ways of adapting the same core by level and bias writes, on
  both distortions: the tuning's own settings, levels alone (biases frozen), the lognormal
  family, the training split four times over (the shift: three copies with noise of sigma
  0.03 added; the noise: four draws).

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
from lognet.model.tune import TuneData, noisy_images, shift_images

#: the noise of the noisy digits (standard deviation, in units of full scale) and the seeds of
#: the training and the test split's draws
NOISE_SIGMA, NOISE_SEEDS = 0.4, (1, 2)


def _acc(net, x, y) -> float:
    return float(np.mean(reference(net, x).argmax(1) == y))


def _distortions(d) -> dict:
    """Name -> (distort(raw x, split index 0/1, copy), description)."""
    def shift(x, split, copy=0):
        y = shift_images(x, 1)
        # copies after the first: the shifted image with a little noise (augmentation)
        return y if copy == 0 else noisy_images(y, 0.03, seed=100 + copy)

    def noise(x, split, copy=0):
        return noisy_images(x, NOISE_SIGMA, seed=NOISE_SEEDS[split] + 10 * copy)

    return {"shift 1 px": (shift, "digits shifted right by 1 pixel"),
            f"noise {NOISE_SIGMA}": (noise, f"digits with Gaussian noise, sigma {NOISE_SIGMA} "
                                            f"(seeds {NOISE_SEEDS[0]}, {NOISE_SEEDS[1]})")}


def _float_afresh(d, x_tr, x_te, hidden, seed) -> float:
    """Test accuracy of the float MLP trained from scratch on the distorted training split
    (the demo's own training recipe): the bound no level write of a trained core can beat."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", alpha=1e-4,
                        max_iter=400, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, d["y_train"])
    return float(clf.score(x_te, d["y_test"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=FlowConfig().tune.epochs)
    ap.add_argument("--seeds", default="0", help="tuning seeds, comma-separated")
    ap.add_argument("--out", default="benchmarks/results/tune.json")
    ap.add_argument("--field-recipes", action="store_true",
                    help="also adapt the core the other ways (see the module docstring)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    demo = FlowConfig.from_file(Path(__file__).parents[1] / "lognet" / "default_flow.toml")
    d = train_digits_mlp(hidden=demo.model.hidden, seed=demo.flow.seed)
    fmt = QFormat(0, 8, False)
    xtr, xte = fmt.quantise(d["x_train"]), fmt.quantise(d["x_test"])
    data = TuneData(xtr, d["y_train"], xte, d["y_test"])
    q = demo.quantise
    fl = d["test_accuracy"]

    def net(picker, K, tunable=q.tunable):
        arch = Arch.parse(q.arch, arith=q.arith, tunable=tunable)
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

    # field adaptation: the demo's bitstream on distorted digits, by level and bias writes
    tcfg = demo.tune
    n = net(q.picker, q.K)
    n_all = net(q.picker, q.K, tunable="all")  # the same levels and connections
    orig = _acc(n, xte, d["y_test"])
    recipes = {"adaptation (flow default)": dict(epochs=tcfg.field_epochs, lr=tcfg.field_lr)}
    if args.field_recipes:
        recipes |= {
            "tuning's own settings": dict(epochs=tcfg.epochs, lr=tcfg.lr),
            "levels only (biases frozen)": dict(epochs=tcfg.field_epochs, lr=tcfg.field_lr,
                                                biases=False),
            "lognormal family": dict(family="lognormal", epochs=tcfg.field_epochs),
            "training split x4": dict(epochs=tcfg.field_epochs, lr=tcfg.field_lr, copies=4),
        }
    field = []
    for dname, (distort, desc) in _distortions(d).items():
        raw_tr, raw_te = distort(d["x_train"], 0), distort(d["x_test"], 1)
        dist = TuneData(fmt.quantise(raw_tr), d["y_train"], fmt.quantise(raw_te), d["y_test"])
        on_dist = _acc(n, dist.x_test, d["y_test"])
        lost = orig - on_dist
        entry = {"distortion": dname, "description": desc, "original_on_original": orig,
                 "original_on_distorted": on_dist, "recipes": []}
        for rname, kw in recipes.items():
            kw = dict(kw)
            data = dist
            copies = kw.pop("copies", 1)
            if copies > 1:
                xs = [raw_tr] + [distort(d["x_train"], 0, c) for c in range(1, copies)]
                data = TuneData(fmt.quantise(np.concatenate(xs)),
                                np.concatenate([d["y_train"]] * copies), dist.x_test,
                                dist.y_test)
            runs = [tune_spec(n, data, seed=s, **kw) for s in seeds]
            after = [t.test_after for t in runs]
            entry["recipes"].append({
                "recipe": rname, "options": kw | {"copies": copies},
                "tuned_mean": float(np.mean(after)), "tuned_min": min(after),
                "tuned_max": max(after),
                "recovered_fraction": (float(np.mean(after)) - on_dist) / lost
                if lost > 0 else None,
                "register_words": len(runs[0].writes), "writable_words": runs[0].writable,
                "seconds_mean": float(np.mean([t.result.seconds for t in runs]))})
            print(f"  {dname}, {rname}: {on_dist:.4f} -> {np.mean(after):.4f}", flush=True)
        # beyond the tier: the float network trained afresh, and connection words written too
        afresh = _float_afresh(d, raw_tr, raw_te, demo.model.hidden, demo.flow.seed)
        ra = [tune_spec(n_all, dist, epochs=tcfg.field_epochs, lr=tcfg.field_lr, seed=s,
                        reassign=True) for s in seeds]
        ra_after = float(np.mean([t.test_after for t in ra]))
        entry["float_afresh"] = afresh
        entry["reassign_tunable_all"] = {
            "tuned_mean": ra_after,
            "recovered_fraction": (ra_after - on_dist) / lost if lost > 0 else None,
            "register_words": len(ra[0].writes), "writable_words": ra[0].writable,
            "seconds_mean": float(np.mean([t.result.seconds for t in ra]))}
        field.append(entry)
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
    print(f"\nField adaptation of the demo core ({q.picker}, K = {q.K}, "
          f"tunable={q.tunable.value}): test accuracy on the unchanged digits {orig:.4f}; "
          f"target: the writes recover >= half of what the distortion cost")
    print(f"{'distortion, recipe':<48} {'before':>7} {'after':>7} {'range':>15} "
          f"{'recov.':>6} {'met':>4} {'words':>10} {'s':>6}")
    for e in field:
        for r in e["recipes"]:
            fr = r["recovered_fraction"]
            met = "" if fr is None else ("yes" if fr >= 0.5 else "NO")
            print(f"{e['distortion'] + ', ' + r['recipe']:<48} {e['original_on_distorted']:>7.4f}"
                  f" {r['tuned_mean']:>7.4f} {r['tuned_min']:.4f}-{r['tuned_max']:.4f} "
                  f"{fr if fr is not None else float('nan'):>6.2f} {met:>4} "
                  f"{r['register_words']:>4}/{r['writable_words']:<5} {r['seconds_mean']:>6.1f}")
        ra = e["reassign_tunable_all"]
        print(f"{'  beyond: tunable=all, --reassign':<48} {e['original_on_distorted']:>7.4f} "
              f"{ra['tuned_mean']:>7.4f} {'':>15} {ra['recovered_fraction']:>6.2f} {'':>4} "
              f"{ra['register_words']:>4}/{ra['writable_words']:<5} {ra['seconds_mean']:>6.1f}")
        lost = e["original_on_original"] - e["original_on_distorted"]
        print(f"{'  bound: float MLP trained on the distorted data':<48} "
              f"{e['original_on_distorted']:>7.4f} {e['float_afresh']:>7.4f} {'':>15} "
              f"{(e['float_afresh'] - e['original_on_distorted']) / lost:>6.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "tune", "machine": {"python": sys.version.split()[0],
                                         "platform": platform.platform()},
        "float_accuracy": fl, "epochs": args.epochs, "seeds": seeds, "rows": rows,
        "demo_tune_seconds": demo_seconds, "demo_tune_target_met": demo_seconds <= 60,
        "field_adaptation": field, "noise_sigma": NOISE_SIGMA, "noise_seeds": NOISE_SEEDS},
        indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
