"""Distribution analysis of a layer's |w|: is it lognormal, and how sure can we be?

Three views, reported side by side:

1. The method of Venkatasubramanian et al. (arXiv:2310.06960, Table 2): ``x = |w| / max|w|``,
   ``m`` equal bins on [0, 1], size-weighted values ``y_k = x_k n_k / (N dx)`` at the bin centres
   (``n_k`` counts, ``N`` weights, ``dx = 1/m``; this normalisation makes ``y`` estimate
   ``x f(x)`` for the density ``f`` of ``x``, so ``A'`` is comparable across layer sizes and
   equals E[x] for a lognormal), least-squares fit of
   ``A' / (x sigma' sqrt(2 pi)) exp(-(ln x - mu')^2 / (2 sigma'^2))`` over all bins, with R^2.
   For |w| ~ LN(mu, sigma), ``x f(x) = E[x] LN(x; mu + sigma^2 - ln max|w|, sigma)``: the fit
   should give ``sigma' = sigma`` and ``mu' = mu + sigma^2 - ln max|w|``.
2. Maximum-likelihood fits of |w| (location 0) to six families, ranked by AIC, with the KS
   distance of each and a plain sentence saying which fits best and by how much.
3. A Gaussian control: the same on a Gaussian matrix of the same shape and standard deviation,
   so a reader sees what (sigma', R^2) plain Gaussian weights give.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from lognet.base.errors import InputError

__all__ = [
    "FAMILIES",
    "MLE_SAMPLE",
    "analyse_layer",
    "gaussian_control",
    "mle_fits",
    "plot_layer",
    "save_figure",
    "table2_fit",
]

#: largest number of weights an MLE fit uses (a seeded random subsample beyond that)
MLE_SAMPLE = 200_000
FAMILIES = ("lognormal", "half-normal", "half-Laplace", "half-Cauchy", "half-Student-t",
            "Weibull")


def _clean(w) -> np.ndarray:
    a = np.abs(np.asarray(w, dtype=np.float64).ravel())
    if a.size == 0:
        raise InputError("no weights to analyse")
    if not np.all(np.isfinite(a)):
        raise InputError("weights contain NaN or inf")
    if a.max() == 0:
        raise InputError("all weights are zero; nothing to fit")
    return a


def _ln_size_weighted(x, A, mu, sigma):
    return A / (x * sigma * math.sqrt(2 * math.pi)) * np.exp(-(np.log(x) - mu) ** 2
                                                             / (2 * sigma**2))


def table2_from_hist(centres, y) -> dict:
    """Least-squares fit of the size-weighted lognormal to ``y`` at bin ``centres``."""
    pos = y > 0
    if pos.sum() < 3:
        return {"A": float("nan"), "mu": float("nan"), "sigma": float("nan"),
                "r2": float("nan"), "note": "fewer than 3 non-empty bins"}
    lx = np.log(centres[pos])
    wts = y[pos] / y[pos].sum()
    mu0 = float(np.sum(wts * lx))
    s0 = float(max(np.sqrt(np.sum(wts * (lx - mu0) ** 2)), 1e-3))
    A0 = float(np.sum(y) / len(centres))
    try:
        (A, mu, sigma), _ = optimize.curve_fit(
            _ln_size_weighted, centres, y, p0=(A0, mu0, s0), maxfev=20000,
            bounds=([0, -50, 1e-4], [np.inf, 10, 50]))
    except (RuntimeError, ValueError):
        A, mu, sigma = A0, mu0, s0
    pred = _ln_size_weighted(centres, A, mu, sigma)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"A": float(A), "mu": float(mu), "sigma": float(sigma),
            "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")}


def table2_fit(w, bins: int = 100) -> dict:
    """The paper's fit (module docstring, item 1)."""
    if bins < 5:
        raise InputError(f"use at least 5 bins (got {bins})")
    a = _clean(w)
    top = a.max()
    x = a / top
    counts = np.bincount(np.minimum((x * bins).astype(np.int64), bins - 1), minlength=bins)
    centres = (np.arange(bins) + 0.5) / bins
    y = centres * counts / (a.size * (1.0 / bins))
    out = table2_from_hist(centres, y)
    out.update({"bins": bins, "n": int(a.size), "max_abs_w": float(top)})
    return out


# -- maximum likelihood ---------------------------------------------------------------------


def _halft_nll(params, x):
    df, scale = np.exp(params)
    return -np.sum(np.log(2) + stats.t.logpdf(x / scale, df) - np.log(scale))


