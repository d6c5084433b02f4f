"""The small network of the demo and the benchmarks: an MLP on scikit-learn's bundled digits.

No download: ``sklearn.datasets.load_digits`` ships with scikit-learn. Inputs are pixel values
0..16 scaled by 1/16 and clipped just below 1, so they fit an unsigned ``uQ0.8`` input format.
Everything is seeded: the same call gives the same weights.
"""

from __future__ import annotations

import warnings

import numpy as np

from lognet.base.errors import InputError

__all__ = ["INITS", "digits_data", "glorot_init", "hot_start", "hot_start_table", "lognormal_init",
           "train_digits_mlp", "train_from_init", "weights_npz"]


#: the digits data set: 8 x 8 pixels in, 10 classes out (the demo MLP's outer sizes)
DIGITS_INPUTS = 64
DIGITS_CLASSES = 10


def digits_data(seed: int = 0, test_size: float = 0.25):
    """``(x_train, x_test, y_train, y_test)`` with x in [0, 1), stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.minimum(d.data / 16.0, 1 - 2.0**-8)
    return train_test_split(x, d.target, test_size=test_size, random_state=seed,
                            stratify=d.target)


def train_digits_mlp(hidden=(32,), seed: int = 0, max_iter: int = 400) -> dict:
    """Train ``64 - hidden... - 10`` with ReLU. Returns weights as (n_out, n_in) matrices."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    xtr, xte, ytr, yte = digits_data(seed)
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", alpha=1e-4,
                        max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    layers = []
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        act = "relu" if i < len(clf.coefs_) - 1 else "none"
        layers.append((f"fc{i + 1}", W.T.copy(), b.copy(), act))
    return {
        "layers": layers,
        "train_accuracy": float(clf.score(xtr, ytr)),
        "test_accuracy": float(clf.score(xte, yte)),
        "x_train": xtr, "x_test": xte, "y_train": ytr, "y_test": yte,
    }


# -- hot start: lognormal initialisation against the default one ---------------------------------

#: initialisations :func:`hot_start` compares
INITS = ("lognormal", "default")
#: hidden layers and units per layer accepted (the digits MLP has one of 32)
MAX_HIDDEN_LAYERS = 8
MAX_HIDDEN_UNITS = 4096
#: epochs a run may ask for
MAX_EPOCHS = 10_000


def default_variance(n_in: int, n_out: int) -> float:
    """Weight variance of MLPClassifier's default (Glorot uniform) initialisation of a ReLU
    layer: ``U(-a, a)`` with ``a = sqrt(6 / (n_in + n_out))``, so ``a^2 / 3 = 2 / (n_in +
    n_out)``."""
    return 2.0 / (n_in + n_out)


def lognormal_init(shapes, sigma: float = 1.0, seed: int = 0) -> list[tuple[np.ndarray,
                                                                              np.ndarray]]:
    """Layers of the given ``(n_out, n_in)`` shapes with lognormal weights: random signs
    (+1 or -1, each with probability 1/2) times ``|w| ~ LN(mu, sigma)``, ``mu`` chosen per layer
    so that the weight variance equals the default initialisation's
    (:func:`default_variance`). With balanced signs the mean is 0 and the variance is
    ``E[|w|^2] = exp(2 mu + 2 sigma^2)``, hence ``mu = ln(2 / (n_in + n_out)) / 2 - sigma^2``.
    Biases are drawn as the default initialisation draws them, ``U(-a, a)``. Seeded."""
    if not (np.isfinite(sigma) and 0 < sigma <= 5):
        raise InputError(f"sigma {sigma}: use a number in (0, 5]")
    rng = np.random.default_rng(seed)
    out = []
    for n_out, n_in in shapes:
        v = default_variance(n_in, n_out)
        mu = 0.5 * np.log(v) - sigma**2
        signs = rng.choice(np.array([-1.0, 1.0]), size=(n_out, n_in))
        W = signs * rng.lognormal(mu, sigma, size=(n_out, n_in))
        a = np.sqrt(3.0 * v)
        out.append((W, rng.uniform(-a, a, n_out)))
    return out


