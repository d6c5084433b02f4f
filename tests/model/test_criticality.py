"""Signal propagation: the exponent of a linear network, the order-to-chaos transition of
Gaussian weights with tanh (mean field: sigma_w = 1), ReLU's sqrt 2, families, bad input."""

import math

import numpy as np
import pytest

from lognet.base.errors import InputError
from lognet.model.criticality import (
    WeightFamily,
    analyse_criticality,
    layer_scales,
    lyapunov_grid,
)


def test_ordered_side_follows_ln_sigma_and_distances_shrink():
    """Deep in the ordered phase tanh is linear around 0, so lambda = ln sigma_w; the plain
    finite-width mean scatters around ln sigma_w + c_N (its noise is ~1/sqrt(2 N depth))."""
    r = lyapunov_grid([0.5, 0.7], width=64, depth=300, seed=1)
    np.testing.assert_allclose(r["lambda"], np.log([0.5, 0.7]), atol=2e-3)
    np.testing.assert_allclose(r["lambda_plain"], np.log([0.5, 0.7]) + r["c_n"], atol=0.02)
    assert r["c_n"] == pytest.approx(-1 / 128, rel=0.05)
    d = np.asarray(r["log_distance"])
    assert np.all(d[:, -1] < d[:, 0] - 50)  # the two inputs have merged


def test_gaussian_tanh_transition_near_one():
    """A small run: the zero crossing of lambda within 0.1 of the mean-field sigma_w = 1 (above
    it lambda grows only like (sigma_w^2 - 1)^2 / 8, so at N = 64 and 600 layers the sampling
    noise moves the crossing by up to ~0.08; benchmarks/science.py measures it on the default,
    larger network), and the chaotic side separates nearby inputs."""
    r = analyse_criticality(width=64, depth=600, grid=(0.6, 1.6, 11), refine=11, seed=0)
    assert r["transition_sigma_w"] == pytest.approx(1.0, abs=0.1)
    assert r["phases"][0] == "ordered" and r["phases"][-1] == "chaotic"
    cr = r["critical_region"]
    assert cr["lo"] < r["transition_sigma_w"] < cr["hi"]
    d = np.asarray(r["grid"]["final_log10_distance"])
    assert d[-1] > -3 > math.log10(1e-6) + 1 > d[0]


def test_relu_crosses_at_sqrt2():
    r = analyse_criticality(activation="relu", width=64, depth=300, grid=(1.0, 2.0, 11),
                            refine=11, seed=0)
    assert r["transition_sigma_w"] == pytest.approx(math.sqrt(2), abs=0.02)


@pytest.mark.parametrize("family", [WeightFamily("lognormal", mu=-3, sigma=1.0),
                                    WeightFamily("student-t", df=4),
                                    WeightFamily("student-t", df=1.5),
                                    WeightFamily("alpha-stable", alpha=1.5)])
def test_families_are_unit_scaled_and_run(family):
    z = family.draw(np.random.default_rng(0), (200_000,))
    if family.tail_index == 2:
        assert np.mean(z * z) == pytest.approx(1.0, rel=0.1)
    else:  # infinite variance: the median |z| is O(1)
        assert 0.3 < np.median(np.abs(z)) < 2
    r = lyapunov_grid([0.5, 3.0], family=family, width=32, depth=40, seed=0)
    if family.tail_index == 2:  # ordered at small scale, chaotic at large
        assert r["lambda"][0] < 0 < r["lambda"][1]
    assert np.all(np.isfinite(r["lambda"]))


def test_layers_placed_by_their_scale():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 1.2 / math.sqrt(64), (32, 64))
    (p,) = layer_scales([("fc1", W)])
    assert p["sigma_w"] == pytest.approx(1.2, rel=0.05) and p["n_in"] == 64
    r = analyse_criticality(width=32, depth=50, grid=(0.5, 2.0, 4), refine=0,
                            layers=[("fc1", W), ("tiny", W * 0.1)])
    assert [q["name"] for q in r["layers"]] == ["fc1", "tiny"]
    assert r["layers"][1]["phase"] == "outside the grid"
    assert r["layers"][0]["lambda"] is not None and "fan-in 64" in r["layers"][0]["note"]


def test_bad_input():
    with pytest.raises(InputError, match="sigma must be > 0"):
        WeightFamily("lognormal", sigma=0)
    with pytest.raises(InputError, match="fan-in"):
        lyapunov_grid([1.0], width=0)
    with pytest.raises(InputError, match="depth"):
        lyapunov_grid([1.0], depth=0)
    with pytest.raises(InputError, match="sigma_w must be > 0"):
        lyapunov_grid([0.0, 1.0])
    with pytest.raises(InputError, match="family"):
        WeightFamily("uniform")
    with pytest.raises(InputError, match="0 < lo < hi"):
        analyse_criticality(grid=(2.0, 1.0, 5))