def _fit_family(name: str, x: np.ndarray) -> dict:
    # closed-form MLEs where they exist, numerical ones otherwise
    if name == "lognormal":
        lx = np.log(x)
        mu, s = float(lx.mean()), float(lx.std())
        dist = stats.lognorm(s, 0, math.exp(mu))
        params = {"mu": mu, "sigma": s}
    elif name == "half-normal":
        scale = float(np.sqrt(np.mean(x * x)))
        dist = stats.halfnorm(0, scale)
        params = {"scale": float(scale)}
    elif name == "half-Laplace":
        scale = float(x.mean())
        dist = stats.expon(0, scale)
        params = {"scale": float(scale)}
    elif name == "half-Cauchy":
        _, scale = stats.halfcauchy.fit(x, floc=0)
        dist = stats.halfcauchy(0, scale)
        params = {"scale": float(scale)}
    elif name == "Weibull":
        c, _, scale = stats.weibull_min.fit(x, floc=0)
        dist = stats.weibull_min(c, 0, scale)
        params = {"shape": float(c), "scale": float(scale)}
    else:  # half-Student-t, fitted by minimising the negative log-likelihood
        x0 = np.log([5.0, float(np.median(x)) / 0.7 + 1e-12])
        res = optimize.minimize(_halft_nll, x0, args=(x,), method="Nelder-Mead",
                                options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
        df, scale = np.exp(res.x)
        ll = -float(res.fun)

        class _HT:  # cdf for the KS distance
            @staticmethod
            def cdf(v):
                return 2 * stats.t.cdf(v / scale, df) - 1

        ks = stats.kstest(x, _HT.cdf).statistic
        return {"family": name, "params": {"df": float(df), "scale": float(scale)},
                "k": 2, "loglik": ll, "ks": float(ks)}
    ll = float(np.sum(dist.logpdf(x)))
    ks = float(stats.kstest(x, dist.cdf).statistic)
    return {"family": name, "params": params, "k": len(params), "loglik": ll, "ks": ks}


def mle_fits(w, seed: int = 0) -> dict:
    """MLE fits of |w| to :data:`FAMILIES`, ranked by AIC (module docstring, item 2)."""
    a = _clean(w)
    zeros = int(np.count_nonzero(a == 0))
    x = a[a > 0]
    note = ""
    if x.size > MLE_SAMPLE:
        x = np.random.default_rng(seed).choice(x, MLE_SAMPLE, replace=False)
        note = (f"fitted on a seeded random subsample of {MLE_SAMPLE:,} of {a.size:,} weights "
                f"(AIC differences scale with the sample size)")
    fits = []
    for fam in FAMILIES:
        f = _fit_family(fam, x)
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
            "summary": sentence, "n": int(x.size), "zeros_dropped": zeros, "note": note}


def gaussian_control(w, bins: int = 100, seed: int = 0) -> dict:
    """The same analysis on Gaussian weights of the same shape and standard deviation."""
    w = np.asarray(w, dtype=np.float64)
    std = float(w.std()) or 1.0
    g = np.random.default_rng(seed).normal(0.0, std, w.shape)
    return {"std": std, "shape": list(w.shape), "table2": table2_fit(g, bins),
            "mle": mle_fits(g, seed)}


def analyse_layer(w, name: str = "layer", bins: int = 100, seed: int = 0) -> dict:
    """All three views of one layer, JSON-serialisable, with a verdict."""
    w = np.asarray(w, dtype=np.float64)
    t2 = table2_fit(w, bins)
    mle = mle_fits(w, seed)
    ctrl = gaussian_control(w, bins, seed)
    c2 = ctrl["table2"]
    summary = (f"{mle['summary']}. Table-2 fit: R^2={t2['r2']:.3f}, mu'={t2['mu']:.2f}, "
               f"sigma'={t2['sigma']:.3f} (Gaussian control: R^2={c2['r2']:.3f}, "
               f"sigma'={c2['sigma']:.3f})")
    return {
        "name": name, "shape": list(w.shape), "n": int(w.size), "std": float(w.std()),
        "table2": t2, "mle": mle, "gaussian_control": ctrl,
        "verdict": {"best_family": mle["best"], "lognormal_best": mle["lognormal_best"],
                    "sigma_prime_vs_control": t2["sigma"] - c2["sigma"],
                    "r2_vs_control": t2["r2"] - c2["r2"], "summary": summary},
    }


def plot_layer(analysis: dict, w, path) -> None:
    """PNG: the size-weighted histogram with the fitted lognormal, and the |w| density with the
    three best MLE fits. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = _clean(w)
    t2 = analysis["table2"]
    bins = t2["bins"]
    x = a / a.max()
    counts = np.bincount(np.minimum((x * bins).astype(np.int64), bins - 1), minlength=bins)
    centres = (np.arange(bins) + 0.5) / bins
    y = centres * counts * bins / a.size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.bar(centres, y, width=1 / bins, color="#9ab", label="size-weighted |w|/max")
    xs = np.linspace(0.5 / bins, 1, 400)
    ax1.plot(xs, _ln_size_weighted(xs, t2["A"], t2["mu"], t2["sigma"]), "r-",
             label=f"lognormal fit R²={t2['r2']:.3f}")
    ax1.set_xlabel("x = |w| / max|w|")
    ax1.set_title(f"{analysis['name']}: paper's Table-2 fit")
    ax1.legend(fontsize=8)
    pos = a[a > 0]
    hi = np.quantile(pos, 0.999)
    ax2.hist(pos[pos <= hi], bins=120, density=True, color="#ccc", label="|w|")
    grid = np.linspace(hi / 400, hi, 400)
    for f in analysis["mle"]["fits"][:3]:
        pdf = _pdf(f, grid)
        if pdf is not None:
            ax2.plot(grid, pdf, label=f"{f['family']} dAIC={f['delta_aic']:.0f}")
    ax2.set_xlabel("|w|")
    ax2.set_title("maximum-likelihood fits (best three)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
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
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _pdf(f: dict, x):
    p = f["params"]
    fam = f["family"]
    if fam == "lognormal":
        return stats.lognorm.pdf(x, p["sigma"], 0, math.exp(p["mu"]))
    if fam == "half-normal":
        return stats.halfnorm.pdf(x, 0, p["scale"])
    if fam == "half-Laplace":
        return stats.expon.pdf(x, 0, p["scale"])
    if fam == "half-Cauchy":
        return stats.halfcauchy.pdf(x, 0, p["scale"])
    if fam == "Weibull":
        return stats.weibull_min.pdf(x, p["shape"], 0, p["scale"])
    if fam == "half-Student-t":
        return 2 * stats.t.pdf(x / p["scale"], p["df"]) / p["scale"]
    return None
