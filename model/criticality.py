"""Signal propagation through deep random networks: order, chaos and the critical region between.

After Poole et al. (NeurIPS 2016, mean-field order-to-chaos transition) and Qu, Wardak & Gong,
"Extended critical regimes of deep neural networks" (arXiv:2203.12967). A network of ``depth``
layers of width ``N`` (fan-in ``N``) maps ``x^{l+1} = phi(W^l x^l + b^l)`` with i.i.d. weights

    W^l[i, j] = sigma_w * z / N^(1/a),        b^l[i] ~ N(0, sigma_b^2)

where ``z`` is drawn from a family with a unit scale: ``gaussian`` (``N(0, 1)``); ``lognormal``
(a random sign times ``LN(mu, sigma)``, divided by its RMS so ``E z^2 = 1``: ``mu`` then only
scales, which ``sigma_w`` does already, and drops out); ``student-t`` (``df`` degrees of freedom,
divided by its standard deviation when ``df > 2``); ``alpha-stable`` (symmetric, scale 1,
``scipy.stats.levy_stable``). ``a = 2`` for the families with a finite variance, so ``sigma_w^2``
is ``N`` times the weights' second moment; ``a = alpha`` for alpha-stable weights and ``a = df``
for a Student-t with ``df <= 2``, the scaling under which a sum of ``N`` of them keeps its scale.

Measured, for every ``sigma_w`` of a grid at once (the same draws ``z`` for all of them, so the
curves are smooth in ``sigma_w``):

- the largest Lyapunov exponent ``lambda`` of the input-output Jacobian
  ``prod_l D^l W^l`` (``D^l = diag phi'(h^l)``): a tangent vector is carried through the layers
  and renormalised at each one, and ``lambda`` is the mean of its log growth per layer over the
  layers after ``burn_in`` (so the transient from the input is left out). ``lambda < 0``: nearby
  inputs converge (order); ``lambda > 0``: they separate (chaos); ``lambda = 0``: critical;
- the distance ``||x^l - x'^l|| / sqrt(N)`` between two inputs that start ``eps`` apart, at every
  depth.

Width correction. At a finite width the exponent carries the term ``c_N = (psi(N/2) +
ln(2/N)) / 2 ~ -1/(2N)`` of any product of Gaussian matrices (``E ln||W v|| = ln sigma_w + c_N``
for a unit vector ``v`` and fresh Gaussian ``W``), and just above the tanh transition the
exponent grows only like ``(sigma_w^2 - 1)^2 / 8``, so that small term alone moves the zero
crossing to about ``1 + 1/sqrt(N)``. ``lambda`` is therefore reported for infinite width, to
compare with the mean-field result: for Gaussian weights as the mean of ``ln(|D W v| / |W v|)``
plus ``ln sigma_w`` (``ln|W v|`` is a control variate of known mean, which also removes most of
the sampling noise), for the other finite-variance families as the plain mean minus ``c_N`` (the
Gaussian term; exact to ``O(kurtosis / N^2)``), and without correction for weights of infinite
variance. ``lambda_plain``, the uncorrected finite-width mean, is reported beside it, with its own
zero crossing.

The zero crossing of ``lambda`` is found on the grid and located by linear interpolation on a
second, finer grid over the bracketing interval. The critical region is where ``|lambda| <= tol``;
its width is read off the grid by linear interpolation. Mean-field theory puts the transition of
Gaussian weights with tanh and no bias at ``sigma_w = 1`` (``chi_1 = sigma_w^2 E[phi'^2] = 1`` at
the fixed point ``q* = 0``); for ReLU without bias ``lambda = ln(sigma_w / sqrt 2)`` up to
finite-width terms, so it crosses at ``sqrt 2``.

A trained layer is placed on the diagram by its empirical scale ``sigma_w = sqrt(n_in * mean
w^2)`` (the finite-variance convention above).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from lognet.base.errors import InputError

__all__ = ["ACTIVATIONS", "FAMILIES", "WeightFamily", "analyse_criticality", "layer_scales",
           "lyapunov_grid", "plot_criticality"]

FAMILIES = ("gaussian", "lognormal", "student-t", "alpha-stable")
ACTIVATIONS = ("tanh", "relu")
#: widest layer and deepest network (a layer's N x N draw is held in memory)
MAX_WIDTH = 8192
MAX_DEPTH = 100_000
#: most grid points
MAX_POINTS = 10_000
#: depths at which the distance of the two inputs is kept in the result
DISTANCE_POINTS = 201


@dataclass(frozen=True)
class WeightFamily:
    """A weight distribution with a unit scale (module docstring)."""

    name: str = "gaussian"
    #: lognormal: mean and standard deviation of ln|z| (mu drops out after the normalisation)
    mu: float = 0.0
    sigma: float = 1.0
    #: student-t: degrees of freedom
    df: float = 3.0
    #: alpha-stable: stability index in (0, 2]
    alpha: float = 1.5

    def __post_init__(self):
        if self.name not in FAMILIES:
            raise InputError(f"weight family {self.name!r}: use one of {', '.join(FAMILIES)}")
        if not all(math.isfinite(v) for v in (self.mu, self.sigma, self.df, self.alpha)):
            raise InputError("family parameters must be finite numbers")
        if self.name == "lognormal" and self.sigma <= 0:
            raise InputError(f"lognormal sigma must be > 0 (got {self.sigma})")
        if self.name == "lognormal" and self.sigma > 10:
            raise InputError(f"lognormal sigma {self.sigma} is too wide (exp(2 sigma^2) "
                             f"overflows); use sigma <= 10")
        if self.name == "student-t" and self.df <= 0:
            raise InputError(f"student-t df must be > 0 (got {self.df})")
        if self.name == "alpha-stable" and not 0 < self.alpha <= 2:
            raise InputError(f"alpha must be in (0, 2] (got {self.alpha})")

    @property
    def tail_index(self) -> float:
        """``a`` of the ``N^(1/a)`` scaling."""
        if self.name == "alpha-stable":
            return self.alpha
        if self.name == "student-t" and self.df <= 2:
            return self.df
        return 2.0

    def draw(self, rng: np.random.Generator, shape) -> np.ndarray:
        if self.name == "gaussian":
            return rng.standard_normal(shape)
        if self.name == "lognormal":
            sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
            return sign * np.exp(self.sigma * rng.standard_normal(shape) - self.sigma**2)
        if self.name == "student-t":
            z = rng.standard_t(self.df, shape)
            return z * math.sqrt((self.df - 2) / self.df) if self.df > 2 else z
        from scipy.stats import levy_stable

        return levy_stable.rvs(self.alpha, 0.0, size=shape, random_state=rng)

    def describe(self) -> str:
        return {"gaussian": "gaussian",
                "lognormal": f"lognormal (sigma={self.sigma:g}, random signs)",
                "student-t": f"student-t (df={self.df:g})",
                "alpha-stable": f"alpha-stable (alpha={self.alpha:g})"}[self.name]

    def to_json(self) -> dict:
        d = {"name": self.name, "tail_index": self.tail_index}
        d.update({"lognormal": {"mu": self.mu, "sigma": self.sigma},
                  "student-t": {"df": self.df}, "alpha-stable": {"alpha": self.alpha},
                  "gaussian": {}}[self.name])
        return d


def _phi(activation: str):
    if activation == "tanh":
        return np.tanh, lambda h: 1.0 - np.tanh(h) ** 2
    if activation == "relu":
        return (lambda h: np.maximum(h, 0.0)), (lambda h: (h > 0).astype(np.float64))
    raise InputError(f"activation {activation!r}: use tanh or relu")


def _check(width: int, depth: int, burn_in: int, sigma_b: float, eps: float) -> None:
    if not 1 <= width <= MAX_WIDTH:
        raise InputError(f"fan-in N must be 1..{MAX_WIDTH} (got {width})")
    if not 1 <= depth <= MAX_DEPTH:
        raise InputError(f"depth must be 1..{MAX_DEPTH} (got {depth})")
    if not 0 <= burn_in < depth:
        raise InputError(f"burn-in must be 0..depth-1 (got {burn_in} for depth {depth})")
    if not (math.isfinite(sigma_b) and sigma_b >= 0):
        raise InputError(f"sigma_b must be >= 0 (got {sigma_b})")
    if not (math.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be > 0 (got {eps})")


def lyapunov_grid(sigma_w, *, family: WeightFamily = WeightFamily(), activation: str = "tanh",
                  width: int = 100, depth: int = 4000, burn_in: int | None = None,
                  sigma_b: float = 0.0, q0: float = 1.0, eps: float = 1e-6,
                  seed: int = 0) -> dict:
    """``lambda`` and the distance of two nearby inputs across depth for each of ``sigma_w``
    (module docstring). ``q0``: the inputs' mean square; ``eps``: their initial distance."""
    s = np.asarray(sigma_w, dtype=np.float64).ravel()
    if s.size == 0 or s.size > MAX_POINTS:
        raise InputError(f"give 1..{MAX_POINTS} values of sigma_w")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("sigma_w must be > 0")
    burn_in = depth // 10 if burn_in is None else burn_in
    _check(width, depth, burn_in, sigma_b, eps)
    phi, dphi = _phi(activation)
    rng = np.random.default_rng(seed)
    G = s.size
    x0 = rng.standard_normal(width) * math.sqrt(q0)
    u = rng.standard_normal(width)
    u *= eps * math.sqrt(width) / np.linalg.norm(u)
    v0 = rng.standard_normal(width)
    X = np.repeat(x0[:, None], G, axis=1)
    Y = X + u[:, None]
    V = np.repeat((v0 / np.linalg.norm(v0))[:, None], G, axis=1)
    scale = s / width ** (1.0 / family.tail_index)
    # ReLU without bias is positively homogeneous: rescaling both inputs by one factor changes
    # no derivative, so they are kept at unit size and the factor is carried in log_scale
    homogeneous = activation == "relu" and sigma_b == 0
    log_scale = np.zeros(G)
    growth = np.zeros((depth, G))
    control = np.zeros((depth, G))
    log_dist = np.zeros((depth + 1, G))
    log_dist[0] = math.log(eps)
    overflow = np.zeros(G, dtype=bool)
    t0 = time.perf_counter()
    for layer in range(depth):
        Z = family.draw(rng, (width, width))
        b = sigma_b * rng.standard_normal(width) if sigma_b else 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            H = (Z @ X) * scale + (b[:, None] if sigma_b else 0.0)
            HY = (Z @ Y) * scale + (b[:, None] if sigma_b else 0.0)
            ZV = (Z @ V) * scale
            V = dphi(H) * ZV
        norm = np.linalg.norm(V, axis=0)
        bad = ~np.isfinite(norm) | ~np.all(np.isfinite(H), axis=0)
        overflow |= bad
        with np.errstate(divide="ignore", invalid="ignore"):
            growth[layer] = np.where(norm > 0, np.log(norm), -np.inf)
            V = V / np.where(norm > 0, norm, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            control[layer] = np.log(np.linalg.norm(ZV, axis=0))
        X, Y = phi(H), phi(HY)
        if homogeneous:
            c = np.linalg.norm(X, axis=0) / math.sqrt(width)
            c = np.where(c > 0, c, 1.0)
            X, Y = X / c, Y / c
            log_scale += np.log(c)
        with np.errstate(divide="ignore"):
            d = np.linalg.norm(X - Y, axis=0) / math.sqrt(width)
            log_dist[layer + 1] = np.log(d) + log_scale
    plain = np.where(overflow, np.nan, growth[burn_in:].mean(axis=0))
    kept = np.unique(np.linspace(0, depth, min(depth + 1, DISTANCE_POINTS)).round().astype(int))
    from scipy.special import digamma  # here: the CLI and config import this module

    c_n = 0.5 * (digamma(width / 2) + math.log(2 / width))
    if family.name == "gaussian":
        # control variate: log||W v|| (W fresh each layer, v a unit vector) has the exact mean
        # ln sigma_w + c_N, so subtracting it and adding ln sigma_w removes both the finite-width
        # term and most of the noise
        lam = np.where(overflow, np.nan, (growth - control)[burn_in:].mean(axis=0) + np.log(s))
        estimator = "mean of ln(|D W v| / |W v|) + ln sigma_w (control variate, exact c_N)"
    elif family.tail_index == 2.0:
        lam = plain - c_n
        estimator = "mean log growth - c_N (the Gaussian finite-width term)"
    else:
        lam = plain
        estimator = "mean log growth (no finite variance: no width correction)"
    return {"sigma_w": s.tolist(), "lambda": _json(lam), "lambda_plain": _json(plain),
            "estimator": estimator, "c_n": c_n,
            "distance_layers": kept.tolist(), "log_distance": [_json(r) for r in log_dist[kept].T],
            "final_log10_distance": _json(log_dist[-1] / math.log(10)),
            "overflow": overflow.tolist(),
            "width": width, "depth": depth, "burn_in": burn_in, "sigma_b": sigma_b,
            "q0": q0, "eps": eps, "activation": activation, "family": family.to_json(),
            "seed": seed, "seconds": time.perf_counter() - t0}


def _json(a) -> list:
    """Floats for JSON: a non-finite value (a distance that underflowed to 0, an overflowed
    exponent) becomes None."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=np.float64)]


def _crossings(s: np.ndarray, lam: np.ndarray, level: float) -> list[float]:
    """Where the piecewise-linear ``lam(s)`` crosses ``level`` upwards or downwards."""
    out = []
    for k in range(len(s) - 1):
        a, b = lam[k] - level, lam[k + 1] - level
        if not (np.isfinite(a) and np.isfinite(b)):
            continue
        if a == 0:
            out.append(float(s[k]))
        elif a * b < 0:
            out.append(float(s[k] + (s[k + 1] - s[k]) * a / (a - b)))
    if len(s) and np.isfinite(lam[-1]) and lam[-1] == level:
        out.append(float(s[-1]))
    return out


def _critical_region(s: np.ndarray, lam: np.ndarray, tol: float, at: float | None) -> dict:
    """The interval of ``|lam| <= tol`` around ``at`` (the zero crossing), by interpolation."""
    inside = np.isfinite(lam) & (np.abs(lam) <= tol)
    if at is None:
        return {"lo": None, "hi": None, "width": None, "grid_points_inside": int(inside.sum())}
    edges = sorted(_crossings(s, lam, tol) + _crossings(s, lam, -tol))
    lo = max([e for e in edges if e <= at], default=float(s[0]))
    hi = min([e for e in edges if e >= at], default=float(s[-1]))
    return {"lo": lo, "hi": hi, "width": hi - lo, "grid_points_inside": int(inside.sum()),
            "touches_grid_edge": lo == float(s[0]) or hi == float(s[-1])}


def layer_scales(layers) -> list[dict]:
    """Each ``(name, W)``'s empirical ``sigma_w = sqrt(n_in * mean w^2)`` and fan-in."""
    out = []
    for name, W in layers:
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.size == 0:
            raise InputError(f"{name}: shape {W.shape}; a layer needs a 2-D (n_out, n_in) "
                             f"matrix")
        if not np.all(np.isfinite(W)):
            raise InputError(f"{name}: weights contain NaN or inf")
        out.append({"name": name, "n_in": int(W.shape[1]), "n_out": int(W.shape[0]),
                    "sigma_w": float(math.sqrt(W.shape[1] * np.mean(W * W)))})
    return out


def analyse_criticality(*, family: WeightFamily = WeightFamily(), activation: str = "tanh",
                        width: int = 100, depth: int = 4000, burn_in: int | None = None,
                        sigma_b: float = 0.0, grid=(0.5, 2.0, 31), refine: int = 21,
                        tol: float = 0.02, seed: int = 0, layers=None, progress=None) -> dict:
    """The phase diagram ``lambda(sigma_w)`` on ``grid = (lo, hi, points)``, the zero crossing
    (refined on ``refine`` points over the bracketing interval), the critical region
    ``|lambda| <= tol`` and, for ``layers`` (``(name, W)``), where trained layers sit."""
    lo, hi, points = grid
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"the sigma_w grid needs 0 < lo < hi (got {lo}..{hi})")
    if not 2 <= points <= MAX_POINTS:
        raise InputError(f"the sigma_w grid needs 2..{MAX_POINTS} points (got {points})")
    if not (math.isfinite(tol) and tol > 0):
        raise InputError(f"tol must be > 0 (got {tol})")
    placed = layer_scales(layers) if layers else []
    kw = dict(family=family, activation=activation, width=width, depth=depth, burn_in=burn_in,
              sigma_b=sigma_b, seed=seed)
    s = np.linspace(lo, hi, int(points))
    if progress:
        progress(f"{family.describe()}, {activation}: {points} values of sigma_w in "
                 f"{lo:g}..{hi:g}, N={width}, depth {depth}")
    coarse = lyapunov_grid(s, **kw)
    lam = np.asarray(coarse["lambda"], dtype=np.float64)
    ups = _crossings(s, lam, 0.0)
    crossing = None
    fine = None
    if ups:
        c0 = ups[0]
        k = int(np.clip(np.searchsorted(s, c0) - 1, 0, len(s) - 2))
        if refine >= 2:
            if progress:
                progress(f"refining the crossing on {refine} points in "
                         f"{s[k]:.4g}..{s[k + 1]:.4g}")
            sf = np.linspace(s[k], s[k + 1], int(refine))
            fine = lyapunov_grid(sf, **kw)
            cf = _crossings(sf, np.asarray(fine["lambda"], dtype=np.float64), 0.0)
            crossing = cf[0] if cf else c0
        else:
            crossing = c0
    plain_ups = _crossings(s, np.asarray(coarse["lambda_plain"], dtype=np.float64), 0.0)
    phases = ["unknown" if not np.isfinite(v) else "critical" if abs(v) <= tol
              else "chaotic" if v > 0 else "ordered" for v in lam]
    for p in placed:
        p["lambda"] = float(np.interp(p["sigma_w"], s, lam)) if lo <= p["sigma_w"] <= hi \
            else None
        p["phase"] = ("outside the grid" if p["lambda"] is None
                      else "critical" if abs(p["lambda"]) <= tol
                      else "chaotic" if p["lambda"] > 0 else "ordered")
        if p["n_in"] != width:
            p["note"] = f"fan-in {p['n_in']}, diagram drawn for N={width}"
    return {"family": family.to_json(), "family_text": family.describe(),
            "activation": activation, "width": width, "depth": depth,
            "burn_in": coarse["burn_in"], "sigma_b": sigma_b, "tol": tol, "seed": seed,
            "grid": coarse, "fine": fine, "phases": phases, "crossings": ups,
            "transition_sigma_w": crossing,
            "transition_sigma_w_plain": plain_ups[0] if plain_ups else None,
            "critical_region": _critical_region(s, lam, tol, crossing), "layers": placed,
            "seconds": coarse["seconds"] + (fine["seconds"] if fine else 0.0)}


