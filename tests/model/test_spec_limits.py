"""Hostile spec files: sizes and values beyond any format are one SpecError line, found before
anything large is built."""

from __future__ import annotations

import dataclasses
import json

import pytest
from support.specs import make_spec

from lognet.model.arch import SpecError
from lognet.model.specjson import dumps_spec, load_spec
from lognet.model.validate import MAX_CONNECTIONS, MAX_IO, size_problems


def _load(tmp_path, text):
    p = tmp_path / "s.json"
    p.write_text(text)
    return load_spec(p)


@pytest.mark.parametrize("where,value,message", [
    (("levels", 0), 10**30, f"levels hold {10**30}, too large for any format"),
    (("bias", 0), -10**30, f"bias hold {-10**30}, too large for any format"),
    (("n_in",), 10**9, f"n_in = 1000000000 is more than the supported {MAX_IO}"),
    (("sources", 0, 0), 10**30, "sources, signs or indices hold a value too large for 64 bits"),
])
def test_values_beyond_any_format(tmp_path, where, value, message):
    d = json.loads(dumps_spec(make_spec(6, 4, 4)))
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    with pytest.raises(SpecError) as e:
        _load(tmp_path, json.dumps(d))
    assert str(e.value) == f"{tmp_path / 's.json'}: layer 'layer': {message}"


def test_deep_nesting_and_giant_integers(tmp_path):
    with pytest.raises(SpecError, match="nested too deeply"):
        _load(tmp_path, "[" * 100_000 + "]" * 100_000)
    text = dumps_spec(make_spec(6, 4, 4)).replace('"n_in":6', '"n_in":1' + "0" * 5000)
    with pytest.raises(SpecError, match="not a valid spec"):
        _load(tmp_path, text)


def test_size_limits():
    assert size_problems(MAX_IO, MAX_IO, MAX_CONNECTIONS) == []
    assert size_problems(MAX_IO + 1, 1) == [f"n_in = {MAX_IO + 1} is more than the supported "
                                            f"{MAX_IO}"]
    assert size_problems(1, 1, MAX_CONNECTIONS + 1) == [
        f"{MAX_CONNECTIONS + 1} connections is more than the supported {MAX_CONNECTIONS}; prune "
        f"the layer (--topology) or split it"]


def test_layer_names_that_sanitise_alike_are_refused():
    from support.specs import make_network

    from lognet.model.spec import NetworkSpec

    net = make_network()
    a, b = net.layers
    with pytest.raises(SpecError, match="'fc-0' and 'fc 0' both become 'fc_0'"):
        NetworkSpec("n", (dataclasses.replace(a, name="fc-0"), dataclasses.replace(b, name="fc 0")))


def test_inputs_beyond_64_bits_are_refused_not_wrapped():
    import numpy as np

    from lognet.model.reference import reference

    spec = make_spec(6, 4, 4)
    with pytest.raises(ValueError, match="outside the input format"):
        reference(spec, np.full((1, 6), 2**64 - 1, dtype=np.uint64))
    with pytest.raises(ValueError, match="must be integers"):
        reference(spec, np.full((1, 6), 1e30))


def test_k_is_bounded_by_the_params_register():
    from lognet.hw.regmap import RegisterMap
    from lognet.model.validate import MAX_LEVELS

    with pytest.raises(SpecError, match=f"256 levels is more than the supported {MAX_LEVELS}"):
        make_spec(300, 2, 256, 8, level_bits=9)
    spec = make_spec(300, 2, MAX_LEVELS, 8, level_bits=9)
    p = RegisterMap(spec).params_word()
    assert (p & 0xFF, p >> 8 & 0xFF) == (MAX_LEVELS, 8)  # K and index bits read back whole
