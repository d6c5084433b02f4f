"""Distribution analysis of a layer's |w|: is it lognormal, and how sure can we be?

Three views, reported side by side:

1. The method of Venkatasubramanian et al. (arXiv:2310.06960, Table 2): ``x = |w| / max|w|``,
   ``m`` equal bins on [0, 1], size-weighted values ``y_k = x_k n_k / (N dx)`` at the bin centres
   (``n_k`` counts, ``N`` weights, ``dx = 1/m``; this normalisation makes ``y`` estimate
   ``x f(x)`` for the density ``f`` of ``x``, so ``A'`` is comparable across layer sizes and
   equals E[x] for a lognormal), least-squares fit of
   ``A' / (x sigma' sqrt(2 pi)) exp(-(ln x - mu')^2 / (2 sigma'^2))`` over all bins, with R^2.
   For |w| ~ LN(mu, sigma), ``x f(x) = E[x] LN(x; mu + sigma^2 - ln max|w|, sigma)``: the fit
   should give ``sigma' = sigma`` and ``mu' = mu + sigma^2 - ln max|w|``. The histogram is
   always of every weight (counted in chunks, so memory stays small).
2. Maximum-likelihood fits of |w| (location 0) to seven families, ranked by AIC, with the KS
   distance of each and a plain sentence saying which fits best and by how much. Beyond
   :data:`MLE_SAMPLE` non-zero weights the fits use a seeded random subsample (``note`` says
   so). The two-parameter families with a shape (Weibull, half-generalised-normal) are fitted
   by their profile likelihood (the scale has a closed form given the shape), the half-Student-t
   by L-BFGS with the analytic gradient: the same optimum as a generic fit, in a fraction of the
   time.
3. A Gaussian control: the same on Gaussian weights of the same size and standard deviation,
   so a reader sees what (sigma', R^2) plain Gaussian weights give.

Each analysis carries ``flags``: a Table-2 parameter on its search bound, a first bin holding
most of the weights (R^2 then mostly measures one bin), integer-valued data (an index or count
buffer, not weights), a mean far from zero (a LayerNorm gain: the zero-centred control does not
compare), few distinct values (quantised data), an MLE shape on its search bound.

:func:`fit_arrays` runs the analysis over the arrays of a checkpoint (see :func:`select_arrays`
for which are fitted by default), reports an array that cannot be fitted by name and goes on,
shows a progress bar on a terminal, and ends with the cross-layer summary of
:func:`summarise` (mean +- sd over layers, as in the paper's Table 2, the control beside it,
and how often each family ranked first, second, ...). :func:`json_ready` turns every NaN or
infinity into ``null`` with the reason beside it.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

from lognet.base.errors import InputError
from lognet.base.files import usual_file_mode

__all__ = [
    "FAMILIES",
    "MIN_ENTRIES",
    "MIN_NONZERO",
    "MLE_SAMPLE",
    "analyse_layer",
    "fit_arrays",
    "gaussian_control",
    "json_ready",
    "mle_fits",
    "plot_layer",
    "save_figure",
    "select_arrays",
    "summarise",
    "summary_lines",
    "table2_fit",
]

#: largest number of non-zero weights an MLE fit uses (a seeded random subsample beyond that)
MLE_SAMPLE = 100_000
#: fewest entries of an array :func:`select_arrays` fits by default (smaller ones are skipped)
MIN_ENTRIES = 256
#: fewest non-zero weights an MLE fit accepts
MIN_NONZERO = 8
FAMILIES = ("lognormal", "half-normal", "half-Laplace", "half-Cauchy", "half-Student-t",
            "Weibull", "half-generalised-normal")
#: the least-squares bounds of (A', mu', sigma') in the Table-2 fit
TABLE2_BOUNDS = ((0.0, -50.0, 1e-4), (np.inf, 10.0, 50.0))
#: a first bin holding more than this share of the weights is flagged
FIRST_BIN_FLAG = 0.5
#: fewer distinct non-zero magnitudes than this (in the MLE sample) are flagged as discrete
DISCRETE_FLAG = 64
#: |mean| above this many standard deviations is flagged (the zero-centred control misleads)
OFFSET_FLAG = 2.0
#: search range of the shape of the Weibull and half-generalised-normal fits, and of the
#: half-Student-t degrees of freedom
SHAPE_RANGE = (0.05, 50.0)
DF_RANGE = (0.05, 1e4)
#: largest MLE sample of the Gaussian control
CONTROL_SAMPLE = 20_000
#: fewest entries (all arrays together) for which :func:`fit_arrays` uses worker processes
PARALLEL_MIN = 4_000_000
#: entries histogrammed at a time (bounds the memory of the Table-2 fit and the control)
_CHUNK = 1 << 21


# -- input checks ---------------------------------------------------------------------------


def _flat(w) -> np.ndarray:
    """``w`` as a flat float array (float32 kept, everything else float64), checked."""
    a = np.asarray(w)
    if a.dtype.kind not in "fiub":
        raise InputError(f"dtype {a.dtype} is not numbers")
    if a.dtype != np.float32:
        a = a.astype(np.float64)
    a = a.ravel()
    if a.size == 0:
        raise InputError("no weights to analyse")
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise InputError(f"has {bad} NaN/inf values; clean the weights first")
    top = float(np.max(np.abs(a)))
    if top == 0:
        raise InputError("all weights are zero; nothing to fit")
    if float(np.min(np.abs(a))) == top:
        raise InputError(f"all |w| are equal ({top:.6g}, a constant array); nothing to fit")
    return a


def _counts(a: np.ndarray, top: float, bins: int) -> np.ndarray:
    """Bin counts of ``|a| / top`` on ``bins`` equal bins of [0, 1], in chunks."""
    counts = np.zeros(bins, dtype=np.int64)
    for i in range(0, a.size, _CHUNK):
        x = np.abs(a[i:i + _CHUNK].astype(np.float64)) * (bins / top)
        counts += np.bincount(np.minimum(x.astype(np.int64), bins - 1), minlength=bins)
    return counts


# -- the paper's fit --------------------------------------------------------------------------


def _ln_size_weighted(x, A, mu, sigma):
    return A / (x * sigma * math.sqrt(2 * math.pi)) * np.exp(-(np.log(x) - mu) ** 2
                                                             / (2 * sigma**2))


def table2_from_hist(centres, y) -> dict:
    """Least-squares fit of the size-weighted lognormal to ``y`` at bin ``centres``.
    ``at_bound``: the parameters that ended on their search bound (the fit then did not
    converge to an interior optimum)."""
    pos = y > 0
    if pos.sum() < 3:
        return {"A": float("nan"), "mu": float("nan"), "sigma": float("nan"),
                "r2": float("nan"), "at_bound": [], "note": "fewer than 3 non-empty bins"}
    lx = np.log(centres[pos])
    wts = y[pos] / y[pos].sum()
    mu0 = float(np.sum(wts * lx))
    s0 = float(max(np.sqrt(np.sum(wts * (lx - mu0) ** 2)), 1e-3))
    A0 = float(np.sum(y) / len(centres))
    try:
        (A, mu, sigma), _ = optimize.curve_fit(
            _ln_size_weighted, centres, y, p0=(A0, mu0, s0), maxfev=20000,
            bounds=TABLE2_BOUNDS)
    except (RuntimeError, ValueError):
        A, mu, sigma = A0, mu0, s0
    pred = _ln_size_weighted(centres, A, mu, sigma)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    at_bound = [n for n, v, lo, hi in zip(("A", "mu", "sigma"), (A, mu, sigma),
                                          *TABLE2_BOUNDS)
                if np.isclose(v, lo, rtol=1e-6, atol=1e-9)
                or (np.isfinite(hi) and np.isclose(v, hi, rtol=1e-6, atol=1e-9))]
    out = {"A": float(A), "mu": float(mu), "sigma": float(sigma),
           "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan"), "at_bound": at_bound}
    if ss_tot <= 0:
        out["note"] = "the size-weighted histogram is flat; R^2 is undefined"
    return out


def table2_fit(w, bins: int = 100) -> dict:
    """The paper's fit (module docstring, item 1), with the share of weights in the first bin."""
    if bins < 5:
        raise InputError(f"use at least 5 bins (got {bins})")
    a = _flat(w)
    top = float(np.max(np.abs(a)))
    counts = _counts(a, top, bins)
    centres = (np.arange(bins) + 0.5) / bins
    y = centres * counts / (a.size * (1.0 / bins))
    out = table2_from_hist(centres, y)
    out.update({"bins": bins, "n": int(a.size), "max_abs_w": top,
                "first_bin_fraction": float(counts[0] / a.size)})
    return out