def plot_criticality(result: dict, path) -> None:
    """PNG: lambda against sigma_w with the critical band and the trained layers, and the
    distance of two nearby inputs across depth for a few sigma_w."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fit import save_figure

    g = result["grid"]
    s = np.asarray(g["sigma_w"])
    lam = np.asarray(g["lambda"], dtype=float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    tol = result["tol"]
    ax1.axhspan(-tol, tol, color="#dde", label=f"|lambda| <= {tol:g}")
    ax1.plot(s, lam, ".-", label="lambda (largest Lyapunov exponent)")
    ax1.axhline(0, color="k", lw=0.5)
    if result["transition_sigma_w"] is not None:
        ax1.axvline(result["transition_sigma_w"], color="r", lw=0.8,
                    label=f"lambda = 0 at sigma_w = {result['transition_sigma_w']:.3f}")
    for p in result["layers"]:
        ax1.axvline(p["sigma_w"], color="g", lw=0.8, ls="--")
        ax1.text(p["sigma_w"], ax1.get_ylim()[1], p["name"], rotation=90, va="top",
                 fontsize=7, color="g")
    ax1.set_xlabel("sigma_w")
    ax1.set_ylabel("lambda per layer")
    ax1.set_title(f"{result['family_text']}, {result['activation']}, N={result['width']}")
    ax1.legend(fontsize=7)
    dist = np.asarray(g["log_distance"], dtype=float)
    for k in np.unique(np.linspace(0, len(s) - 1, 5).round().astype(int)):
        ax2.plot(g["distance_layers"], dist[k] / math.log(10), label=f"sigma_w={s[k]:.3g}")
    ax2.set_xlabel("layer")
    ax2.set_ylabel("log10 distance of two nearby inputs")
    ax2.set_title("distance across depth")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
