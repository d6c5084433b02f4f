"""The Wang-Landau walk of :mod:`lognet.model.ising`, compiled with Numba.

Kept apart so that importing :mod:`lognet.model.ising` (and so the CLI) does not import Numba;
compiled functions are cached beside this file (``cache=True``) after the first run.
"""

import math

import numba
import numpy as np

__all__ = ["wl_walk"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53


@numba.njit(cache=True, inline="always")
def _uniform(x):  # pragma: no cover (compiled)
    """SplitMix64 (Steele, Lea & Flood 2014; passes BigCrush): ``(next state, u in [0, 1))``.
    Six times cheaper than Numba's ``np.random`` inside the walk."""
    x = x + _GOLDEN
    z = (x ^ (x >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return x, float(z >> np.uint64(11)) * _TO_UNIT


@numba.njit(cache=True, nogil=True, error_model="numpy")
def wl_walk(indptr, indices, values, fields, spins, lo, inv_width, nb, ln_g, visits, e_sum,
            ln_f_final, flatness, check_every, max_steps, seed):  # pragma: no cover (compiled)
    """The Wang-Landau walk (see the :mod:`lognet.model.ising` docstring). Mutates ``spins``,
    ``ln_g``, ``visits``, ``e_sum``; returns ``(steps, ln_f, halvings, one_over_t_from, e_min,
    e_max)``."""
    x = np.uint64(seed)
    n = spins.shape[0]
    fld = np.empty(n)
    E = 0.0
    for i in range(n):
        f = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            f += values[k] * spins[indices[k]]
        E -= 0.5 * f * spins[i] + fields[i] * spins[i]
        fld[i] = f + fields[i]
    hist = np.zeros(nb, np.int64)
    b = min(max(int(math.floor((E - lo) * inv_width)), 0), nb - 1)
    ln_f = 1.0
    halvings = 0
    one_over_t_from = -1
    steps = 0
    e_min = E
    e_max = E
    while ln_f > ln_f_final and steps < max_steps:
        for _ in range(check_every):
            x, u = _uniform(x)
            i = min(int(u * n), n - 1)
            s = spins[i]
            en = E + 2.0 * s * fld[i]
            bn = min(max(int(math.floor((en - lo) * inv_width)), 0), nb - 1)
            d = ln_g[b] - ln_g[bn]
            accept = d >= 0.0
            if not accept:
                x, u = _uniform(x)
                accept = u < math.exp(d)
            if accept:
                spins[i] = -s
                for k in range(indptr[i], indptr[i + 1]):
                    fld[indices[k]] -= 2.0 * s * values[k]
                E = en
                b = bn
                if E < e_min:
                    e_min = E
                if E > e_max:
                    e_max = E
            ln_g[b] += ln_f
            hist[b] += 1
            visits[b] += 1
            e_sum[b] += E
        steps += check_every
        # recompute E from the fields so rounding cannot drift over 10^9 flips
        E = 0.0
        for i in range(n):
            E -= 0.5 * (fld[i] - fields[i]) * spins[i] + fields[i] * spins[i]
        b = min(max(int(math.floor((E - lo) * inv_width)), 0), nb - 1)
        n_vis = 0
        h_sum = 0
        h_min = -1
        for k in range(nb):
            if visits[k] > 0:
                n_vis += 1
                h_sum += hist[k]
                if h_min < 0 or hist[k] < h_min:
                    h_min = hist[k]
        if one_over_t_from >= 0:
            ln_f = n_vis / steps
        elif h_min >= flatness * h_sum / n_vis:
            ln_f /= 2.0
            halvings += 1
            hist[:] = 0
            if ln_f < n_vis / steps:
                one_over_t_from = steps
                ln_f = n_vis / steps
    return steps, ln_f, halvings, one_over_t_from, e_min, e_max
