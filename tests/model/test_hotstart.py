"""Hot start: the lognormal initialisation has the default's per-layer variance and balanced
signs, training from either initialisation is seeded, and the verdict follows the numbers."""

import math

import numpy as np
import pytest

from lognet.base.errors import InputError
from lognet.model.train import (
    _compare,
    check_hot_start_options,
    default_variance,
    glorot_init,
    lognormal_init,
    train_from_init,
)

SHAPES = [(300, 500), (40, 300)]


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_lognormal_variance_matches_default(sigma):
    ln = lognormal_init(SHAPES, sigma=sigma, seed=1)
    de = glorot_init(SHAPES, seed=1)
    for (n_out, n_in), (W, b), (Wd, bd) in zip(SHAPES, ln, de):
        assert W.shape == Wd.shape == (n_out, n_in) and b.shape == (n_out,)
        v = default_variance(n_in, n_out)
        # sampling error of the mean of w^2: sd(w^2) / sqrt(n), sd(w^2) = v sqrt(e^(4 s^2) - 1)
        # for the lognormal, v sqrt(4/5) for the uniform; allow five of them
        tol_ln = 5 * math.sqrt(math.expm1(4 * sigma**2) / W.size)
        tol_de = 5 * math.sqrt(0.8 / Wd.size)
        assert abs(np.mean(W**2) / v - 1) < tol_ln
        assert abs(np.mean(Wd**2) / v - 1) < tol_de
        # |w| is LN(mu, sigma) with mu = ln(v) / 2 - sigma^2
        logs = np.log(np.abs(W))
        assert abs(logs.mean() - (0.5 * math.log(v) - sigma**2)) < 5 * sigma / math.sqrt(W.size)
        assert abs(logs.std() / sigma - 1) < 0.02
        # the default is sklearn's Glorot uniform: U(-a, a), a = sqrt(6 / (n_in + n_out))
        a = math.sqrt(6 / (n_in + n_out))
        assert np.abs(Wd).max() <= a and np.abs(Wd).max() > 0.99 * a
        # biases: U(-a, a) under both initialisations
        assert np.abs(bd).max() <= a and np.abs(b).max() <= a


def test_signs_balanced():
    W = lognormal_init([(400, 500)], seed=2)[0][0]
    frac = np.mean(W > 0)
    assert abs(frac - 0.5) < 4 * math.sqrt(0.25 / W.size)
    assert np.count_nonzero(W) == W.size


def test_init_seeded():
    a, b = lognormal_init(SHAPES, seed=5), lognormal_init(SHAPES, seed=5)
    for (Wa, ba), (Wb, bb) in zip(a, b):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(a[0][0], lognormal_init(SHAPES, seed=6)[0][0])


def test_training_seeded_and_init_used():
    r1 = train_from_init("lognormal", hidden=(8,), seed=3, epochs=2, target=0.2)
    r2 = train_from_init("lognormal", hidden=(8,), seed=3, epochs=2, target=0.2)
    for (n1, W1, b1, a1), (n2, W2, b2, a2) in zip(r1["layers"], r2["layers"]):
        assert (n1, a1) == (n2, a2)
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)
    assert r1["curve"] == r2["curve"] and len(r1["curve"]) == 2
    assert [W.shape for _, W, _, _ in r1["layers"]] == [(8, 64), (10, 8)]
    other = train_from_init("default", hidden=(8,), seed=3, epochs=2, target=0.2)
    assert not np.array_equal(other["layers"][0][1], r1["layers"][0][1])
    # two epochs from the lognormal draw keep its heavy tail: the largest |w| stands far
    # above the uniform's bound
    assert np.abs(r1["layers"][0][1]).max() > 2 * math.sqrt(6 / 72)
    reached = r1["epochs_to_target"]
    assert reached is None or r1["curve"][reached - 1] >= 0.2


def _runs(ln_epochs, de_epochs, ln_acc=0.96, de_acc=0.96):
    def rs(eps, acc):
        return [{"seed": i, "epochs_to_target": e, "final_accuracy": acc + 0.001 * (i % 3),
                 "curve": []} for i, e in enumerate(eps)]

    return {"lognormal": rs(ln_epochs, ln_acc), "default": rs(de_epochs, de_acc)}


def test_verdict_follows_numbers():
    helped = _compare(_runs([10, 11, 12, 10, 11], [20, 21, 19, 22, 20]))
    assert helped["verdict"] == "helped" and "helped" in helped["sentence"]
    assert helped["epochs_diff_mean"] == pytest.approx(-9.6)
    hurt = _compare(_runs([20, 21, 19, 22, 20], [10, 11, 12, 10, 11]))
    assert hurt["verdict"] == "hurt"
    noise = _compare(_runs([10, 30, 12, 28, 20], [20, 11, 25, 14, 21]))
    assert noise["verdict"] == "no measurable difference"
    none = _compare(_runs([None, None], [None, 5]))
    assert none["verdict"] == "undecided" and none["only_default"] == 1


@pytest.mark.parametrize("hidden, seeds, target, epochs", [
    ((0,), 10, 0.9, 10), ((10**6,), 10, 0.9, 10), ((), 10, 0.9, 10), ((32,), 0, 0.9, 10),
    ((32,), 10, 0.0, 10), ((32,), 10, 1.01, 10), ((32,), 10, float("nan"), 10),
    ((32,), 10, 0.9, 0)])
def test_bad_options(hidden, seeds, target, epochs):
    with pytest.raises(InputError):
        check_hot_start_options(hidden, seeds, target, epochs)
