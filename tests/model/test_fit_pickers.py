"""The ``auto`` picker (the default of the CLI and the flow): the levels of the candidate with
the best SQNR, the winner named; and the picker notes stored in a spec's meta."""

import numpy as np
import pytest

from lognet.config import QuantiseConfig
from lognet.model.levels import AUTO_CANDIDATES, PICKERS, pick_levels
from lognet.model.qformat import QFormat
from lognet.model.quantise import quantise_layer


@pytest.mark.parametrize("kind", ["lognormal", "student-t", "spiky"])
@pytest.mark.parametrize("K,zero", [(4, False), (8, True)])
def test_auto_is_the_best_candidate(kind, K, zero):
    rng = np.random.default_rng(7)
    w = {"lognormal": lambda: np.exp(rng.normal(-3, .8, 4000)) * rng.choice([-1, 1], 4000),
         "student-t": lambda: rng.standard_t(3, 4000) * 0.02,
         "spiky": lambda: np.concatenate([rng.normal(0, .01, 3990), [1.0] * 10])}[kind]()
    cands = {p: pick_levels(w, K, p, zero_level=zero) for p in AUTO_CANDIDATES}
    a = pick_levels(w, K, "auto", zero_level=zero)
    best = max(cands.values(), key=lambda r: r.sqnr_db)
    assert a.picker == "auto" and a.chosen in AUTO_CANDIDATES
    assert a.sqnr_db == best.sqnr_db == cands[a.chosen].sqnr_db
    np.testing.assert_array_equal(a.levels, cands[a.chosen].levels)
    # ties go to the first candidate listed
    first = next(p for p in AUTO_CANDIDATES if cands[p].sqnr_db == best.sqnr_db)
    assert a.chosen == first
    assert a.note.startswith(f"{a.chosen}: best SQNR of {len(AUTO_CANDIDATES)} pickers")
    assert cands[a.chosen].note in a.note


def test_auto_is_the_default_and_listed():
    assert "auto" in PICKERS and "auto" not in AUTO_CANDIDATES
    assert QuantiseConfig().picker == "auto"
    r = pick_levels(np.linspace(-1, 1, 101), 4, "optimal")
    assert r.chosen == "optimal"


def test_picker_notes_in_the_spec_meta():
    rng = np.random.default_rng(1)
    # |w| uniform on [0.9, 1.1]: the fitted lognormal's outer quantiles lie beyond the data,
    # so its levels are clipped to the range of |w|
    W = rng.uniform(0.9, 1.1, (6, 10)) * rng.choice([-1, 1], (6, 10))
    fmt = QFormat(0, 7, True)
    spec, rep = quantise_layer(W, None, name="fc", K=8, picker="lognormal-quantile",
                               in_fmt=fmt)
    meta = dict(spec.meta)
    assert meta["picker"] == "lognormal-quantile" == meta["picker_chosen"]
    assert "levels clipped to the range of |w|" in meta["picker_note"]
    assert meta["picker_note"] == rep["picker_note"]
    spec, rep = quantise_layer(W, None, name="fc", K=8, picker="auto", in_fmt=fmt)
    meta = dict(spec.meta)
    assert meta["picker"] == "auto" and meta["picker_chosen"] == rep["picker_chosen"]
    assert meta["picker_note"].startswith(meta["picker_chosen"] + ": best SQNR")
