"""Level pickers: K positive magnitudes for the |w| of a layer, and what they cost in error.

A weight is quantised to ``sign(w) * level[k]`` with ``level[k]`` the level nearest to ``|w|``
(ties to the lower level); the sign is kept exactly, so every error figure here is on ``|w|``.
SQNR is ``10 log10(mean(w^2) / mean((w - q(w))^2))``.

Pickers (``pick_levels(w, K, picker)``):

- ``lognormal-quantile``: fit LN(mu, sigma) to |w|, levels at the fitted law's quantiles
  (i + 1/2) / K: equal probability per level. The fit is robust: ``mu`` is the median of
  log|w| and ``sigma`` its interquartile range / 1.349 (both equal the MLE on lognormal data),
  so a minority of weights decayed towards zero (e.g. those of inputs that are always 0) cannot
  stretch the law over many decades; :func:`lognormal_mle` is the plain MLE.
- ``lognormal-lloyd``: Lloyd-Max on the fitted lognormal *density*, with its closed-form partial
  moments (each iteration is exact), iterated to convergence.
- ``optimal``: the exact minimum-MSE K levels of the empirical |w| (1-D k-means) by dynamic
  programming over sorted values. With more than ``max_exact`` distinct values it runs on a
  histogram of ``bins`` bins whose per-bin sums make every bin-aligned partition's cost exact;
  only the cluster boundaries are then limited to bin edges, and ``note`` states the bound on the
  extra MSE this can cause.
- ``lloyd``: Lloyd-Max (k-means) on the empirical |w|, started from its quantiles.
- ``pow2``: the best K-subset of powers of two (exact DP over candidates).
- ``apot``: the best K-subset of sums of at most two powers of two (exact DP over candidates).
- ``uniform``: levels ``s, 2s, .., Ks`` with the clipping step ``s`` that minimises MSE.
- ``auto``: every picker of :data:`AUTO_CANDIDATES` on the same weights, and the levels of the
  one with the best SQNR (the first listed on a tie); ``chosen`` and the note name it and the
  runner-up. Measured on the digits MLP and on transformer-like matrices at K = 4, 8, 16
  (``python benchmarks/fit.py``): ``optimal`` won, or ``lloyd`` by at most 0.0001 dB where
  ``optimal`` runs on its histogram; ``lognormal-lloyd`` was 0.0 to 0.2 dB below them on
  lognormal matrices and 3.3 to 6.8 dB below on the others.

``zero_level=True`` adds a level 0 (so pruned-to-zero weights cost nothing) and picks K-1
non-zero levels as above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lognet.base.errors import InputError

from .qformat import QFormat
from .validate import MAX_LEVELS

__all__ = [
    "AUTO_CANDIDATES",
    "PICKERS",
    "LevelResult",
    "ScaleError",
    "assign",
    "choose_level_format",
    "lognormal_mle",
    "lognormal_robust",
    "mse_of",
    "pick_levels",
    "round_levels",
    "sqnr_db",
]


class ScaleError(InputError):
    """Values too large for a format of the bits given, whose step can be no coarser than 1
    (fraction bits >= 0): the weights' scale is far from what the formats hold. ``problem``
    says which values and how large; the fixes are ``need`` bits (when at most 32) or weights
    and biases divided by ``2**shift`` (the layer's outputs scale by the same factor)."""

    def __init__(self, problem: str, noun: str, option: str | None, need: int, shift: int):
        self.problem, self.noun, self.option, self.need, self.shift = (problem, noun, option,
                                                                       need, shift)
        super().__init__(f"{problem}; {self.bits_fix()}divide the weights and biases by "
                         f"2**{shift} (the layer's outputs scale by the same factor)")

    def bits_fix(self) -> str:
        """``give N <noun> bits (<option> N) or `` when N is a width formats take, else ''."""
        if self.need > 32:
            return ""
        option = f" ({self.option} {self.need})" if self.option else ""
        return f"give {self.need} {self.noun} bits{option} or "

    def about(self, where: str) -> ScaleError:
        """The same error with ``where`` (e.g. the layer) in front of the problem."""
        return ScaleError(f"{where}: {self.problem}", self.noun, self.option, self.need,
                          self.shift)


def whole_bits_needed(amax: float, bits: int, signed: bool) -> tuple[int, int]:
    """For values up to ``amax`` in a format whose step is 1 (no fraction bits): the width
    that holds round(amax), and the power of two the values must be divided by to fit
    ``bits``."""
    top = int(round(amax))
    need = top.bit_length() + int(signed)
    shift = 0
    while top > (1 << (bits - int(signed))) - 1:
        shift += 1
        top = int(round(amax / 2.0**shift))
    return need, shift


@dataclass(frozen=True)
class LevelResult:
    picker: str
    #: sorted levels (float64), >= 0
    levels: np.ndarray = field(compare=False)
    mse: float
    sqnr_db: float
    note: str = ""
    #: the picker whose levels these are (differs from ``picker`` for ``auto``)
    chosen: str = ""


# -- shared maths ---------------------------------------------------------------------------


def _abs_sorted(w) -> np.ndarray:
    a = np.abs(np.asarray(w, dtype=np.float64).ravel())
    return np.sort(a)


class _Sorted:
    """Sorted |w| with prefix sums: the cost of any run of consecutive values in O(1)."""

    def __init__(self, a_sorted: np.ndarray):
        self.a = a_sorted
        self.n = len(a_sorted)
        self.s1 = np.concatenate(([0.0], np.cumsum(a_sorted)))
        self.s2 = np.concatenate(([0.0], np.cumsum(a_sorted * a_sorted)))

    def cost_to(self, lo, hi, c):
        """Sum of (a - c)^2 over a[lo:hi] (arrays allowed)."""
        n = hi - lo
        s1 = self.s1[hi] - self.s1[lo]
        s2 = self.s2[hi] - self.s2[lo]
        return s2 - 2 * c * s1 + c * c * n

    def index(self, x):
        return np.searchsorted(self.a, x, side="left")


def assign(w, levels) -> tuple[np.ndarray, np.ndarray]:
    """``(sign, index)``: sign 1 for negative weights, index of the nearest level to |w| (ties to
    the lower level)."""
    w = np.asarray(w, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64)
    a = np.abs(w)
    mids = (lv[1:] + lv[:-1]) / 2
    idx = np.searchsorted(mids, a, side="right")
    # a tie (a == mid) goes to the lower level
    tie = (idx > 0) & (a == mids[np.maximum(idx - 1, 0)]) if len(mids) else np.zeros_like(a, bool)
    idx = np.where(tie, idx - 1, idx)
    return (w < 0).astype(np.int64), idx.astype(np.int64)


def mse_of(w, levels) -> float:
    a = np.abs(np.asarray(w, dtype=np.float64))
    _, idx = assign(a, levels)
    return float(np.mean((a - np.asarray(levels, dtype=np.float64)[idx]) ** 2))


def sqnr_db(w, mse: float) -> float:
    p = float(np.mean(np.square(np.asarray(w, dtype=np.float64))))
    if mse <= 0:
        return float("inf")
    return 10 * np.log10(p / mse)


def _log_pos(a_sorted: np.ndarray) -> np.ndarray:
    pos = a_sorted[a_sorted > 0]
    if len(pos) < 2:
        raise InputError("too few non-zero weights to fit a lognormal (need at least 2)")
    return np.log(pos)


def lognormal_mle(a_sorted: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood LN(mu, sigma) of the non-zero |w|: mean and std of log|w|."""
    lg = _log_pos(a_sorted)
    return float(lg.mean()), max(float(lg.std()), 1e-12)


def lognormal_robust(a_sorted: np.ndarray) -> tuple[float, float]:
    """LN(mu, sigma) from the median and interquartile range of log|w| (IQR / 1.349 is sigma
    for a normal law): the lognormal pickers' fit, insensitive to a minority of outliers."""
    lg = _log_pos(a_sorted)
    q1, med, q3 = np.quantile(lg, [0.25, 0.5, 0.75])
    return float(med), max(float(q3 - q1) / 1.3489795003921634, 1e-12)


# -- pickers --------------------------------------------------------------------------------


def _lognormal_quantile(a, K, **_):
    mu, sigma = lognormal_robust(a)
    from scipy.special import ndtri  # here, not at import: `lognet plan` starts in < 1 s

    q = (np.arange(K) + 0.5) / K
    return np.exp(mu + sigma * ndtri(q)), f"LN fit mu={mu:.4g} sigma={sigma:.4g}"


def _ln_partial(mu, sigma, lo, hi):
    """P(lo < X < hi) and E[X; lo < X < hi] for X ~ LN(mu, sigma)."""
    from scipy.special import ndtr

    with np.errstate(divide="ignore"):
        llo = np.where(lo > 0, np.log(np.maximum(lo, 1e-300)), -np.inf)
        lhi = np.where(np.isinf(hi), np.inf, np.log(np.maximum(hi, 1e-300)))
    p = ndtr((lhi - mu) / sigma) - ndtr((llo - mu) / sigma)
    m = np.exp(mu + sigma**2 / 2) * (ndtr((lhi - mu - sigma**2) / sigma)
                                     - ndtr((llo - mu - sigma**2) / sigma))
    return p, m


def _lognormal_lloyd(a, K, iters=2000, **_):
    from scipy.special import ndtri

    mu, sigma = lognormal_robust(a)
    lv = np.exp(mu + sigma * ndtri((np.arange(K) + 0.5) / K))
    for _ in range(iters):
        b = np.concatenate(([0.0], (lv[1:] + lv[:-1]) / 2, [np.inf]))
        p, m = _ln_partial(mu, sigma, b[:-1], b[1:])
        with np.errstate(over="ignore", invalid="ignore"):
            new = np.where(p > 1e-250, m / np.maximum(p, 1e-250), lv)
        if np.allclose(new, lv, rtol=1e-13, atol=0):
            lv = new
            break
        lv = new
    return np.sort(lv), f"Lloyd-Max on LN(mu={mu:.4g}, sigma={sigma:.4g})"


def _dp_partition(x, wt, s1, s2, K):
    """Exact weighted 1-D k-means of points ``x`` (sorted, weights ``wt``, with per-point sums
    ``s1 = sum of values``, ``s2 = sum of squares``). Returns the K cluster means. O(K n^2)
    vectorised over the split point."""
    n = len(x)
    K = min(K, n)
    cw = np.concatenate(([0.0], np.cumsum(wt)))
    c1 = np.concatenate(([0.0], np.cumsum(s1)))
    c2 = np.concatenate(([0.0], np.cumsum(s2)))

    def seg_cost(lo, hi):  # lo, hi broadcastable; segment [lo, hi)
        w_ = cw[hi] - cw[lo]
        t1 = c1[hi] - c1[lo]
        t2 = c2[hi] - c2[lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(w_ > 0, t2 - t1 * t1 / np.where(w_ > 0, w_, 1), 0.0)

    idx = np.arange(n + 1)
    dp = seg_cost(0, idx)  # one cluster over [0, i)
    arg = np.zeros((K, n + 1), dtype=np.int64)
    for k in range(1, K):
        # dp_new[i] = min_{j < i} dp[j] + cost(j, i)
        J = idx[:, None]
        Ii = idx[None, :]
        tot = dp[:, None] + seg_cost(np.minimum(J, Ii), Ii)
        tot = np.where(J < Ii, tot, np.inf)
        tot[0, :] = np.where(idx > 0, np.inf, tot[0, :])  # need k+1 non-empty clusters
        arg[k] = np.argmin(tot, axis=0)
        dp = tot[arg[k], idx]
    # backtrack
    bounds = [n]
    i = n
    for k in range(K - 1, 0, -1):
        i = int(arg[k, i])
        bounds.append(i)
    bounds.append(0)
    bounds = bounds[::-1]
    means = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        means.append((c1[hi] - c1[lo]) / (cw[hi] - cw[lo]))
    return np.array(means), float(dp[n])


def _optimal(a, K, max_exact=3000, bins=3000, **_):
    vals, counts = np.unique(a, return_counts=True)
    if len(vals) <= max_exact:
        lv, _ = _dp_partition(vals, counts.astype(float), vals * counts, vals**2 * counts, K)
        return lv, "exact dynamic programming on the distinct values"
    edges = np.linspace(0.0, a[-1], bins + 1)
    which = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, bins - 1)
    cnt = np.bincount(which, minlength=bins).astype(float)
    s1 = np.bincount(which, weights=a, minlength=bins)
    s2 = np.bincount(which, weights=a * a, minlength=bins)
    keep = cnt > 0
    x = s1[keep] / cnt[keep]
    lv, _ = _dp_partition(x, cnt[keep], s1[keep], s2[keep], K)
    # Boundaries can only fall on bin edges. Moving a boundary by at most one bin width d
    # changes the error of a point next to it by at most 2 d |l_{k+1} - l_k|, and only points
    # in the bin that holds the true midpoint can move: bound the extra MSE by that.
    d = edges[1] - edges[0]
    mids = (lv[1:] + lv[:-1]) / 2
    mbins = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, bins - 1)
    bound = float(np.sum(2 * d * np.diff(lv) * cnt[mbins]) / len(a))
    return lv, (f"dynamic programming on a {bins}-bin histogram (exact bin sums); boundaries "
                f"limited to bin edges cost at most {bound:.3g} extra MSE")


def _lloyd(a, K, iters=500, **_):
    S = _Sorted(a)
    lv = np.quantile(a, (np.arange(K) + 0.5) / K)
    lv = np.unique(lv)
    while len(lv) < K:  # degenerate data: spread
        lv = np.unique(np.concatenate((lv, [lv[-1] * 1.5 + 1e-12])))
    it = 0
    for it in range(iters):  # noqa: B007 (reported in the note)
        mids = (lv[1:] + lv[:-1]) / 2
        cut = np.concatenate(([0], S.index(mids), [S.n]))
        n = np.diff(cut)
        s1 = S.s1[cut[1:]] - S.s1[cut[:-1]]
        new = np.where(n > 0, s1 / np.maximum(n, 1), lv)
        if np.array_equal(new, lv):
            break
        lv = new
    return np.sort(lv), f"Lloyd-Max on the empirical |w|, {it + 1} iterations from quantiles"


def _subset_dp(a, K, cands):
    """The K-subset of ``cands`` (sorted, unique) with the least MSE on sorted ``a``: exact DP
    over consecutive chosen candidates, points assigned to the nearest chosen level."""
    S = _Sorted(a)
    c = np.asarray(cands, dtype=np.float64)
    M = len(c)
    K = min(K, M)
    ci = S.index(c)
    # cost of points below c[m] all going to c[m]
    first = S.cost_to(0, ci, c)
    # pair cost: points in [c[i], c[j]) split at the midpoint
    mid = (c[:, None] + c[None, :]) / 2
    mi = S.index(mid)
    lo = np.broadcast_to(ci[:, None], (M, M))
    hi = np.broadcast_to(ci[None, :], (M, M))
    mi = np.clip(mi, lo, hi)
    pair = S.cost_to(lo, mi, c[:, None]) + S.cost_to(mi, hi, c[None, :])
    pair = np.where(np.arange(M)[:, None] < np.arange(M)[None, :], pair, np.inf)
    dp = first.copy()
    arg = np.zeros((K, M), dtype=np.int64)
    for k in range(1, K):
        tot = dp[:, None] + pair
        arg[k] = np.argmin(tot, axis=0)
        dp = tot[arg[k], np.arange(M)]
    last = dp + S.cost_to(ci, S.n, c)
    m = int(np.argmin(last))
    chosen = [m]
    for k in range(K - 1, 0, -1):
        m = int(arg[k, m])
        chosen.append(m)
    return c[sorted(chosen)]


def _exp_range(a, span: int, bits: int | None):
    """Exponents of the powers of two the pow2 and apot pickers choose from: ``span`` of them
    up to one above the largest magnitude, and with ``bits`` (the level format's width) only
    the ``bits`` largest, so every choice is held exactly once the format's step is set by the
    largest level chosen (:func:`choose_level_format`)."""
    top = int(np.ceil(np.log2(a[-1]))) + 1 if a[-1] > 0 else 0
    if bits is not None:
        span = min(span, bits)
    return np.arange(top - span + 1, top + 1)


def _too_few(picker: str, K: int, n: int, what: str, bits: int | None) -> None:
    if K > n:
        fix = f"give --levels {n} or fewer" + (", or more --level-bits" if bits else "")
        raise InputError(f"--picker {picker} has {n} {what}" + (
            f" that {bits} level bits hold exactly" if bits else "") + f", fewer than the "
            f"{K} levels asked; {fix}")


def _pow2(a, K, bits: int | None = None, **_):
    cands = 2.0 ** _exp_range(a, 25, bits)
    _too_few("pow2", K, len(cands), "powers of two", bits)
    return _subset_dp(a, K, cands), "best K-subset of powers of two (exact DP)"


def _apot(a, K, bits: int | None = None, **_):
    e = _exp_range(a, 15, bits)
    single = 2.0 ** e
    double = (2.0 ** e[:, None] + 2.0 ** e[None, :])[np.triu_indices(len(e), 1)]
    cands = np.unique(np.concatenate((single, double)))
    _too_few("apot", K, len(cands), "sums of at most two powers of two", bits)
    return _subset_dp(a, K, cands), ("best K-subset of sums of at most two powers of two "
                                     "(exact DP over 2^a and 2^a + 2^b)")


def _uniform(a, K, **_):
    S = _Sorted(a)

    def mse(step):
        lv = step * np.arange(1, K + 1)
        mids = (lv[1:] + lv[:-1]) / 2
        cut = np.concatenate(([0], S.index(mids), [S.n]))
        return sum(S.cost_to(cut[i], cut[i + 1], lv[i]) for i in range(K)) / S.n

    top = a[-1] if a[-1] > 0 else 1.0
    grid = np.linspace(top / (8 * K), 1.5 * top / K, 240)
    errs = [mse(s) for s in grid]
    i = int(np.argmin(errs))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (np.sqrt(5) - 1) / 2
    for _ in range(60):  # golden section around the best grid point
        m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
        if mse(m1) < mse(m2):
            hi = m2
        else:
            lo = m1
    step = (lo + hi) / 2
    if mse(grid[i]) < mse(step):
        step = grid[i]
    return step * np.arange(1, K + 1), f"uniform step {step:.4g} (clip at {K * step:.4g})"


_PICKERS = {
    "lognormal-quantile": _lognormal_quantile,
    "lognormal-lloyd": _lognormal_lloyd,
    "optimal": _optimal,
    "lloyd": _lloyd,
    "pow2": _pow2,
    "apot": _apot,
    "uniform": _uniform,
}
#: the pickers ``auto`` tries, in the order that breaks SQNR ties
AUTO_CANDIDATES = tuple(_PICKERS)
#: the picker names, in the order the docs list them (the one list the CLI and config use)
PICKERS = (*_PICKERS, "auto")


def _auto(w, K, zero_level, opts) -> LevelResult:
    results = []
    for p in AUTO_CANDIDATES:
        try:
            results.append(pick_levels(w, K, p, zero_level=zero_level, **opts))
        except InputError:
            if p not in ("pow2", "apot"):  # those two hold fewer levels than K: skipped
                raise
    order = sorted(range(len(results)), key=lambda i: (-results[i].sqnr_db, i))
    best, second = results[order[0]], results[order[1]]
    note = (f"{best.picker}: best SQNR of {len(results)} pickers ({best.sqnr_db:.2f} dB; next "
            f"{second.picker} {second.sqnr_db:.2f} dB); {best.note}")
    return LevelResult("auto", best.levels, best.mse, best.sqnr_db, note, best.picker)


def pick_levels(w, K: int, picker: str, zero_level: bool = False, **opts) -> LevelResult:
    """K sorted levels for the magnitudes of ``w`` by ``picker`` (see the module docstring)."""
    if picker not in PICKERS:
        raise InputError(f"unknown picker {picker!r}; choose one of: {', '.join(PICKERS)}")
    if not isinstance(K, (int, np.integer)) or K < 1 or K > MAX_LEVELS:
        raise InputError(f"K must be an integer in 1..{MAX_LEVELS} (got {K!r})")
    if picker == "auto":
        return _auto(w, K, zero_level, opts)
    w = np.asarray(w, dtype=np.float64).ravel()
    if w.size == 0:
        raise InputError("no weights to pick levels from")
    if not np.all(np.isfinite(w)):
        raise InputError("weights contain NaN or inf; clean them first")
    a = _abs_sorted(w)
    nz = K - 1 if zero_level else K
    if nz < 1:
        raise InputError("zero_level needs K >= 2")
    src = a[a > 0] if zero_level else a
    if src.size == 0 or a[-1] == 0:
        raise InputError("all weights are zero; there is nothing to quantise")
    fitted = picker.startswith("lognormal")
    if fitted and np.count_nonzero(src) < 2:
        # one non-zero magnitude cannot define a lognormal; its best levels are exact anyway
        lv, note = _PICKERS["optimal"](src, nz)
        note = f"too few non-zero weights to fit a lognormal; exact optimum used ({note})"
        fitted = False  # the exact optimum is kept as it is
    else:
        lv, note = _PICKERS[picker](src, nz, **opts)
    lv = np.asarray(lv, dtype=np.float64)
    if fitted:
        # a poorly fitting lognormal can put levels far outside the data: keep them in range
        clipped = np.clip(lv, src[src > 0][0], src[-1])
        if not np.array_equal(clipped, lv):
            note += "; levels clipped to the range of |w| (the lognormal fit reaches beyond it)"
        lv = np.unique(clipped)
        while len(lv) < nz:  # clipping merged levels: split the widest gap, keep K levels
            g = int(np.argmax(np.diff(lv))) if len(lv) > 1 else 0
            new = (lv[g] + lv[g + 1]) / 2 if len(lv) > 1 else lv[0] / 2
            lv = np.unique(np.concatenate((lv, [new])))
    lv = np.unique(lv)
    if zero_level:
        lv = np.unique(np.concatenate(([0.0], lv)))
    m = mse_of(a, lv)
    return LevelResult(picker, lv, m, sqnr_db(w, m), note, picker)


def choose_level_format(levels, bits: int) -> QFormat:
    """Unsigned ``bits``-bit format with as many fraction bits as the largest level allows;
    :class:`ScaleError` when even a step of 1 cannot hold the largest level."""
    top = float(np.max(levels))
    if top <= 0:
        return QFormat(bits, 0, False)
    if round(top) > (1 << bits) - 1:
        need, shift = whole_bits_needed(top, bits, False)
        raise ScaleError(f"the largest level is {top:.3g}, more than {bits} level bits hold "
                         f"(at most {(1 << bits) - 1}: the level step is 1 at the coarsest)",
                         "level", "--level-bits", need, shift)
    # largest frac with round(top * 2**frac) <= 2**bits - 1
    frac = bits - int(np.floor(np.log2(top))) - 1
    while round(top * 2.0**frac) > (1 << bits) - 1:
        frac -= 1
    frac = max(frac, 0)
    return QFormat(bits - frac, frac, False)


def round_levels(w, levels, fmt: QFormat) -> tuple[np.ndarray, float, str]:
    """Levels rounded to ``fmt`` integers, strictly increasing, and the SQNR they give on ``w``.

    Rounding can merge neighbouring levels; merged ones are pushed up one step at a time so the
    table stays strictly increasing (the note says so)."""
    q = np.clip(np.round(np.asarray(levels) / fmt.step), 0, fmt.max_int).astype(np.int64)
    note = ""
    for i in range(1, len(q)):
        if q[i] <= q[i - 1]:
            q[i] = q[i - 1] + 1
            note = "rounding merged levels; pushed apart by one step"
    if q[-1] > fmt.max_int:
        raise InputError(f"{len(q)} distinct levels do not fit {fmt.width} bits; use fewer "
                         f"levels or more level bits")
    m = mse_of(w, q * fmt.step)
    return q, sqnr_db(w, m), note