def glorot_init(shapes, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The default initialisation of MLPClassifier (ReLU layers) for ``(n_out, n_in)`` shapes:
    weights and biases ``U(-a, a)``, ``a = sqrt(6 / (n_in + n_out))``, seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for n_out, n_in in shapes:
        a = np.sqrt(3.0 * default_variance(n_in, n_out))
        out.append((rng.uniform(-a, a, (n_out, n_in)), rng.uniform(-a, a, n_out)))
    return out


def check_hot_start_options(hidden, seeds: int, target: float, epochs: int,
                            sigma: float = 1.0) -> tuple[int, ...]:
    """The hidden sizes as a tuple, or :class:`InputError` naming the bad option."""
    hidden = tuple(int(h) for h in hidden)
    if not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS:
        raise InputError(f"{len(hidden)} hidden layers: give 1..{MAX_HIDDEN_LAYERS} sizes")
    if any(not 1 <= h <= MAX_HIDDEN_UNITS for h in hidden):
        raise InputError(f"hidden sizes {list(hidden)}: each must be 1..{MAX_HIDDEN_UNITS}")
    if seeds < 1:
        raise InputError(f"{seeds} seeds: give at least 1")
    if not (np.isfinite(target) and 0 < target <= 1):
        raise InputError(f"target accuracy {target}: give a fraction in (0, 1], e.g. 0.95")
    if not 1 <= epochs <= MAX_EPOCHS:
        raise InputError(f"{epochs} epochs: give 1..{MAX_EPOCHS}")
    if not (np.isfinite(sigma) and 0 < sigma <= 5):
        raise InputError(f"sigma {sigma}: use a number in (0, 5]")
    return hidden


def train_from_init(init: str, hidden=(32,), seed: int = 0, epochs: int = 100,
                    target: float = 0.95, sigma: float = 1.0, data=None) -> dict:
    """Train the digits MLP epoch by epoch from ``init`` (``lognormal``: :func:`lognormal_init`;
    ``default``: :func:`glorot_init`, MLPClassifier's own formula), Adam as
    :func:`train_digits_mlp` trains, a fixed number of ``epochs`` (no early stop).

    MLPClassifier draws its initial weights inside its first ``partial_fit``; that call sets
    the model up, then the chosen draw overwrites ``coefs_`` and ``intercepts_`` in place and
    the optimiser starts afresh, so both initialisations go through the same path and epoch 1
    is the first pass from the chosen draw. Shuffling is seeded by ``seed``.

    Returns ``epochs_to_target`` (first epoch whose test accuracy is >= ``target``, or None),
    ``final_accuracy``, ``curve`` (test accuracy after each epoch) and ``layers`` as
    ``(name, W (n_out, n_in), b, activation)``."""
    from sklearn.neural_network import MLPClassifier

    if init not in INITS:
        raise InputError(f"init {init!r}: use {' or '.join(INITS)}")
    xtr, xte, ytr, yte = digits_data(0) if data is None else data
    shapes = list(zip((*hidden, DIGITS_CLASSES), (xtr.shape[1], *hidden)))
    draw = (lognormal_init(shapes, sigma, seed) if init == "lognormal"
            else glorot_init(shapes, seed))
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", alpha=1e-4,
                        random_state=np.random.RandomState(seed), n_iter_no_change=MAX_EPOCHS)
    clf.partial_fit(xtr, ytr, classes=np.arange(DIGITS_CLASSES))
    for (W, b), coef, icpt in zip(draw, clf.coefs_, clf.intercepts_):
        coef[...] = W.T  # in place: the optimiser holds these arrays
        icpt[...] = b
    del clf._optimizer  # a fresh Adam for the fresh weights (partial_fit makes one if absent)
    curve = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no-improvement notes of partial_fit
        for _ in range(epochs):
            clf.partial_fit(xtr, ytr)
            curve.append(float(clf.score(xte, yte)))
    reached = next((i + 1 for i, a in enumerate(curve) if a >= target), None)
    layers = [(f"fc{i + 1}", W.T.copy(), b.copy(), "relu" if i < len(clf.coefs_) - 1 else "none")
              for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_))]
    return {"init": init, "seed": seed, "epochs_to_target": reached,
            "final_accuracy": curve[-1], "curve": curve, "layers": layers}


def _mean_sd(values) -> tuple[float | None, float | None]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def hot_start(hidden=(32,), seeds: int = 10, target: float = 0.95, epochs: int = 100,
              sigma: float = 1.0, first_seed: int = 0, keep_seed: int | None = None,
              keep_init: str = "lognormal") -> dict:
    """Both initialisations over seeds ``first_seed .. first_seed + seeds - 1`` on the same
    data split: per seed the epochs to reach ``target`` test accuracy (None if not reached in
    ``epochs``) and the final accuracy; per init their mean and sd; and a verdict from the
    paired per-seed differences (lognormal - default): the hot start helped when its mean
    epochs to target is lower by more than two standard errors of that mean difference (over
    seeds where both reached the target; a seed reaching it under one init only counts for
    that init), hurt when higher by as much, and made no measurable difference otherwise.
    The weights of ``keep_init`` at ``keep_seed`` (default the first seed) are in ``kept``."""
    hidden = check_hot_start_options(hidden, seeds, target, epochs, sigma)
    keep_seed = first_seed if keep_seed is None else keep_seed
    if not first_seed <= keep_seed < first_seed + seeds:
        raise InputError(f"kept seed {keep_seed} is not among the seeds {first_seed}.."
                         f"{first_seed + seeds - 1}")
    if keep_init not in INITS:
        raise InputError(f"init {keep_init!r}: use {' or '.join(INITS)}")
    data = digits_data(0)
    runs = {init: [] for init in INITS}
    kept = None
    for s in range(first_seed, first_seed + seeds):
        for init in INITS:
            r = train_from_init(init, hidden, s, epochs, target, sigma, data)
            if init == keep_init and s == keep_seed:
                kept = r["layers"]
            runs[init].append({k: r[k] for k in ("seed", "epochs_to_target", "final_accuracy",
                                                 "curve")})
    summary = {}
    for init, rs in runs.items():
        reached = [r["epochs_to_target"] for r in rs if r["epochs_to_target"] is not None]
        em, es = _mean_sd(reached)
        am, asd = _mean_sd([r["final_accuracy"] for r in rs])
        summary[init] = {"reached": len(reached), "seeds": len(rs), "epochs_mean": em,
                         "epochs_sd": es, "final_mean": am, "final_sd": asd}
    return {"hidden": list(hidden), "seeds": list(range(first_seed, first_seed + seeds)),
            "target": target, "epochs": epochs, "sigma": sigma, "runs": runs,
            "summary": summary, "comparison": _compare(runs), "kept": kept,
            "kept_seed": keep_seed, "kept_init": keep_init}


