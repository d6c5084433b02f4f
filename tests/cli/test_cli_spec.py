"""``lognet spec``: unsigned inputs, the activation and the biases come out as asked, the weights
do not depend on them, and the core built from such a spec computes the reference."""

from __future__ import annotations

import numpy as np
import pytest

from lognet.cli import main
from lognet.hw.amsim import stream_through
from lognet.hw.export import build_core
from lognet.model.arch import Activation
from lognet.model.reference import reference
from lognet.model.specjson import load_spec

BASE = ["spec", "--inputs", "7", "--outputs", "5", "--mu", "-3", "--sigma", "0.6", "-K", "4",
        "--seed", "3"]


def _spec(tmp_path, *extra):
    out = tmp_path / f"s{len(list(tmp_path.iterdir()))}.json"
    assert main([*BASE, *extra, "-o", str(out)]) == 0
    return load_spec(out)


def _weights(s):
    return s.levels, s.sources, s.signs, s.indices, s.level_fmt


def test_unsigned_inputs_are_honoured(tmp_path):
    signed = _spec(tmp_path)
    unsigned = _spec(tmp_path, "--unsigned-inputs")
    assert signed.in_fmt.signed and signed.in_fmt.describe() == "sQ0.7"
    assert not unsigned.in_fmt.signed and unsigned.in_fmt.describe() == "uQ0.8"
    assert (unsigned.in_fmt.min_int, unsigned.in_fmt.max_int) == (0, 255)
    assert _weights(unsigned) == _weights(signed)
    narrow = _spec(tmp_path, "--unsigned-inputs", "--in-bits", "4")
    assert narrow.in_fmt.describe() == "uQ0.4"


def test_activation_and_biases(tmp_path):
    plain = _spec(tmp_path)
    assert plain.activation is Activation.NONE and set(plain.bias) == {0}
    s = _spec(tmp_path, "--activation", "relu", "--bias", "random", "--bias-bits", "10")
    assert s.activation is Activation.RELU
    assert s.bias_fmt.width == 10 and s.bias_fmt.signed
    assert len(set(s.bias)) > 1 and any(b < 0 for b in s.bias) and any(b > 0 for b in s.bias)
    assert not s.out_fmt.signed  # ReLU outputs are never negative: no sign bit spent
    assert _weights(s) == _weights(plain)
    # the seed draws the biases too
    other = _spec(tmp_path, "--activation", "relu", "--bias", "random", "--bias-bits", "10",
                  "--seed", "4")
    assert other.bias != s.bias


@pytest.mark.parametrize("argv, needle", [
    (["--activation", "tanh"], "invalid choice: 'tanh'"),
    (["--bias", "big"], "invalid choice: 'big'"),
    (["--bias-bits", "1"], "--bias-bits: 1 is outside 2..32"),
    (["--bias-bits", "x"], "--bias-bits: 'x' is not an integer"),
])
def test_bad_spec_options_are_one_line(tmp_path, capsys, argv, needle):
    assert main([*BASE, *argv, "-o", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lognet: error: ") and needle in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_an_unsigned_relu_biased_core_computes_the_reference(tmp_path):
    spec = _spec(tmp_path, "--unsigned-inputs", "--activation", "relu", "--bias", "random",
                 "--arch", "parallel", "--arith", "shared")
    f = spec.in_fmt
    rng = np.random.default_rng(0)
    X = np.vstack([np.full(spec.n_in, f.max_int), np.full(spec.n_in, f.min_int),
                   rng.integers(f.min_int, f.max_int + 1, (20, spec.n_in))])
    y, _ = stream_through(build_core(spec), X)
    want = reference(spec, X)
    np.testing.assert_array_equal(y, want)
    assert (want > 0).any() and (want == 0).any()  # both sides of the ReLU are exercised