# -- maximum likelihood ---------------------------------------------------------------------


def _ks(xs: np.ndarray, cdf: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of sorted ``xs`` from a law whose cdf at ``xs`` is ``cdf``
    (the statistic of ``scipy.stats.kstest``, without sorting the sample again per family)."""
    n = xs.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def _profile_shape(ll_of_shape):
    """Maximise ``ll_of_shape(c)`` (per-point log-likelihood) over the shape c in
    :data:`SHAPE_RANGE`, on log c; returns (c, ll per point, on_bound)."""
    lo, hi = np.log(SHAPE_RANGE)
    res = optimize.minimize_scalar(lambda t: -ll_of_shape(math.exp(t)), bounds=(lo, hi),
                                   method="bounded", options={"xatol": 1e-7})
    t = float(res.x)
    return math.exp(t), -float(res.fun), min(t - lo, hi - t) < 1e-3


def _weibull(x, m):
    """Weibull MLE of ``x / m`` (``m``: the median, for numerical range) by profile likelihood:
    given the shape c the scale is ``(mean x^c)^(1/c)``, and the log-likelihood per point is
    ``ln c - ln mean(x^c) + (c - 1) mean(ln x) - 1``."""
    xs = x / m
    lx = np.log(xs)
    lxm = float(lx.mean())

    def ll(c):
        return math.log(c) - math.log(float(np.mean(np.exp(c * lx)))) + (c - 1) * lxm - 1

    c, llp, edge = _profile_shape(ll)
    scale = m * float(np.mean(np.exp(c * lx))) ** (1 / c)
    return c, scale, llp * x.size - x.size * math.log(m), edge


def _halfgennorm(x, m):
    """Half-generalised-normal MLE (``scipy.stats.halfgennorm``: density
    ``beta / (s Gamma(1/beta)) exp(-(x/s)^beta)``) by profile likelihood: given beta,
    ``s^beta = beta mean(x^beta)`` and the log-likelihood per point is
    ``ln beta - ln(beta mean x^beta) / beta - lgamma(1/beta) - 1/beta``."""
    xs = x / m
    lx = np.log(xs)

    def ll(b):
        return (math.log(b) - math.log(b * float(np.mean(np.exp(b * lx)))) / b
                - special.gammaln(1 / b) - 1 / b)

    b, llp, edge = _profile_shape(ll)
    scale = m * (b * float(np.mean(np.exp(b * lx)))) ** (1 / b)
    return b, scale, llp * x.size - x.size * math.log(m), edge


def _halft(x, m):
    """Half-Student-t MLE on (ln df, ln scale) by L-BFGS-B with the analytic gradient."""
    xs = x / m
    x2 = xs * xs
    n = xs.size

    def nll(p):
        df, s = math.exp(p[0]), math.exp(p[1])
        q = x2 / (s * s * df)
        l1 = np.log1p(q)
        ll = (n * (math.log(2) + special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
                   - 0.5 * math.log(df * math.pi) - math.log(s)) - (df + 1) / 2 * l1.sum())
        r = q / (1 + q)
        g_df = (n * 0.5 * (special.digamma((df + 1) / 2) - special.digamma(df / 2) - 1 / df)
                - 0.5 * l1.sum() + (df + 1) / (2 * df) * r.sum())
        g_s = -n + (df + 1) * r.sum()
        return -ll / n, -np.array([g_df * df, g_s]) / n

    lo, hi = np.log(DF_RANGE)
    res = optimize.minimize(nll, np.array([math.log(5.0), math.log(float(np.median(xs)) / 0.7)]),
                            jac=True, method="L-BFGS-B", bounds=[(lo, hi), (-30, 30)])
    df, s = math.exp(res.x[0]), math.exp(res.x[1])
    # df on its upper bound is the half-normal limit (Gaussian tails), not a failed fit: only
    # the lower bound counts as an edge
    edge = res.x[0] - lo < 1e-3
    return df, s * m, -float(res.fun) * n - n * math.log(m), edge


def _fit_family(name: str, x: np.ndarray, xs_sorted: np.ndarray | None = None) -> dict:
    """One family's MLE of positive ``x`` (location 0): params, loglik, KS distance."""
    xs = np.sort(x) if xs_sorted is None else xs_sorted
    m = float(np.median(xs))
    edge = False
    if name == "lognormal":
        lx = np.log(x)
        mu, s = float(lx.mean()), float(lx.std())
        params = {"mu": mu, "sigma": s}
    elif name == "half-normal":
        params = {"scale": float(np.sqrt(np.mean(x * x)))}
    elif name == "half-Laplace":
        params = {"scale": float(x.mean())}
    elif name == "half-Cauchy":
        _, scale = stats.halfcauchy.fit(x, floc=0)
        params = {"scale": float(scale)}
    elif name == "Weibull":
        c, scale, _, edge = _weibull(x, m)
        params = {"shape": c, "scale": scale}
    elif name == "half-generalised-normal":
        b, scale, _, edge = _halfgennorm(x, m)
        params = {"beta": b, "scale": scale}
    elif name == "half-Student-t":
        df, scale, _, edge = _halft(x, m)
        params = {"df": df, "scale": scale}
    else:
        raise InputError(f"unknown family {name!r}; choose one of: {', '.join(FAMILIES)}")
    f = {"family": name, "params": params, "k": len(params)}
    f["loglik"] = float(np.sum(_logpdf(f, x)))
    f["ks"] = _ks(xs, _cdf(f, xs))
    if edge:
        f["at_bound"] = True
    return f


def _subsample(a: np.ndarray, sample: int, seed: int) -> tuple[np.ndarray, int, str]:
    """The non-zero |a| (float64), or a seeded random subsample of ``sample`` of them; the
    number of zeros of ``a`` and a note when subsampled."""
    zeros = int(a.size - np.count_nonzero(a))
    nz = a.size - zeros
    if nz <= sample:
        x = np.abs(a[a != 0]).astype(np.float64)
        return x, zeros, ""
    rng = np.random.default_rng(seed)
    # draw from all entries (no index array of the whole layer), keep the non-zero ones
    take = min(a.size, int(sample * a.size / nz * 1.05) + 64)
    idx = rng.choice(a.size, take, replace=False)
    x = np.abs(a[idx]).astype(np.float64)
    x = x[x != 0][:sample]
    return x, zeros, (f"fitted on a seeded random subsample of {x.size:,} of {nz:,} non-zero "
                      f"weights (AIC differences scale with the sample size)")


def mle_fits(w, seed: int = 0, sample: int = MLE_SAMPLE) -> dict:
    """MLE fits of |w| to :data:`FAMILIES`, ranked by AIC (module docstring, item 2)."""
    a = _flat(w)
    x, zeros, note = _subsample(a, sample, seed)
    if x.size < MIN_NONZERO:
        raise InputError(f"only {x.size} non-zero weights; an MLE fit needs at least "
                         f"{MIN_NONZERO}")
    xs = np.sort(x)
    fits = []
    for fam in FAMILIES:
        f = _fit_family(fam, x, xs)
        f["aic"] = 2 * f["k"] - 2 * f["loglik"]
        f["bic"] = f["k"] * math.log(x.size) - 2 * f["loglik"]
        fits.append(f)
    fits.sort(key=lambda f: f["aic"])
    best = fits[0]
    for f in fits:
        f["delta_aic"] = f["aic"] - best["aic"]
    ln = next(f for f in fits if f["family"] == "lognormal")
    if best["family"] == "lognormal":
        second = fits[1]
        sentence = (f"lognormal fits best; the next, {second['family']}, is worse by "
                    f"dAIC={second['delta_aic']:.1f} "
                    f"({second['delta_aic'] / (2 * x.size):.4f} nats per weight)")
    else:
        sentence = (f"{best['family']} fits best; lognormal is worse by "
                    f"dAIC={ln['delta_aic']:.1f} "
                    f"({ln['delta_aic'] / (2 * x.size):.4f} nats per weight)")
    return {"fits": fits, "best": best["family"], "lognormal_best": best["family"] == "lognormal",
            "summary": sentence, "n": int(x.size), "zeros_dropped": zeros, "note": note,
            "distinct": int(np.count_nonzero(np.diff(xs))) + 1}


def gaussian_control(w, bins: int = 100, seed: int = 0, sample: int = MLE_SAMPLE) -> dict:
    """The same analysis on zero-mean Gaussian weights of the same size and standard deviation:
    the Table-2 fit on all of them, the MLE on at most ``min(sample, CONTROL_SAMPLE)`` (the
    control's ranking is only a reference point: half-normal wins it by a wide margin)."""
    a = _flat(w)
    std = float(a.std(dtype=np.float64)) or 1.0
    rng = np.random.default_rng(seed)
    g = np.empty(a.size, dtype=np.float32 if a.dtype == np.float32 else np.float64)
    for i in range(0, a.size, _CHUNK):
        g[i:i + _CHUNK] = rng.normal(0.0, std, min(_CHUNK, a.size - i))
    return {"std": std, "shape": list(np.shape(w)), "table2": table2_fit(g, bins),
            "mle": mle_fits(g, seed, min(sample, CONTROL_SAMPLE))}


# -- one layer, with its flags ----------------------------------------------------------------


def _flags(a: np.ndarray, t2: dict, mle: dict) -> list[dict]:
    out = []
    if t2["at_bound"]:
        out.append({"flag": "at-bound", "text": (
            f"Table-2 fit: {', '.join(p + chr(39) for p in t2['at_bound'])} on the search "
            f"bound; the fit did not find an interior optimum, so its numbers mean little")})
    if t2["first_bin_fraction"] > FIRST_BIN_FLAG:
        out.append({"flag": "first-bin", "text": (
            f"the first bin holds {t2['first_bin_fraction']:.0%} of the weights (a few large "
            f"|w| set max|w|); R^2 mostly measures that one bin: see the log|w| plot")})
    if np.all(a == np.round(a)):
        out.append({"flag": "integer", "text": (
            "the data are integer-valued (an index or count buffer, or already quantised); "
            "a continuous law of |w| does not describe them")})
    if mle["distinct"] < DISCRETE_FLAG:
        out.append({"flag": "discrete", "text": (
            f"only {mle['distinct']} distinct magnitudes (quantised data); a continuous law "
            f"describes them only roughly")})
    mean = float(a.mean(dtype=np.float64))
    std = float(a.std(dtype=np.float64))
    if abs(mean) > OFFSET_FLAG * std:
        out.append({"flag": "offset", "text": (
            f"mean {mean:.4g} is {abs(mean) / std:.1f} sd from zero (a gain or scale vector?); "
            f"the zero-centred Gaussian control does not compare")})
    edge = [f["family"] for f in mle["fits"] if f.get("at_bound")]
    if edge:
        out.append({"flag": "mle-bound", "text": (
            f"MLE shape on its search bound for {', '.join(edge)} (the family cannot follow "
            f"the data there)")})
    return out


def analyse_layer(w, name: str = "layer", bins: int = 100, seed: int = 0,
                  sample: int = MLE_SAMPLE) -> dict:
    """All three views of one layer, JSON-serialisable (after :func:`json_ready` when a value
    may be NaN), with flags and a verdict."""
    a = _flat(w)
    t2 = table2_fit(a, bins)
    mle = mle_fits(a, seed, sample)
    ctrl = gaussian_control(a, bins, seed, sample)
    ctrl["shape"] = list(np.shape(w))
    c2 = ctrl["table2"]
    summary = (f"{mle['summary']}. Table-2 fit: R^2={t2['r2']:.3f}, mu'={t2['mu']:.2f}, "
               f"sigma'={t2['sigma']:.3f} (Gaussian control: R^2={c2['r2']:.3f}, "
               f"sigma'={c2['sigma']:.3f})")
    return {
        "name": name, "shape": list(np.shape(w)), "n": int(a.size),
        "std": float(a.std(dtype=np.float64)),
        "table2": t2, "mle": mle, "gaussian_control": ctrl, "flags": _flags(a, t2, mle),
        "verdict": {"best_family": mle["best"], "lognormal_best": mle["lognormal_best"],
                    "sigma_prime_vs_control": t2["sigma"] - c2["sigma"],
                    "r2_vs_control": t2["r2"] - c2["r2"], "summary": summary},
    }


# -- a checkpoint -----------------------------------------------------------------------------


def select_arrays(weights: dict, patterns=None, include_all: bool = False,
                  min_entries: int = MIN_ENTRIES) -> tuple[dict, list[dict]]:
    """The arrays to fit and the skipped ones (``name``, ``shape``, ``dtype``, ``why``).

    ``patterns``: names or globs (all when None; none matching is an error). By default only
    weight matrices are fitted: 2-D or more, floating point, at least ``min_entries`` entries;
    ``include_all`` fits every chosen array. An array with NaN/inf is always chosen, so that
    :func:`fit_arrays` reports it."""
    import fnmatch

    names = list(weights)
    if patterns:
        names = [n for n in names if any(n == p or fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not names:
            raise InputError(f"no array matches {', '.join(patterns)}; the file has: "
                             f"{', '.join(list(weights)[:20])}")
    chosen, skipped = {}, []
    for n in names:
        a = weights[n]
        why = None
        # an array with NaN/inf is kept, whatever its shape, so that it is reported as one that
        # cannot be fitted (a data problem worth seeing) rather than silently skipped
        broken = a.dtype.kind == "f" and not np.all(np.isfinite(a))
        if not include_all and not broken:
            if a.ndim < 2:
                why = f"{a.ndim}-D (a bias, gain or buffer, not a weight matrix)"
            elif a.dtype.kind != "f":
                why = f"dtype {a.dtype} (not floating point: an index or count buffer?)"
            elif a.size < min_entries:
                why = f"{a.size} entries (< {min_entries})"
        if why is None:
            chosen[n] = a
        else:
            skipped.append({"name": n, "shape": list(a.shape), "dtype": str(a.dtype),
                            "why": why})
    return chosen, skipped


def _fit_one(name: str, w, bins: int, seed: int, sample: int, plot_path) -> tuple:
    """One array of :func:`fit_arrays`: ``(name, analysis, None)`` or ``(name, None, why)``."""
    try:
        res = analyse_layer(w, name, bins=bins, seed=seed, sample=sample)
    except InputError as e:
        return name, None, str(e)
    if plot_path is not None:
        plot_layer(res, w, plot_path)
        res["plot"] = Path(plot_path).name
    return name, res, None


def fit_arrays(arrays: dict, *, bins: int = 100, seed: int = 0, sample: int = MLE_SAMPLE,
               plot_dir=None, progress: bool | None = None, plot_prefix: str = "",
               jobs: int = 1) -> dict:
    """:func:`analyse_layer` on every array of ``arrays`` (name -> array). An array that
    cannot be fitted goes to ``failed`` (name, shape, why) and the others go on. With
    ``plot_dir`` one PNG per fitted array (``plot`` names it). ``progress``: a tqdm bar on
    stderr (None: only on a terminal). ``jobs`` > 1 spreads the arrays over that many worker
    processes when they hold at least :data:`PARALLEL_MIN` entries in all (below that, starting
    the workers costs more than it saves). Returns ``{"layers", "failed", "summary"}`` in the
    order of ``arrays``."""
    from tqdm import tqdm

    from lognet.base.names import sanitise

    pngs, used = {}, set()
    for name in arrays:
        png = f"{plot_prefix}{sanitise(name)}"
        stem, i = png, 2
        while png in used:  # names that sanitise alike get distinct files
            png, i = f"{stem}_{i}", i + 1
        used.add(png)
        pngs[name] = None if plot_dir is None else Path(plot_dir) / f"{png}.png"
    bar = tqdm(total=len(arrays), unit="array", file=sys.stderr, desc="fit",
               disable=None if progress is None else not progress)
    done = {}
    total = sum(int(np.size(w)) for w in arrays.values())
    jobs = min(jobs, len(arrays))
    if jobs > 1 and total >= PARALLEL_MIN:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: workers start clean (no copy of a parent's threads or open figures)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            futs = [ex.submit(_fit_one, n, w, bins, seed, sample, pngs[n])
                    for n, w in arrays.items()]
            for f in as_completed(futs):
                name, res, why = f.result()
                done[name] = (res, why)
                bar.set_postfix_str(name[-40:], refresh=False)
                bar.update()
    else:
        for name, w in arrays.items():
            bar.set_postfix_str(name[-40:], refresh=False)
            done[name] = _fit_one(name, w, bins, seed, sample, pngs[name])[1:]
            bar.update()
    bar.close()
    layers, failed = {}, []
    for name, w in arrays.items():
        res, why = done[name]
        if res is None:
            failed.append({"name": name, "shape": list(np.shape(w)), "why": why})
        else:
            layers[name] = res
    return {"layers": layers, "failed": failed, "summary": summarise(list(layers.values()))}


def _mean_sd(v) -> dict:
    v = np.asarray([x for x in v if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "n": 0,
                "note": "no layer gave a finite value"}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "n": int(v.size)}


def summarise(analyses: list[dict]) -> dict:
    """Across layers: mean +- sd of the Table-2 R^2, A', mu', sigma' (the paper's Table 2) for
    the weights and for their Gaussian controls, each family's count at each AIC rank, the
    flags raised, and a sentence on how close R^2 and sigma' are to the control's: close when
    the mean per-layer difference is within its sd over layers, or within 0.01 (R^2) / 0.05
    (sigma')."""
    keys = ("r2", "A", "mu", "sigma")
    out = {"layers": len(analyses)}
    if not analyses:
        return out
    out["table2"] = {k: _mean_sd([a["table2"][k] for a in analyses]) for k in keys}
    out["control"] = {k: _mean_sd([a["gaussian_control"]["table2"][k] for a in analyses])
                      for k in keys}
    out["difference"] = {k: _mean_sd([a["table2"][k] - a["gaussian_control"]["table2"][k]
                                      for a in analyses]) for k in ("r2", "sigma")}
    ranks = {f: [0] * len(FAMILIES) for f in FAMILIES}
    for a in analyses:
        for i, f in enumerate(a["mle"]["fits"]):
            ranks[f["family"]][i] += 1
    out["family_ranks"] = ranks
    flags: dict[str, list[str]] = {}
    for a in analyses:
        for f in a.get("flags", []):
            flags.setdefault(f["flag"], []).append(a["name"])
    out["flags"] = flags
    words = []
    for k, label, close in (("r2", "R^2", 0.01), ("sigma", "sigma'", 0.05)):
        d = out["difference"][k]
        if d["n"] == 0:
            continue
        near = abs(d["mean"]) <= max(close, d["sd"])
        words.append(f"{label} {'is close to' if near else 'differs from'} the Gaussian "
                     f"control's ({d['mean']:+.3f} +- {d['sd']:.3f} over layers"
                     f"{', within that spread' if near else ''})")
    out["statement"] = ("; ".join(words) + (
        ". Close values mean the Table-2 fit alone does not tell these weights from "
        "Gaussian ones" if any("close" in w for w in words) else "")) if words else ""
    best = max(ranks, key=lambda f: ranks[f][0])
    out["most_often_best"] = {"family": best, "layers": ranks[best][0]}
    return out


def summary_lines(summary: dict) -> list[str]:
    """The cross-layer summary as a text table."""
    n = summary.get("layers", 0)
    if not n:
        return ["summary: no array was fitted"]
    lines = [f"summary over {n} fitted array{'s' * (n != 1)} (mean +- sd over layers, as in "
             f"Table 2 of arXiv:2310.06960)",
             f"  {'':<8} {'weights':>18} {'Gaussian control':>20}"]
    for k, label in (("r2", "R^2"), ("A", "A'"), ("mu", "mu'"), ("sigma", "sigma'")):
        a, c = summary["table2"][k], summary["control"][k]
        lines.append(f"  {label:<8} {a['mean']:>9.3f} +- {a['sd']:<6.3f} "
                     f"{c['mean']:>11.3f} +- {c['sd']:<6.3f}")
    lines.append(f"  {summary['statement']}")
    ranks = summary["family_ranks"]
    lines.append("  MLE family ranks by AIC (arrays at rank 1, 2, ...):")
    for fam in sorted(ranks, key=lambda f: [-c for c in ranks[f]]):
        lines.append(f"    {fam:<24} " + " ".join(f"{c:>3}" for c in ranks[fam]))
    for flag, names in summary["flags"].items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"  flag {flag}: {len(names)} array{'s' * (len(names) != 1)} ({shown})")
    return lines


def json_ready(obj, where: str = ""):
    """A copy of ``obj`` with every NaN or infinity replaced by ``None``; the dict that held
    it gets ``null_reasons`` {key: why} (its ``note`` when it has one), so ``json.dumps(...,
    allow_nan=False)`` always succeeds and a reader sees why a number is missing."""
    if isinstance(obj, dict):
        out, why = {}, {}
        for k, v in obj.items():
            if isinstance(v, (float, np.floating)) and not math.isfinite(v):
                out[k] = None
                why[k] = obj.get("note") or f"not a finite number ({float(v)!r})"
            else:
                out[k] = json_ready(v, f"{where}.{k}")
        if why:
            out["null_reasons"] = {**out.get("null_reasons", {}), **why}
        return out
    if isinstance(obj, (list, tuple)):
        return [None if isinstance(v, (float, np.floating)) and not math.isfinite(v)
                else json_ready(v, where) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


# -- densities --------------------------------------------------------------------------------


def _dist(f: dict):
    p = f["params"]
    fam = f["family"]
    if fam == "lognormal":
        return stats.lognorm(max(p["sigma"], 1e-300), 0, math.exp(p["mu"]))
    if fam == "half-normal":
        return stats.halfnorm(0, p["scale"])
    if fam == "half-Laplace":
        return stats.expon(0, p["scale"])
    if fam == "half-Cauchy":
        return stats.halfcauchy(0, p["scale"])
    if fam == "Weibull":
        return stats.weibull_min(p["shape"], 0, p["scale"])
    if fam == "half-generalised-normal":
        return stats.halfgennorm(p["beta"], 0, p["scale"])
    return None


def _logpdf(f: dict, x):
    if f["family"] == "half-Student-t":
        p = f["params"]
        return math.log(2) + stats.t.logpdf(x / p["scale"], p["df"]) - math.log(p["scale"])
    return _dist(f).logpdf(x)


def _cdf(f: dict, x):
    if f["family"] == "half-Student-t":
        p = f["params"]
        return 2 * stats.t.cdf(x / p["scale"], p["df"]) - 1
    return _dist(f).cdf(x)


def _pdf(f: dict, x):
    return np.exp(_logpdf(f, x))


# -- plots ------------------------------------------------------------------------------------


def plot_layer(analysis: dict, w, path) -> None:
    """PNG, two panels: the size-weighted histogram of ``|w| / max|w|`` with the fitted
    lognormal (the paper's view), and the density of ln|w| with the three best MLE fits and the
    lognormal (a lognormal is a Gaussian there, and a spike near zero or a long tail stays
    readable, where a linear axis squeezes it into one bin). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = np.abs(_flat(w))
    t2 = analysis["table2"]
    bins = t2["bins"]
    top = float(a.max())
    counts = _counts(a, top, bins)
    centres = (np.arange(bins) + 0.5) / bins
    y = centres * counts * bins / a.size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    # one polygon per histogram (stairs, stepfilled): hundreds of bar patches cost seconds
    ax1.stairs(y, np.linspace(0, 1, bins + 1), fill=True, color="#9ab",
               label="size-weighted |w|/max")
    if all(np.isfinite([t2["A"], t2["mu"], t2["sigma"]])):
        xs = np.linspace(0.5 / bins, 1, 400)
        ax1.plot(xs, _ln_size_weighted(xs, t2["A"], t2["mu"], t2["sigma"]), "r-",
                 label=f"lognormal fit R²={t2['r2']:.3f}")
    ax1.set_xlabel("x = |w| / max|w|")
    ax1.set_title(f"{analysis['name'][-40:]}: paper's Table-2 fit")
    ax1.legend(fontsize=8)
    pos, _, _ = _subsample(a, 400_000, 0)
    lg = np.log(pos)
    ax2.hist(lg, bins=120, density=True, color="#ccc", label="ln|w|", histtype="stepfilled")
    tg = np.linspace(lg.min(), lg.max(), 400)
    fits = analysis["mle"]["fits"]
    shown = fits[:3] + [f for f in fits[3:] if f["family"] == "lognormal"]
    for f in shown:
        # density of t = ln|w|: f(e^t) e^t
        ax2.plot(tg, _pdf(f, np.exp(tg)) * np.exp(tg),
                 label=f"{f['family']} dAIC={f['delta_aic']:.0f}")
    ax2.set_xlabel("ln|w|")
    ax2.set_title("MLE fits on ln|w| (lognormal = Gaussian here)")
    ax2.legend(fontsize=8)
    # fixed margins: tight_layout draws the figure once more (a third of the plot's time)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.92, wspace=0.15)
    save_figure(fig, path)


def save_figure(fig, path, dpi: int = 90) -> None:
    """Write a Matplotlib figure as PNG through a temporary file and a rename (never
    half-written), then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.chmod(tmp, usual_file_mode())  # mkstemp makes 0600
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
