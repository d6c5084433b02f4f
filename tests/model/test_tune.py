"""Level tuning (lognet.model.tune): the straight-through twin computes the integer reference
exactly, projections keep levels on what the core holds, the lognormal family's points are the
pickers' points, tuning repairs a deliberately bad level table, a family run keeps its levels
on the family, and the register diff of two weight sets counts and refuses what it must."""

import dataclasses

import numpy as np
import pytest
from scipy.special import ndtri
from support.specs import make_network, make_spec

from lognet.boards.host import retune_writes, write_regions
from lognet.hw.regmap import config_writes
from lognet.model import tune as T
from lognet.model.arch import Arch, SpecError
from lognet.model.levels import lognormal_robust, pick_levels
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec

TWIN_CASES = {
    "half-even": lambda: make_spec(7, 4, 4, 6, seed=1),
    "half-up-relu": lambda: make_spec(6, 5, 4, 6, rounding="half_up", activation="relu", seed=2),
    "floor-wrap": lambda: make_spec(5, 4, 4, 3, rounding="floor", saturate=False, seed=4),
    "unsigned-in": lambda: make_spec(6, 3, 8, 6, in_signed=False, activation="relu", seed=3),
    "shift": lambda: make_spec(6, 3, 4, 4, arith="shift", pow2=True, seed=3),
    "network": lambda: make_network(seed=5),
}


def _inputs(spec, n=400, seed=0):
    f = spec.in_fmt
    rng = np.random.default_rng(seed)
    X = rng.integers(f.min_int, f.max_int + 1, (n, spec.n_in))
    ends = np.array([np.full(spec.n_in, f.max_int), np.full(spec.n_in, f.min_int),
                     np.where(np.arange(spec.n_in) % 2, f.max_int, f.min_int)])
    return np.concatenate([ends, X])


@pytest.mark.parametrize("case", TWIN_CASES)
def test_twin_forward_equals_the_integer_reference(case):
    spec = TWIN_CASES[case]()
    X = _inputs(spec)
    y = reference(spec, X)
    np.testing.assert_array_equal(T.network_forward(spec, X), y)
    # the comparison can fail: one connection's sign flipped changes some output
    first = spec.layers[0]
    signs = [list(r) for r in first.signs]
    signs[0][0] ^= 1
    layers = (dataclasses.replace(first, signs=signs), *spec.layers[1:])
    other = layers[0] if len(layers) == 1 else NetworkSpec(spec.name, layers)
    assert np.any(T.network_forward(other, X) != y)


def test_projection_keeps_levels_on_what_the_core_holds():
    jax = T._jax()
    import jax.numpy as jnp

    plain = make_spec(4, 3, 4, 4, level_bits=6)
    shift = make_spec(4, 3, 4, 4, arith="shift", pow2=True, level_bits=6, seed=3)
    assert T.level_candidates(plain) is None
    cands = T.level_candidates(shift)
    assert set(cands) == {0, 1, 2, 4, 8, 16, 32}
    rng = np.random.default_rng(1)
    for spec, allowed in ((plain, np.arange(64)), (shift, cands)):
        grid = T._Grid(spec, T.level_candidates(spec))
        for L in [rng.uniform(-20, 90, 4) for _ in range(50)] + [np.full(4, 70.0),
                                                                 np.full(4, -3.0)]:
            q = np.asarray(grid.project(jnp, jnp.asarray(L)))
            assert np.all(np.diff(q) > 0) and np.all(np.isin(q, allowed)), (L, q)
        # a table the core already holds is its own projection
        lv = np.asarray(spec.levels, dtype=np.float64)
        np.testing.assert_array_equal(np.asarray(grid.project(jnp, jnp.asarray(lv))), lv)
    assert jax is not None


