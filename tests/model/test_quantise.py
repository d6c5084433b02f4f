"""Topologies and the quantiser: shapes, errors, and the error bound of quantise -> reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lognet.base.errors import InputError
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_layer, quantise_network, random_layer_spec
from lognet.model.reference import reference, reference_acc, reference_layer
from lognet.model.topology import make_topology


def test_topologies():
    W = np.random.default_rng(0).normal(size=(5, 8))
    assert all(len(s) == 8 for s in make_topology(W, "dense"))
    f = make_topology(W, "fanin:3")
    for j, s in enumerate(f):
        assert len(s) == 3
        assert set(s) == set(np.argsort(-np.abs(W[j]))[:3])
    assert all(len(s) == 2 for s in make_topology(W, "fanin:2:random:7"))
    p = make_topology(W, "prune:0.25")
    # a quarter of the 40 weights, the largest magnitudes, and at least one input per output
    largest = {divmod(int(k), 8) for k in np.argsort(-np.abs(W), axis=None)[:10]}
    assert {(j, int(i)) for j, s in enumerate(p) for i in s} == largest
    assert all(len(s) >= 1 for s in p)
    b = make_topology(W, "band:3")
    assert all(len(s) == 3 and np.all(np.diff(s) == 1) for s in b)
    for text, needle in [("fanin:9", "larger than"), ("band:9", "larger than"),
                         ("prune:0", "density"), ("ring", "unknown"), ("fanin:x", "integer")]:
        with pytest.raises(InputError, match=needle):
            make_topology(W, text)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(2, 16),
       picker=st.sampled_from(["optimal", "lloyd", "lognormal-lloyd", "uniform", "apot"]))
def test_quantised_error_is_bounded(seed, K, picker):
    """|y_float - y_int| <= sum_c (|w_c| |dx_c| + |dw_c| |x_c| + |dw_c| |dx_c|) + 1/2 LSB_out,
    where dw_c is each weight's exact quantisation error (level choice and rounding) and dx_c
    the input's; the bias error is at most half a bias LSB."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 10)), int(rng.integers(1, 6))
    W = rng.normal(0, 0.3, (n_out, n_in))
    b = rng.normal(0, 0.2, n_out)
    in_fmt = QFormat(1, 6)
    spec, _ = quantise_layer(W, b, name="l", K=K, picker=picker, in_fmt=in_fmt, out_bits=16,
                             out_fmt=QFormat(6, 9, True, "half_even", True))
    x = rng.uniform(-2, 2 - 2**-6, (20, n_in))
    xq = in_fmt.quantise(x)
    dx = np.abs(x - xq * in_fmt.step)
    Wq = spec.weight_matrix() * spec.level_fmt.step
    dW = np.abs(W - Wq)
    bound = np.abs(x) @ dW.T + dx @ np.abs(W).T + dx @ dW.T + spec.bias_fmt.step / 2
    y_float = x @ W.T + b
    y_int = reference(spec, xq) * spec.out_fmt.step
    assert np.all(np.abs(y_float - y_int) <= bound + spec.out_fmt.step / 2 + 1e-12)
    acc = reference_acc(spec, xq)
    lo, hi = spec.acc_range
    assert acc.min() >= lo and acc.max() <= hi


def test_network_formats_chain():
    rng = np.random.default_rng(1)
    layers = [("a", rng.normal(0, 0.3, (6, 8)), rng.normal(0, .1, 6), "relu"),
              ("b", rng.normal(0, 0.3, (3, 6)), rng.normal(0, .1, 3), "none")]
    net, reps = quantise_network(layers, K=8, picker="optimal", in_fmt=QFormat(0, 8, False))
    # NetworkSpec already demands equal widths; the chain also hands on rounding and saturation
    assert net.layers[1].in_fmt == net.layers[0].out_fmt
    # each layer is calibrated on the previous layer's integer outputs (default calibration:
    # 512 random inputs of seed 0; layer i quantised with seed i)
    x0 = np.random.default_rng(0).integers(0, 256, (512, 8))
    a, _ = quantise_layer(*layers[0][1:3], name="a", K=8, picker="optimal", activation="relu",
                          in_fmt=QFormat(0, 8, False), calib_x=x0, seed=0)
    b, _ = quantise_layer(*layers[1][1:3], name="b", K=8, picker="optimal", activation="none",
                          in_fmt=a.out_fmt, calib_x=reference_layer(a, x0), seed=1)
    assert net.layers == (a, b)
    assert not net.layers[0].out_fmt.signed  # ReLU outputs are unsigned
    assert len(reps) == 2 and all(r["sqnr_rounded_db"] > 10 for r in reps)


def test_random_layer_spec():
    s = random_layer_spec(32, 8, -3, 0.65, 8, seed=3, topology="fanin:4")
    assert (s.n_in, s.n_out, s.K, s.max_fanin) == (32, 8, 8, 4)
    x = np.random.default_rng(0).integers(-128, 128, (10, 32))
    assert reference(s, x).shape == (10, 8)
    # inputs in [-1, 1), no bias: the accumulators are x times the dense integer weights
    assert s.in_fmt == QFormat(0, 7, True) and s.bias == (0,) * 8
    assert [len(src) for src in s.sources] == [4] * 8
    np.testing.assert_array_equal(reference_acc(s, x), x @ s.weight_matrix().T)


@pytest.mark.parametrize("picker,bits,K", [("pow2", 8, 8), ("pow2", 5, 3), ("apot", 6, 12)])
def test_pow2_and_apot_levels_stay_what_they_are_once_rounded(picker, bits, K):
    """Every level the build holds is a power of two (pow2) or a sum of at most two (apot):
    the pickers choose only what the level format holds exactly, so rounding moves none."""
    spec = random_layer_spec(32, 16, -3.0, 1.2, K, picker=picker, level_bits=bits, seed=3)
    assert spec.K == K
    for v in spec.levels:
        assert v > 0 and bin(v).count("1") <= (1 if picker == "pow2" else 2), spec.levels


def test_pow2_refuses_more_levels_than_the_format_holds():
    with pytest.raises(InputError, match="pow2 has 6 powers of two that 6 level bits hold"):
        random_layer_spec(32, 16, -3.0, 1.2, 7, picker="pow2", level_bits=6)
    # auto leaves out the pickers that cannot give K levels
    spec = random_layer_spec(32, 16, -3.0, 1.2, 7, picker="auto", level_bits=6)
    assert spec.K == 7
