"""JSON for the typed result records every room passes on (synthesis, simulation, the flow's
steps): one way to turn a dataclass into plain JSON, and to move the paths a run wrote in a
temporary folder to where that folder landed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

__all__ = ["OPTIONAL", "json_fields", "replace_paths"]

#: field metadata: leave the field out of the JSON when it is None
OPTIONAL = {"omit_none": True}


def _plain(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return v.to_json()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def json_fields(record) -> dict:
    """The JSON dict of a record: every field by name, nested records through their own
    ``to_json``, tuples as lists; fields marked :data:`OPTIONAL` left out when None."""
    out = {}
    for f in dataclasses.fields(record):
        if f.metadata.get("json") is False:
            continue
        v = getattr(record, f.name)
        if v is None and f.metadata.get("omit_none"):
            continue
        out[f.name] = _plain(v)
    return out


def replace_paths(d, old, new):
    """``d`` (JSON data) with the folder ``old`` replaced by ``new`` in every string (paths, and
    messages that name a path): what a run wrote in a temporary folder, moved to where the
    folder landed. Temporary folders have unique names, so nothing else matches."""
    old, new = str(Path(old)), str(Path(new))
    if isinstance(d, str):
        return d.replace(old, new)
    if isinstance(d, list):
        return [replace_paths(x, old, new) for x in d]
    if isinstance(d, dict):
        return {k: replace_paths(x, old, new) for k, x in d.items()}
    return d