def test_ordering_moves_held_back_levels_with_the_level_that_holds_them():
    jax = T._jax()
    import jax.numpy as jnp

    g = T._Grid(make_spec(6, 3, 4, 6, level_bits=6), None)  # levels 0..63
    g_out = jnp.asarray([1.0, 2.0, 3.0, 4.0])

    def order(L):
        out = g.order(jnp, jnp.asarray(L, dtype=jnp.float64))
        return np.asarray(out), np.asarray(jax.grad(lambda v: g.order(jnp, v) @ g_out)(
            jnp.asarray(L, dtype=jnp.float64)))

    table, grad = order([2.0, 5.5, 9.0, 30.0])  # already in order: untouched
    np.testing.assert_array_equal(table, [2.0, 5.5, 9.0, 30.0])
    np.testing.assert_array_equal(grad, [1.0, 2.0, 3.0, 4.0])
    # two levels under the first: held 1 apart above it, and it takes their gradients
    table, grad = order([5.0, 3.0, 4.0, 20.0])
    np.testing.assert_array_equal(table, [5.0, 6.0, 7.0, 20.0])
    np.testing.assert_array_equal(grad, [6.0, 0.0, 0.0, 4.0])
    # past the top of the format: the upper ones held under it, 1 apart, and fixed there
    table, grad = order([40.0, 70.0, 63.0, 90.0])
    np.testing.assert_array_equal(table, [40.0, 61.0, 62.0, 63.0])
    np.testing.assert_array_equal(grad, [1.0, 0.0, 0.0, 0.0])
    # below 0: held at 0, 1, ...
    table, _ = order([-3.0, -1.0, 10.0, 11.0])
    np.testing.assert_array_equal(table, [0.0, 1.0, 10.0, 11.0])


def test_frozen_biases_stay_while_the_levels_tune(teacher):
    make, x, y = teacher
    net = make("optimal")
    bad = NetworkSpec(net.name, tuple(
        dataclasses.replace(la, levels=tuple(range(max(la.levels) - 3, max(la.levels) + 1)))
        for la in net.layers))
    r = T.tune_network(bad, x[:300], y[:300], epochs=30, batch=32, lr=0.03, biases=False)
    assert r.best_epoch > 0 and r.train_after >= r.train_before + 0.2, (
        r.train_before, r.train_after)
    # the training loss of the kept epoch is below the start's (a frozen parameter moved by
    # its raw gradient would make it climb)
    assert r.loss[r.best_epoch] < r.loss[0]
    for old, new, la in zip(bad.layers, r.spec.layers, r.layers):
        assert new.bias == old.bias and la.bias_changed == 0
        assert new.levels != old.levels


def test_family_points_are_the_pickers_points():
    """The family at the law the lognormal pickers fit gives the pickers' own levels."""
    mu, sigma, K = -2.5, 0.7, 4  # K of the teacher below: one compilation
    a = np.exp(mu + sigma * ndtri((np.arange(20001) + 0.5) / 20001))
    m, s = lognormal_robust(np.sort(a))
    for kind, picker in (("lognormal", "lognormal-lloyd"),
                         ("lognormal-quantile", "lognormal-quantile")):
        want = pick_levels(a, K, picker).levels
        got = np.exp(m) * T._points(K, kind, s)[0]
        np.testing.assert_allclose(got, want, rtol=1e-9)
    # the derivative in sigma is the fixed point's (a central difference of the points)
    p, d = T._points(K, "lognormal", 0.7)
    fd = (T._points(K, "lognormal", 0.7 + 1e-6)[0] - T._points(K, "lognormal", 0.7 - 1e-6)[0])
    np.testing.assert_allclose(d, fd / 2e-6, rtol=1e-5)
    assert np.all(np.diff(p) > 0)


@pytest.fixture(scope="module")
def teacher():
    """A small float network, its data labelled by itself (balanced classes), and its K = 4
    quantisation with the level table and biases writable."""
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(0, 0.5, (12, 16)), rng.normal(0, 0.1, 12)
    W2 = rng.normal(0, 0.5, (4, 12))
    x = rng.random((400, 16))
    z = np.maximum(x @ W1.T + b1, 0) @ W2.T
    b2 = -np.median(z, 0)
    y = (z + b2).argmax(1)
    fmt = QFormat(0, 8, False)
    xi = fmt.quantise(x)
    layers = [("fc1", W1, b1, "relu"), ("fc2", W2, b2, "none")]
    arch = Arch.parse("parallel", arith="auto", tunable="levels")

    def net(picker):
        return quantise_network(layers, K=4, picker=picker, in_fmt=fmt, calib_x=xi,
                                arch=arch)[0]

    return net, xi, y


def test_tuning_repairs_a_bad_level_table(teacher):
    make, x, y = teacher
    net = make("optimal")
    # every layer's levels squeezed next to its largest: magnitudes lose their meaning
    bad = NetworkSpec(net.name, tuple(
        dataclasses.replace(la, levels=tuple(range(max(la.levels) - 3, max(la.levels) + 1)))
        for la in net.layers))
    r = T.tune_network(bad, x[:300], y[:300], epochs=30, batch=32, lr=0.03)
    assert r.train_after >= r.train_before + 0.4, (r.train_before, r.train_after)
    acc = np.mean(reference(r.spec, x[300:]).argmax(1) == y[300:])
    assert acc >= np.mean(reference(bad, x[300:]).argmax(1) == y[300:]) + 0.3
    assert r.best_epoch > 0 and len(r.loss) == len(r.train_accuracy) == 31
    assert r.train_accuracy[r.best_epoch] == r.train_after
    for old, new, la in zip(bad.layers, r.spec.layers, r.layers):
        assert new.signs == old.signs and new.indices == old.indices  # frozen
        assert new.levels == la.levels_after != old.levels
        assert dict(new.meta)["tuned"] == "free levels"


