"""The fit on real checkpoints: the faster MLE fits against SciPy's generic ones, the
half-generalised-normal family, the flags, which arrays are fitted, arrays that cannot be
fitted, the cross-layer summary and JSON without NaN; the activation statistics of a network."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from lognet.base.errors import InputError
from lognet.model import fit
from lognet.model.activation_stats import (
    activation_arrays,
    float_activation_arrays,
    prepare_inputs,
)
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_network
from lognet.model.reference import reference_acc, reference_layer


def _strict_json(obj) -> str:
    return json.dumps(obj, allow_nan=False)


# -- the MLE fits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heavy():
    return np.abs(np.random.default_rng(4).standard_t(4, 20_000)) * 0.03


@pytest.mark.parametrize("family,generic", [
    ("Weibull", stats.weibull_min), ("half-generalised-normal", stats.halfgennorm)])
def test_profile_fits_match_scipy(heavy, family, generic):
    f = fit._fit_family(family, heavy)
    shape, _, scale = generic.fit(heavy, floc=0)
    ll = float(np.sum(generic.logpdf(heavy, shape, 0, scale)))
    # the same optimum: our log-likelihood is at least SciPy's (up to its stopping tolerance)
    assert f["loglik"] >= ll - 1e-3
    assert abs(list(f["params"].values())[0] - shape) < 1e-3 * shape
    assert abs(f["params"]["scale"] - scale) < 1e-3 * scale
    d = generic(shape, 0, scale)
    assert f["ks"] == pytest.approx(stats.kstest(heavy, d.cdf).statistic, abs=1e-4)


def test_half_student_t_matches_scipy(heavy):
    f = fit._fit_family("half-Student-t", heavy)
    # the half-t MLE is the t MLE of the symmetrised sample with location 0
    df, _, s = stats.t.fit(np.concatenate([heavy, -heavy]), floc=0)
    assert f["params"]["df"] == pytest.approx(df, rel=2e-3)
    assert f["params"]["scale"] == pytest.approx(s, rel=2e-3)
    ll = float(np.sum(math.log(2) + stats.t.logpdf(heavy / s, df) - math.log(s)))
    assert f["loglik"] >= ll - 1e-3


def test_halfgennorm_data_rank_it_first():
    x = stats.halfgennorm.rvs(0.6, scale=0.01, size=50_000, random_state=2)
    r = fit.mle_fits(x)
    assert r["best"] == "half-generalised-normal", r["summary"]
    best = r["fits"][0]
    assert best["params"]["beta"] == pytest.approx(0.6, rel=0.03)


def test_mle_subsample_is_said():
    w = np.random.default_rng(0).normal(0, 1, 5000)
    r = fit.mle_fits(w, sample=1000)
    assert r["n"] == 1000 and "subsample of 1,000 of 5,000" in r["note"]
    assert fit.mle_fits(w)["note"] == ""


# -- flags ----------------------------------------------------------------------------------------


def _flag_names(r):
    return {f["flag"] for f in r["flags"]}


def test_flags():
    rng = np.random.default_rng(0)
    clean = np.exp(rng.normal(-3, 0.6, (64, 64))) * rng.choice([-1, 1], (64, 64))
    assert _flag_names(fit.analyse_layer(clean)) == set()
    # an int64 position buffer: integer-valued, mu' of the Table-2 fit on its bound (the case
    # of a real checkpoint's index vector: R^2 near 1, mu' = 10.00)
    idx = fit.analyse_layer(np.arange(512)[None, :])
    assert {"integer", "at-bound"} <= _flag_names(idx)
    assert "mu" in idx["table2"]["at_bound"] and idx["table2"]["mu"] == pytest.approx(10.0)
    # one huge weight: the first bin holds nearly all the weights
    spiky = rng.normal(0, 0.01, (64, 64))
    spiky[0, 0] = 3.0
    r = fit.analyse_layer(spiky)
    assert "first-bin" in _flag_names(r) and r["table2"]["first_bin_fraction"] > 0.99
    # a LayerNorm gain: far from zero mean
    assert "offset" in _flag_names(fit.analyse_layer(1 + rng.normal(0, 0.05, 512)))
    # quantised data: few distinct magnitudes
    q = rng.integers(-5, 6, (32, 32)) * 0.01
    assert "discrete" in _flag_names(fit.analyse_layer(q))


@pytest.mark.parametrize("w,needle", [
    (np.zeros((4, 4)), "all weights are zero"),
    (np.ones(64), "all |w| are equal"),
    (np.full((3, 3), np.inf), "NaN/inf"),
    (np.array([0.0] * 10 + [1.0, 2.0, 3.0]), "only 3 non-zero"),
])
def test_unfittable(w, needle):
    with pytest.raises(InputError, match=needle.replace("|", r"\|")):
        fit.analyse_layer(w)


# -- a checkpoint ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint():
    rng = np.random.default_rng(1)
    return {
        "fc1.weight": np.exp(rng.normal(-3, .7, (48, 32))).astype(np.float32)
        * rng.choice([-1, 1], (48, 32)).astype(np.float32),
        "fc1.bias": np.zeros(48, np.float32),
        "ln.weight": np.ones(32, np.float32),
        "ids": np.arange(300, dtype=np.int64)[None, :],
        "tiny.weight": rng.normal(0, 1, (4, 4)),
        "fc2.weight": rng.normal(0, 0.1, (16, 48)),
        "bad.weight": np.array([[np.nan] * 20] * 20),
        "zero.weight": np.zeros((20, 20)),
    }


def test_select_arrays(checkpoint):
    chosen, skipped = fit.select_arrays(checkpoint)
    assert list(chosen) == ["fc1.weight", "fc2.weight", "bad.weight", "zero.weight"]
    why = {s["name"]: s["why"] for s in skipped}
    assert set(why) == {"fc1.bias", "ln.weight", "ids", "tiny.weight"}
    assert why["fc1.bias"].startswith("1-D") and "int64" in why["ids"]
    assert why["tiny.weight"] == "16 entries (< 256)"
    assert [s["shape"] for s in skipped if s["name"] == "ids"] == [[1, 300]]
    chosen, skipped = fit.select_arrays(checkpoint, include_all=True)
    assert list(chosen) == list(checkpoint) and skipped == []
    chosen, _ = fit.select_arrays(checkpoint, ["fc*"], min_entries=1)
    assert list(chosen) == ["fc1.weight", "fc2.weight"]
    with pytest.raises(InputError, match="no array matches nope"):
        fit.select_arrays(checkpoint, ["nope"])


def test_fit_arrays_goes_on_and_summarises(checkpoint, tmp_path):
    chosen, _ = fit.select_arrays(checkpoint, include_all=True)
    del chosen["tiny.weight"]  # fitted like fc2.weight; one plot less
    r = fit.fit_arrays(chosen, plot_dir=tmp_path, progress=False)
    failed = {f["name"]: f["why"] for f in r["failed"]}
    assert set(failed) == {"fc1.bias", "ln.weight", "bad.weight", "zero.weight"}
    assert "all weights are zero" in failed["fc1.bias"] and "400 NaN/inf" in failed["bad.weight"]
    assert list(r["layers"]) == ["fc1.weight", "ids", "fc2.weight"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fc1_weight.png", "fc2_weight.png", "ids.png"]
    assert r["layers"]["ids"]["plot"] == "ids.png"
    s = r["summary"]
    assert s["layers"] == 3
    r2 = [a["table2"]["r2"] for a in r["layers"].values()]
    assert s["table2"]["r2"]["mean"] == pytest.approx(np.mean(r2), abs=1e-12)
    assert s["table2"]["r2"]["sd"] == pytest.approx(np.std(r2, ddof=1), abs=1e-12)
    ctl = [a["gaussian_control"]["table2"]["sigma"] for a in r["layers"].values()]
    assert s["control"]["sigma"]["mean"] == pytest.approx(np.mean(ctl), abs=1e-12)
    # every array has exactly one family at each rank
    ranks = np.array(list(s["family_ranks"].values()))
    np.testing.assert_array_equal(ranks.sum(axis=0), [3] * len(fit.FAMILIES))
    np.testing.assert_array_equal(ranks.sum(axis=1), [3] * len(fit.FAMILIES))
    assert s["flags"]["integer"] == ["ids"]
    assert "Gaussian control" in s["statement"]
    lines = "\n".join(fit.summary_lines(s))
    assert "R^2" in lines and "half-generalised-normal" in lines and "flag integer" in lines
    _strict_json(fit.json_ready(r))


def test_fit_arrays_workers_give_the_same(checkpoint, monkeypatch):
    arrays = {k: checkpoint[k] for k in ("fc1.weight", "fc2.weight", "zero.weight")}
    one = fit.fit_arrays(arrays, progress=False)
    monkeypatch.setattr(fit, "PARALLEL_MIN", 0)
    two = fit.fit_arrays(arrays, progress=False, jobs=2)
    assert _strict_json(fit.json_ready(one)) == _strict_json(fit.json_ready(two))


def test_json_ready():
    spiky = np.random.default_rng(0).normal(0, 0.01, (64, 64))
    spiky[0, 0] = 30.0
    r = fit.analyse_layer(spiky)
    assert math.isnan(r["table2"]["r2"])  # fewer than 3 non-empty bins
    with pytest.raises(ValueError):
        _strict_json(r)
    j = fit.json_ready(r)
    assert j["table2"]["r2"] is None
    assert j["table2"]["null_reasons"]["r2"] == "fewer than 3 non-empty bins"
    assert json.loads(_strict_json(j))["table2"]["mu"] is None
    assert fit.json_ready({"x": [1.0, float("inf")], "y": np.float32(2)}) == {
        "x": [1.0, None], "y": 2.0}
    assert fit.json_ready({"v": float("nan")})["null_reasons"]["v"] == (
        "not a finite number (nan)")


# -- activations ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(3)
    layers = [("fc1", rng.normal(0, .3, (12, 8)), rng.normal(0, .1, 12), "relu"),
              ("fc2", rng.normal(0, .3, (4, 12)), rng.normal(0, .1, 4), "none")]
    fmt = QFormat(0, 7, True)
    x = rng.uniform(-1, 1, (200, 8))
    spec, _ = quantise_network(layers, K=8, picker="optimal", in_fmt=fmt,
                               calib_x=fmt.quantise(x))
    return spec, layers, x


def test_integer_activations_are_the_reference(net):
    spec, _, x = net
    x_real, x_int = prepare_inputs(spec, x)
    np.testing.assert_array_equal(x_int, spec.in_fmt.quantise(x))
    arrays, info = activation_arrays(spec, x_int)
    assert list(arrays) == ["fc1.pre-activation", "fc1.post-relu+", "fc2.pre-activation"]
    l1, l2 = spec.layers
    acc1 = reference_acc(l1, x_int)
    np.testing.assert_array_equal(arrays["fc1.pre-activation"],
                                  (acc1 * 2.0 ** -l1.acc_frac).ravel())
    y1 = reference_layer(l1, x_int)
    np.testing.assert_array_equal(arrays["fc1.post-relu+"], y1[y1 > 0] * l1.out_fmt.step)
    assert info["fc1.post-relu+"]["zero_fraction"] == 1 - np.count_nonzero(y1) / y1.size
    np.testing.assert_array_equal(arrays["fc2.pre-activation"],
                                  (reference_acc(l2, y1) * 2.0 ** -l2.acc_frac).ravel())
    # integer codes are taken as they are
    _, again = prepare_inputs(spec, x_int)
    np.testing.assert_array_equal(again, x_int)


def test_float_activations(net):
    spec, layers, x = net
    arrays, info = float_activation_arrays(spec, [(n, W, b) for n, W, b, _ in layers], x)
    pre1 = x @ layers[0][1].T + layers[0][2]
    np.testing.assert_array_equal(arrays["fc1.pre-activation"], pre1.ravel())
    np.testing.assert_array_equal(arrays["fc1.post-relu+"], pre1[pre1 > 0])
    pre2 = np.maximum(pre1, 0) @ layers[1][1].T + layers[1][2]
    np.testing.assert_array_equal(arrays["fc2.pre-activation"], pre2.ravel())
    assert "fc2.post-relu+" not in arrays and "post-ReLU" in info["fc1.post-relu+"]["what"]
    with pytest.raises(InputError, match="2 dense layers"):
        float_activation_arrays(spec.layers[0], [(n, W, b) for n, W, b, _ in layers], x)
    with pytest.raises(InputError, match="has shape"):
        float_activation_arrays(spec, [(n, W.T, b) for n, W, b, _ in layers], x)


@pytest.mark.parametrize("x,needle", [
    (np.zeros((3, 5)), "expected (N, 8)"), (np.full((2, 8), np.nan), "NaN"),
    (np.full((2, 8), 1000, dtype=np.int64), "outside the input format"),
    (np.array([["a"] * 8]), "not numbers")])
def test_bad_activation_data(net, x, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        prepare_inputs(net[0], x)
