"""Level pickers: optimality against brute force, fixed points, level families, rounding."""

import itertools

import numpy as np
import pytest

from lognet.base.errors import InputError
from lognet.model.levels import (
    PICKERS,
    assign,
    choose_level_format,
    mse_of,
    pick_levels,
    round_levels,
)


def brute_force(a, K):
    """Minimum MSE over every partition of sorted ``a`` into K contiguous groups."""
    a = np.sort(a)
    n = len(a)
    best = np.inf
    for cuts in itertools.combinations(range(1, n), K - 1):
        bounds = (0, *cuts, n)
        err = sum(np.sum((a[lo:hi] - a[lo:hi].mean()) ** 2) for lo, hi in zip(bounds[:-1],
                                                                               bounds[1:]))
        best = min(best, err)
    return best / n


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_optimal_equals_brute_force(seed, K):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(K, 10))
    w = rng.normal(0, 1, n)
    r = pick_levels(w, K, "optimal")
    assert np.isclose(r.mse, brute_force(np.abs(w), min(K, len(np.unique(np.abs(w))))),
                      rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dist", ["lognormal", "gauss"])
def test_optimal_is_lowest(dist):
    rng = np.random.default_rng(2)
    w = np.exp(rng.normal(-3, 0.65, 2000)) if dist == "lognormal" else rng.normal(0, 1, 2000)
    opt = pick_levels(w, 6, "optimal")  # exact: 2000 distinct values
    for p in PICKERS:
        r = pick_levels(w, 6, p)
        assert r.mse >= opt.mse * (1 - 1e-9), p
        assert len(r.levels) == 6 and np.all(np.diff(r.levels) > 0), p


def test_lloyd_fixed_point():
    rng = np.random.default_rng(4)
    a = np.abs(rng.normal(0, 1, 5000))
    lv = pick_levels(a, 5, "lloyd").levels
    _, idx = assign(a, lv)
    means = np.array([a[idx == k].mean() for k in range(5)])
    np.testing.assert_allclose(means, lv, rtol=1e-9)


def test_families():
    rng = np.random.default_rng(0)
    w = np.exp(rng.normal(-3, 0.7, 10000))
    p2 = pick_levels(w, 6, "pow2").levels
    assert np.all(np.log2(p2) == np.round(np.log2(p2)))
    ap = pick_levels(w, 6, "apot").levels
    for v in ap:
        e = np.floor(np.log2(v))
        rest = v - 2.0**e
        assert rest == 0 or np.log2(rest) == np.round(np.log2(rest))
    un = pick_levels(w, 5, "uniform").levels
    np.testing.assert_allclose(np.diff(un), un[0], rtol=1e-9)


def test_zero_level_and_assign():
    w = np.array([-0.001, 0.0, 0.5, -0.9, 0.25])
    r = pick_levels(w, 3, "optimal", zero_level=True)
    assert r.levels[0] == 0.0
    sign, idx = assign(w, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(sign, [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(idx, [0, 0, 1, 2, 0])  # 0.25 is a tie: the lower level


def test_rounding_and_format():
    lv = np.array([0.011, 0.02, 0.05])
    fmt = choose_level_format(lv, 8)
    # the finest step that holds the largest level in 8 bits: 0.05 * 2**12 = 204.8 <= 255,
    # 0.05 * 2**13 would not fit
    assert (fmt.width, fmt.int_bits, fmt.frac_bits, fmt.signed) == (8, -4, 12, False)
    w = np.random.default_rng(0).normal(0, 0.02, 1000)
    q, sqnr, _ = round_levels(w, lv, fmt)
    np.testing.assert_array_equal(q, [45, 82, 205])  # round(lv * 2**12)
    assert np.isclose(sqnr, 10 * np.log10(np.mean(w**2) / mse_of(w, q * fmt.step)))


@pytest.mark.parametrize("kw,needle", [(dict(K=0), "K must"), (dict(picker="best"), "unknown"),
                                       (dict(w=[np.nan]), "NaN"), (dict(w=[0.0, 0.0]), "zero")])
def test_errors(kw, needle):
    args = dict(w=[0.1, 0.2], K=2, picker="optimal")
    args.update(kw)
    with pytest.raises(InputError, match=needle):
        pick_levels(args["w"], args["K"], args["picker"])


@pytest.mark.parametrize("picker", ["lognormal-lloyd", "lognormal-quantile"])
def test_lognormal_pickers_with_one_nonzero_weight(picker):
    """A lognormal needs two distinct non-zero magnitudes; with one, the exact optimum is used
    and the note says so."""
    r = pick_levels(np.array([0.0, 0.0, -0.27, 0.0]), 2, picker)
    assert len(r.levels) == 2 and r.levels[-1] == 0.27
    assert r.note.startswith("too few non-zero weights to fit a lognormal; exact optimum used")


@pytest.mark.parametrize("picker", ["lognormal-lloyd", "lognormal-quantile"])
def test_lognormal_pickers_with_one_nonzero_weight_keep_the_exact_optimum(picker):
    """What the note promises: the levels and the error of the exact optimum."""
    w = np.array([0.0, 0.0, -0.27, 0.0])
    r, exact = pick_levels(w, 2, picker), pick_levels(w, 2, "optimal")
    np.testing.assert_array_equal(r.levels, exact.levels)
    assert r.mse == exact.mse == 0.0