def _compare(runs: dict) -> dict:
    """Paired lognormal - default differences and the verdict (see :func:`hot_start`)."""
    ln, df = runs["lognormal"], runs["default"]
    pairs = [(a["epochs_to_target"], b["epochs_to_target"]) for a, b in zip(ln, df)
             if a["epochs_to_target"] is not None and b["epochs_to_target"] is not None]
    d = np.array([a - b for a, b in pairs], dtype=np.float64)
    acc = np.array([a["final_accuracy"] - b["final_accuracy"] for a, b in zip(ln, df)])
    only_ln = sum(a["epochs_to_target"] is not None and b["epochs_to_target"] is None
                  for a, b in zip(ln, df))
    only_df = sum(a["epochs_to_target"] is None and b["epochs_to_target"] is not None
                  for a, b in zip(ln, df))

    def se(x):
        return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else None

    mean_d = float(d.mean()) if d.size else None
    se_d = se(d)
    acc_d, acc_se = float(acc.mean()), se(acc)
    if mean_d is None or se_d is None:
        verdict = "undecided"
        words = (f"Too few seeds reached the target under both initialisations "
                 f"({d.size}) to tell whether the lognormal hot start helped.")
    else:
        faster = mean_d < -2 * se_d or (se_d == 0 and mean_d < 0)
        slower = mean_d > 2 * se_d or (se_d == 0 and mean_d > 0)
        verdict = "helped" if faster and only_df == 0 else "hurt" if slower and only_ln == 0 \
            else "no measurable difference"
        how = (f"{abs(mean_d):.1f} epochs {'fewer' if mean_d < 0 else 'more'}"
               if mean_d else "the same number of epochs")
        acc_txt = (f"final accuracy {acc_d * 100:+.2f} pt"
                   + (f" (standard error {acc_se * 100:.2f} pt)" if acc_se is not None else ""))
        if verdict == "helped":
            lead = "The lognormal hot start helped"
        elif verdict == "hurt":
            lead = "The lognormal hot start hurt"
        else:
            lead = "The lognormal hot start made no measurable difference"
        words = (f"{lead}: {how} to the target on average over the {d.size} seeds where both "
                 f"reached it (standard error {se_d:.1f}; a difference counts beyond two), "
                 f"{acc_txt}.")
        if only_ln or only_df:
            words += (f" Reached under one initialisation only: lognormal {only_ln}, "
                      f"default {only_df}.")
    return {"paired_seeds": int(d.size), "epochs_diff_mean": mean_d, "epochs_diff_se": se_d,
            "final_diff_mean": acc_d, "final_diff_se": acc_se, "only_lognormal": only_ln,
            "only_default": only_df, "verdict": verdict, "sentence": words}


def hot_start_table(result: dict) -> list[str]:
    """The printed comparison: one row per initialisation, then the verdict sentence."""
    def pm(m, s, scale=1.0, fmt=".1f"):
        return "-" if m is None else f"{m * scale:{fmt}} +- {s * scale:{fmt}}"

    lines = [f"digits MLP 64-{'-'.join(map(str, result['hidden']))}-10, "
             f"{len(result['seeds'])} seeds, target {result['target'] * 100:.2f} % test "
             f"accuracy, {result['epochs']} epochs, lognormal sigma {result['sigma']:g}",
             f"{'init':<10} {'reached':>8} {'epochs to target':>18} {'final accuracy %':>18}"]
    for init, s in result["summary"].items():
        lines.append(f"{init:<10} {s['reached']:>4}/{s['seeds']:<3} "
                     f"{pm(s['epochs_mean'], s['epochs_sd']):>18} "
                     f"{pm(s['final_mean'], s['final_sd'], 100, '.2f'):>18}")
    lines.append(result["comparison"]["sentence"])
    return lines


def weights_npz(layers) -> bytes:
    """``layers`` as the .npz bytes ``lognet quantise`` reads: ``<name>`` (n_out, n_in)
    and ``<name>.bias`` per layer, in order."""
    import io

    arrays = {}
    for name, W, b, _ in layers:
        arrays[name] = np.asarray(W, dtype=np.float64)
        arrays[f"{name}.bias"] = np.asarray(b, dtype=np.float64)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
