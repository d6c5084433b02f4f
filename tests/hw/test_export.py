"""``generate``: bad clocks are one line, names in Markdown are sanitised."""

from __future__ import annotations

import dataclasses

import pytest
from support.specs import make_spec

from lognet.base.errors import InputError
from lognet.hw.export import generate


@pytest.mark.parametrize("clock", [0, -5, float("nan"), float("inf")])
def test_a_clock_that_is_not_a_positive_number(tmp_path, clock):
    with pytest.raises(InputError, match="give a positive number of MHz"):
        generate(make_spec(4, 2, 2), tmp_path / "o", clock_mhz=clock)
    assert list(tmp_path.iterdir()) == []


def test_names_reach_markdown_sanitised(tmp_path):
    spec = dataclasses.replace(make_spec(4, 2, 2), name="x|y`</td><script>")
    generate(spec, tmp_path / "o")
    for f in ("regmap.md", "datasheet.md"):
        text = (tmp_path / "o" / f).read_text()
        assert "<script>" not in text and "x|y" not in text
        assert "`x_y_td_script`" in text
