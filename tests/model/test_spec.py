"""The IR: validation, JSON round trip, accumulator-width derivation, the integer reference."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lognet.model.arch import Arch, SpecError
from lognet.model.qformat import QFormat, Rounding, clamp_or_wrap, shift_round
from lognet.model.reference import reference, reference_acc
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import dump_spec, dumps_spec, load_spec, spec_from_json, spec_to_json


def small(**kw):
    base = dict(
        name="l", n_in=3, n_out=2, in_fmt=QFormat(0, 7), level_fmt=QFormat(0, 6, False),
        bias_fmt=QFormat(2, 9), out_fmt=QFormat(3, 4), levels=(2, 7, 30),
        sources=((0, 1, 2), (1,)), signs=((0, 1, 0), (1,)), indices=((0, 2, 1), (2,)),
        bias=(5, -9),
    )
    base.update(kw)
    return LayerSpec(**base)


@st.composite
def layer_specs(draw):
    n_in = draw(st.integers(1, 6))
    n_out = draw(st.integers(1, 5))
    K = draw(st.integers(1, 6))
    in_fmt = QFormat(draw(st.integers(0, 4)), draw(st.integers(1, 6)), draw(st.booleans()))
    lv_bits = draw(st.integers(max(1, (K).bit_length()), 12))
    level_fmt = QFormat(0, lv_bits, False)
    levels = sorted(draw(st.sets(st.integers(0, (1 << lv_bits) - 1), min_size=K, max_size=K)))
    acc_frac = in_fmt.frac_bits + lv_bits
    bias_fmt = QFormat(draw(st.integers(0, 4)), draw(st.integers(0, min(acc_frac, 10))), True)
    out_fmt = QFormat(draw(st.integers(1, 8)), draw(st.integers(0, min(acc_frac, 8))),
                      draw(st.booleans()), draw(st.sampled_from(list(Rounding))),
                      draw(st.booleans()))
    sources, signs, indices = [], [], []
    for _ in range(n_out):
        src = sorted(draw(st.sets(st.integers(0, n_in - 1), min_size=1, max_size=n_in)))
        sources.append(src)
        signs.append([draw(st.integers(0, 1)) for _ in src])
        indices.append([draw(st.integers(0, K - 1)) for _ in src])
    bias = [draw(st.integers(bias_fmt.min_int, bias_fmt.max_int)) for _ in range(n_out)]
    # multiply has no level table, so it cannot be tunable=levels (the IR rejects that)
    arith = draw(st.sampled_from(["shared", "factored", "multiply", "auto"]))
    return LayerSpec(
        name=draw(st.text(min_size=1, max_size=8)), n_in=n_in, n_out=n_out, in_fmt=in_fmt,
        level_fmt=level_fmt, bias_fmt=bias_fmt, out_fmt=out_fmt, levels=levels, sources=sources,
        signs=signs, indices=indices, bias=bias,
        activation=draw(st.sampled_from(["none", "relu"])),
        arch=Arch(draw(st.sampled_from(["parallel", "folded"])), 1, arith,
                  draw(st.sampled_from(["all", "none"] if arith == "multiply"
                                       else ["all", "levels", "none"]))),
        meta=(("picker", "test"),),
    )


@settings(max_examples=150, deadline=None)
@given(layer_specs())
def test_round_trip(spec):
    text = dumps_spec(spec)
    back = spec_from_json(json.loads(text))
    assert back == spec
    assert dumps_spec(back) == text


def test_round_trip_file_and_network(tmp_path):
    a = small()
    b = small(name="m", n_in=2, in_fmt=a.out_fmt, sources=((0, 1), (1,)), signs=((0, 0), (1,)),
              indices=((1, 1), (0,)))
    net = NetworkSpec("net", (a, b))
    dump_spec(net, tmp_path / "n.json")
    assert load_spec(tmp_path / "n.json") == net


@settings(max_examples=150, deadline=None)
@given(layer_specs(), st.data())
def test_reference_stays_inside_derived_accumulator(spec, data):
    """No input and no weight set can leave the derived accumulator range."""
    x = np.array(data.draw(st.lists(
        st.lists(st.integers(spec.in_fmt.min_int, spec.in_fmt.max_int), min_size=spec.n_in,
                 max_size=spec.n_in), min_size=1, max_size=8)))
    lo, hi = spec.acc_range
    acc = reference_acc(spec, x)
    assert acc.min() >= lo and acc.max() <= hi
    assert -(1 << (spec.acc_width - 1)) <= lo and hi < (1 << (spec.acc_width - 1))
    y = reference(spec, x)
    assert spec.out_fmt.contains(y)


@pytest.mark.parametrize("in_signed", [True, False])
def test_accumulator_extremes_are_reached(in_signed):
    """The bound is tight: all-max inputs x all-max levels x all-positive signs (+ max bias) hit
    the top; the most negative products (+ min bias) hit the bottom; mixed signs stay inside."""
    in_fmt = QFormat(3, 4, in_signed)
    lv = QFormat(0, 5, False)
    F = 4
    kw = dict(n_in=F, n_out=3, in_fmt=in_fmt, level_fmt=lv, bias_fmt=QFormat(2, 5),
              out_fmt=QFormat(8, 0, True, saturate=False), levels=(1, lv.max_int),
              sources=[list(range(F))] * 3, indices=[[1] * F] * 3)
    spec = small(**kw, signs=[[0] * F, [1] * F, [0, 1] * (F // 2)],
                 bias=(31 * 4, -32 * 4, 0))
    spec = dataclasses.replace(spec, bias=(spec.bias_fmt.max_int, spec.bias_fmt.min_int, 0))
    lo, hi = spec.acc_range
    xmax = np.full((1, F), in_fmt.max_int if not in_signed else in_fmt.min_int)
    # signed inputs: the largest |x| is min_int; with a negative sign it gives +P
    if in_signed:
        spec_top = dataclasses.replace(spec, signs=((1,) * F, (0,) * F, (0, 1) * (F // 2)))
    else:
        spec_top = spec
    acc = reference_acc(spec_top, xmax)
    assert acc[0, 0] == hi
    assert acc[0, 1] == lo
    assert acc[0, 2] == 0  # equal |x| under alternating signs cancel; the bias is 0
    # the bound itself: F * max|x| * max level, plus the bias aligned to the accumulator's LSB
    mag = max(-in_fmt.min_int, in_fmt.max_int)
    shift = in_fmt.frac_bits + lv.frac_bits - spec.bias_fmt.frac_bits
    assert (lo, hi) == (-F * mag * lv.max_int + (spec.bias_fmt.min_int << shift),
                        F * mag * lv.max_int + (spec.bias_fmt.max_int << shift))
    assert spec.acc_width == max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1


def test_shift_round_modes():
    v = np.array([-7, -6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6, 7])
    np.testing.assert_array_equal(shift_round(v, 1, "floor"), np.floor(v / 2))
    np.testing.assert_array_equal(shift_round(v, 1, "half_up"), np.floor(v / 2 + 0.5))
    np.testing.assert_array_equal(shift_round(v, 1, "half_even"), np.round(v / 2))
    np.testing.assert_array_equal(shift_round(v, 2, "half_even"), np.round(v / 4))
    np.testing.assert_array_equal(clamp_or_wrap(np.array([127, 128, -129]), QFormat(7, 0)),
                                  [127, 127, -128])
    np.testing.assert_array_equal(
        clamp_or_wrap(np.array([127, 128, -129]), QFormat(7, 0, saturate=False)),
        [127, -128, 127])
    np.testing.assert_array_equal(
        clamp_or_wrap(np.array([255, 256, -1]), QFormat(8, 0, False, saturate=False)),
        [255, 0, 255])


@pytest.mark.parametrize("change,needle", [
    (dict(levels=(7, 2, 30)), "strictly increasing"),
    (dict(levels=(2, 7, 64)), "do not fit"),
    (dict(levels=()), "empty"),
    (dict(sources=((0, 1, 5), (1,))), "outside"),
    (dict(sources=((1, 1, 2), (1,))), "strictly increasing"),
    (dict(signs=((0, 2, 0), (1,))), "signs"),
    (dict(indices=((0, 3, 1), (2,))), "level index"),
    (dict(bias=(5000, 0)), "bias"),
    (dict(bias=(1,)), "bias has 1"),
    (dict(sources=((0, 1, 2), ()), signs=((0, 1, 0), ()), indices=((0, 2, 1), ())),
     "no connections"),
    (dict(level_fmt=QFormat(0, 6, True)), "unsigned"),
    (dict(out_fmt=QFormat(0, 20)), "fraction bits"),
    (dict(activation="tanh"), "activation"),
    (dict(n_in=0), "n_in"),
])
def test_validation_messages(change, needle):
    with pytest.raises(SpecError, match=needle) as e:
        small(**change)
    assert "\n" not in str(e.value)


def test_network_checks_formats():
    a = small()
    b = small(name="m", n_in=2, sources=((0, 1), (1,)), signs=((0, 0), (1,)),
              indices=((1, 1), (0,)), in_fmt=QFormat(1, 6))
    with pytest.raises(SpecError, match="expects"):
        NetworkSpec("n", (a, b))
    with pytest.raises(SpecError, match="inputs"):
        NetworkSpec("n", (a, small(name="z")))


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.update(version=99), "version"),
    (lambda d: d.update(schema="x"), "schema"),
    (lambda d: d.pop("levels"), "levels"),
    (lambda d: d.update(levels=[1.5, 2]), "integers"),
    (lambda d: d.update(extra=1), "unknown"),
    (lambda d: d["formats"]["input"].update(rounding="up"),
     "formats.input: 'up' is not a valid Rounding"),
    (lambda d: d["arch"].update(kind="systolic"), "arch.kind"),
])
def test_json_validation(mutate, needle):
    d = spec_to_json(small())
    mutate(d)
    with pytest.raises(SpecError, match=needle):
        spec_from_json(d)


def test_load_errors(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(p)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.json")