def test_family_mode_keeps_levels_on_the_family(teacher):
    make, x, y = teacher
    net = make("lognormal-lloyd")
    r = T.tune_network(net, x[:300], y[:300], family="lognormal", epochs=8, batch=32)
    assert r.train_after >= r.train_before
    for la, spec in zip(r.layers, r.spec.layers):
        mu, sigma = la.family_after
        assert la.family_before != la.family_after
        target = np.exp(mu - np.log(spec.level_fmt.step)) * T._points(spec.K, "lognormal",
                                                                       sigma)[0]
        target = np.minimum(target, spec.level_fmt.max_int)
        # rounded to the level format (the top of the format may push the upper ones down)
        top = spec.level_fmt.max_int - np.arange(spec.K)[::-1]
        ok = (np.abs(np.asarray(la.levels_after) - target) <= 0.5 + 1e-9) | (
            np.asarray(la.levels_after) == top)
        assert ok.all(), (la.levels_after, target)


def test_register_diff_counts_and_refusals():
    spec = make_spec(6, 4, 4, 6, tunable="levels", seed=2)
    lv = list(spec.levels)
    lv[0] += 1 if lv[0] + 1 < lv[1] else 0
    lv[-1] = spec.level_fmt.max_int if lv[-1] != spec.level_fmt.max_int else lv[-1] - 1
    bias = list(spec.bias)
    for j in (0, 2, 3):
        bias[j] = bias[j] + 1 if bias[j] < spec.bias_fmt.max_int else bias[j] - 1
    new = dataclasses.replace(spec, levels=tuple(lv), bias=tuple(bias))
    n_levels = sum(a != b for a, b in zip(lv, spec.levels))
    w = retune_writes(spec, new)
    assert len(w) == n_levels + 3
    # the full load of the new set is the old one with these words replaced
    full = dict(config_writes(spec, spec))
    full.update(w)
    assert full == dict(config_writes(spec, new))
    regions = {g["region"]: (g["words"], g["of"]) for g in write_regions(spec, w)}
    assert regions == {"LEVELS": (n_levels, 4), "BIAS": (3, 4)}
    assert retune_writes(spec, spec) == []
    moved = dataclasses.replace(new, indices=[[(i + 1) % 4 for i in r] for r in spec.indices])
    with pytest.raises(SpecError, match="tunable=levels"):
        retune_writes(spec, moved)
    none = spec.with_arch(dataclasses.replace(spec.arch, tunable="none"))
    with pytest.raises(SpecError, match="tunable=none"):
        retune_writes(none, new.with_arch(none.arch))
    other = dataclasses.replace(new, out_fmt=dataclasses.replace(spec.out_fmt, saturate=False))
    with pytest.raises(SpecError, match="out_fmt"):
        retune_writes(spec, other)
    shift = make_spec(6, 3, 4, 4, arith="shift", pow2=True, tunable="levels", seed=3)
    assert all(v & (v - 1) == 0 for v in shift.levels)  # a one-term (pow2) build
    two = dataclasses.replace(shift, levels=(*shift.levels[:-1], shift.levels[-1] + 1))
    with pytest.raises(SpecError, match="shift terms"):
        retune_writes(shift, two)
    # a network: the words land in each layer's regions
    net = make_network(seed=5)
    la = net.layers[1]
    changed = NetworkSpec(net.name, (net.layers[0], dataclasses.replace(
        la, bias=(la.bias[0] + (1 if la.bias[0] < la.bias_fmt.max_int else -1),
                  *la.bias[1:]))))
    w = retune_writes(net, changed)
    assert [(g["layer"], g["region"], g["words"]) for g in write_regions(net, w)] == [
        (la.name, "BIAS", 1)]


def test_a_run_of_absurd_length_is_refused_before_it_starts():
    spec = make_spec(64, 32, 4, tunable="levels")
    x = np.zeros((1000, 64), dtype=np.int64)
    y = np.zeros(1000, dtype=np.int64)
    with pytest.raises(T.InputError, match="connection updates, more than"):
        T.tune_network(spec, x, y, epochs=100_000)
