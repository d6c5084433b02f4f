"""The Ising analysis: energies against a brute-force sum, exact enumeration against itertools,
Wang-Landau against exact enumeration, the lattice's known spectrum, thermodynamics."""

import itertools
import math

import numpy as np
import pytest

from lognet.base.errors import InputError
from lognet.model import ising


def _layers(seed=1, sizes=(4, 3, 3)):
    rng = np.random.default_rng(seed)
    return [(rng.normal(0, 0.5, (b, a)), rng.normal(0, 0.2, b))
            for a, b in zip(sizes, sizes[1:])]


def _brute_energy(layers, s):
    """E(s) written out term by term from the module docstring."""
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _ in layers]
    off = np.cumsum([0] + sizes)
    e = 0.0
    for li, (W, b) in enumerate(layers):
        for j in range(W.shape[0]):
            sj = s[off[li + 1] + j]
            e -= b[j] * sj
            for c in range(W.shape[1]):
                e -= W[j, c] * sj * s[off[li] + c]
    return e


def test_network_energy_and_exact_spectrum_match_a_brute_force_sum():
    layers = _layers()
    m = ising.network_model(layers)
    assert m.n == 10 and m.n_couplings == 4 * 3 + 3 * 3 and m.layers == (4, 3, 3)
    spectrum = ising.exact_spectrum(m)
    assert spectrum.shape == (1 << 10,)
    for k in (0, 1, 37, 500, 1023):
        s = [1.0 if (k >> i) & 1 else -1.0 for i in range(10)]
        assert spectrum[k] == pytest.approx(_brute_energy(layers, s), abs=1e-12)
        assert m.energy(s)[0] == pytest.approx(spectrum[k], abs=1e-12)
    brute = sorted(_brute_energy(layers, s) for s in itertools.product([-1.0, 1.0], repeat=10))
    np.testing.assert_allclose(np.sort(spectrum), brute, atol=1e-12)


def test_lattice_exact_levels_and_counts():
    m = ising.square_lattice(4)
    bins = ising.energy_bins(m)
    assert bins.exact_levels and bins.count == 17 and bins.width == 4
    dos = ising.exact_dos(m, bins)
    counts = np.where(dos.occupied, np.exp(dos.ln_g), 0).round().astype(np.int64)
    # the 4 x 4 torus: 2 ground states, no state one flip above or below the extremes
    assert counts.sum() == 1 << 16
    np.testing.assert_array_equal(counts[[0, 1, 2, 16, 15]], [2, 0, 32, 2, 0])
    np.testing.assert_array_equal(counts, counts[::-1])  # E -> -E on a bipartite lattice


def test_wang_landau_matches_exact_enumeration_on_ten_spins():
    layers = _layers(seed=3)
    m = ising.network_model(layers)
    spectrum = ising.exact_spectrum(m)
    bins = ising.energy_bins(m, 16, e_range=(spectrum.min(), spectrum.max()))
    exact = ising.exact_dos(m, bins)
    wl = ising.wang_landau(m, bins, ln_f_final=1e-5, seed=0)
    assert wl.info["converged"]
    assert math.isclose(float(np.sum(np.exp(wl.ln_g[wl.occupied]))), 1024, rel_tol=1e-9)
    c = ising.compare_dos(wl, exact)
    assert c["bins_missed"] == 0 and c["bins_extra"] == 0
    assert c["mean_relative_error"] < 0.01, c
    assert c["max_abs_error"] < 0.1, c
    # a deliberately wrong density of states fails the same comparison
    bad = ising.DensityOfStates(bins, exact.ln_g * 1.05, exact.energy, m.n, "exact")
    assert ising.compare_dos(bad, exact)["mean_relative_error"] > 0.04


def test_descent_finds_the_true_energy_range_of_a_small_network():
    layers = _layers(seed=5)
    m = ising.network_model(layers)
    spectrum = ising.exact_spectrum(m)
    bins = ising.energy_bins(m, 20, layers, seed=0)
    assert bins.lo == pytest.approx(spectrum.min())
    assert bins.lo + bins.count * bins.width == pytest.approx(spectrum.max(), rel=1e-9)


def test_thermodynamics_of_two_levels():
    """Two spins with one coupling J: levels -J (2 states) and +J (2 states): C(T) is the
    Schottky curve, whose peak sits where (J/T)^2 / cosh^2(J/T) is largest (J/T = 1.1997)."""
    m = ising.network_model([(np.array([[1.0]]), None)])
    bins = ising.energy_bins(m, 2, e_range=(-1, 1))
    dos = ising.exact_dos(m, bins)
    th = ising.thermodynamics(dos, np.geomspace(0.1, 10, 200))
    x = 1 / np.asarray(th["T"])
    np.testing.assert_allclose(th["c_per_spin"], x**2 / np.cosh(x) ** 2 / 2, rtol=1e-9)
    assert th["peak"]["T"] == pytest.approx(1 / 1.19967864, rel=1e-5)


def test_lattice_peak_moves_towards_onsager():
    """Small lattices, short walks: the C(T) peak of 4 x 4 is the exact one, and 6 x 6 sits
    between it and Onsager's T_c."""
    T = np.linspace(1.5, 3.5, 201)
    m4 = ising.square_lattice(4)
    b4 = ising.energy_bins(m4)
    wl4 = ising.thermodynamics(ising.wang_landau(m4, b4, ln_f_final=1e-5), T)["peak"]["T"]
    ex4 = ising.thermodynamics(ising.exact_dos(m4, b4), T)["peak"]["T"]
    assert wl4 == pytest.approx(ex4, rel=0.01)
    m6 = ising.square_lattice(6)
    t6 = ising.thermodynamics(ising.wang_landau(m6, ising.energy_bins(m6), ln_f_final=1e-4),
                              T)["peak"]["T"]
    assert ising.ONSAGER_TC < t6 < ex4


def test_spec_layers_and_default_init():
    from support.specs import make_network

    net = make_network()
    layers = ising.spec_layers(net)
    for la, (W, b) in zip(net.layers, layers):
        np.testing.assert_array_equal(W, la.weight_matrix() * la.level_fmt.step)
        np.testing.assert_array_equal(b, la.bias_fmt.to_real(la.bias))
    un = ising.default_init([(3, 5)], seed=2)
    W, b = un[0]
    a = math.sqrt(6 / 8)
    assert W.shape == (3, 5) and b.shape == (3,)
    assert np.abs(W).max() <= a and np.abs(W).std() > 0.1
    np.testing.assert_array_equal(W, ising.default_init([(3, 5)], seed=2)[0][0])


def test_bad_input():
    with pytest.raises(InputError, match="exact enumeration is limited to 20"):
        ising.exact_spectrum(ising.square_lattice(5))
    with pytest.raises(InputError, match="must chain"):
        ising.network_model([(np.ones((3, 2)), None), (np.ones((2, 4)), None)])
    with pytest.raises(InputError, match="NaN"):
        ising.network_model([(np.array([[np.nan]]), None)])
    with pytest.raises(InputError, match="square:L"):
        ising.parse_lattice("cubic:3")
    with pytest.raises(InputError, match="L >= 3"):
        ising.parse_lattice("square:2")
    m = ising.network_model(_layers())
    with pytest.raises(InputError, match="ln_f_final"):
        ising.wang_landau(m, ising.energy_bins(m, 8, e_range=(-1, 1)), ln_f_final=0)
