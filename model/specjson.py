"""The IR on disk: canonical, versioned JSON for :class:`~lognet.model.spec.LayerSpec` and
:class:`~lognet.model.spec.NetworkSpec`, read back with one-line errors.

One table, :data:`LAYER_FIELDS`, says where each field of a layer lives in the JSON and what
kind of value it is; the writer and the reader both walk it, so the two cannot drift apart. The
same spec always gives the same bytes (:func:`dumps_spec`), and ``load(dump(s)) == s``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lognet.base.files import atomic_write_text

from .arch import Arch, SpecError
from .qformat import QFormat, Rounding
from .spec import LayerSpec, NetworkSpec

__all__ = ["LAYER_FIELDS", "SCHEMA_VERSION", "dump_spec", "dumps_spec", "load_spec",
           "spec_from_json", "spec_to_json"]

#: Version of the JSON layout. Bump on any incompatible change.
SCHEMA_VERSION = 1


# -- value kinds: (to JSON, from JSON) ---------------------------------------------------------

def _int(v, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where} must be an integer (got {v!r})")
    return v


def _str(v, where: str) -> str:
    if not isinstance(v, str):
        raise SpecError(f"{where} has the wrong type ({type(v).__name__})")
    return v


def _bool(v, where: str) -> bool:
    if not isinstance(v, bool):
        raise SpecError(f"{where} has the wrong type ({type(v).__name__})")
    return v


def _obj(v, where: str) -> dict:
    if not isinstance(v, dict):
        raise SpecError(f"{where} must be a JSON object")
    return v


def _need(d: dict, key: str, where: str):
    _obj(d, where)
    if key not in d:
        raise SpecError(f"{where} is missing the field {key!r}")
    return d[key]


def _only(d: dict, known, where: str) -> None:
    extra = set(d) - set(known)
    if extra:
        raise SpecError(f"{where} has unknown fields {sorted(extra)}")


def _ints(v, where: str) -> list[int]:
    if not isinstance(v, list):
        raise SpecError(f"{where} must be a list of integers")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int):
            raise SpecError(f"{where} must hold integers only (found {x!r})")
    return v


def _rows(v, where: str) -> list[list[int]]:
    if not isinstance(v, list) or not all(isinstance(r, list) for r in v):
        raise SpecError(f"{where} must be a list of lists of integers")
    for r in v:
        _ints(r, where)
    return v


#: QFormat fields (as :meth:`QFormat.to_json` writes them), with their readers
_QFORMAT_FIELDS = (("int_bits", _int), ("frac_bits", _int), ("signed", _bool),
                   ("rounding", _str), ("saturate", _bool))
#: Arch fields (as :meth:`Arch.to_json` writes them), with their readers
_ARCH_FIELDS = (("kind", _str), ("lanes", _int), ("arith", _str), ("tunable", _str))


def _qformat_in(d, where: str) -> QFormat:
    _only(_obj(d, where), [k for k, _ in _QFORMAT_FIELDS], where)
    kw = {k: read(_need(d, k, where), f"{where}.{k}") for k, read in _QFORMAT_FIELDS}
    try:
        return QFormat(**{**kw, "rounding": Rounding(kw["rounding"])})
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def _arch_in(d, where: str) -> Arch:
    _obj(d, where)
    kw = {k: read(_need(d, k, where), f"{where}.{k}") for k, read in _ARCH_FIELDS}
    for k in ("in_beat", "out_beat"):  # optional: 0 (the whole vector) when absent
        if k in d:
            kw[k] = _int(d[k], f"{where}.{k}")
    if "single_copy" in d:
        kw["single_copy"] = _bool(d["single_copy"], f"{where}.single_copy")
    return Arch(**kw)


def _meta_in(d, where: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in _obj(d, where).items()))


_KINDS = {
    "int": (lambda v: v, _int),
    "str": (lambda v: v, _str),
    "ints": (list, _ints),
    "rows": (lambda v: [list(r) for r in v], _rows),
    "qformat": (QFormat.to_json, _qformat_in),
    "arch": (Arch.to_json, _arch_in),
    "activation": (lambda v: v.value, _str),
    "meta": (dict, _meta_in),
}

#: Where each LayerSpec field lives in the JSON (a dotted path) and its kind, in the canonical
#: order. ``meta`` may be left out of a file (it defaults to empty).
LAYER_FIELDS = (
    ("name", "name", "str"),
    ("n_in", "n_in", "int"),
    ("n_out", "n_out", "int"),
    ("formats.input", "in_fmt", "qformat"),
    ("formats.level", "level_fmt", "qformat"),
    ("formats.bias", "bias_fmt", "qformat"),
    ("formats.output", "out_fmt", "qformat"),
    ("levels", "levels", "ints"),
    ("activation", "activation", "activation"),
    ("arch", "arch", "arch"),
    ("bias", "bias", "ints"),
    ("sources", "sources", "rows"),
    ("signs", "signs", "rows"),
    ("indices", "indices", "rows"),
    ("meta", "meta", "meta"),
)
_OPTIONAL = {"meta": {}}


def _layer_to_json(s: LayerSpec) -> dict:
    d: dict = {}
    for path, attr, kind in LAYER_FIELDS:
        *outer, key = path.split(".")
        node = d
        for o in outer:
            node = node.setdefault(o, {})
        node[key] = _KINDS[kind][0](getattr(s, attr))
    return d


def _layer_from_json(d, where: str) -> LayerSpec:
    _obj(d, where)
    tops = {p.split(".")[0] for p, _, _ in LAYER_FIELDS}
    _only(d, tops | {"schema", "version"}, where)
    for group in tops:
        subs = [p.split(".", 1)[1] for p, _, _ in LAYER_FIELDS if p.startswith(group + ".")]
        if subs and group in d:
            _only(_obj(d[group], f"{where}.{group}"), subs, f"{where}.{group}")
    kw = {}
    for path, attr, kind in LAYER_FIELDS:
        node, at = d, where
        *outer, key = path.split(".")
        for o in outer:
            node, at = _need(node, o, at), f"{at}.{o}"
        if key not in _obj(node, at) and key in _OPTIONAL:
            value = _OPTIONAL[key]
        else:
            value = _need(node, key, at)
        kw[attr] = _KINDS[kind][1](value, f"{at}.{key}")
    return LayerSpec(**kw)


# -- whole specs --------------------------------------------------------------------------------


def spec_to_json(spec: LayerSpec | NetworkSpec) -> dict:
    """The JSON object of a spec (schema tag and version first)."""
    if isinstance(spec, LayerSpec):
        return {"schema": "lognet.layer", "version": SCHEMA_VERSION, **_layer_to_json(spec)}
    return {"schema": "lognet.network", "version": SCHEMA_VERSION, "name": spec.name,
            "layers": [_layer_to_json(la) for la in spec.layers]}


def spec_from_json(d) -> LayerSpec | NetworkSpec:
    """Build a spec from parsed JSON, raising :class:`SpecError` on the first broken rule."""
    if not isinstance(d, dict):
        raise SpecError("a spec must be a JSON object")
    schema = d.get("schema")
    if schema not in ("lognet.layer", "lognet.network"):
        raise SpecError(
            f"'schema' is {schema!r}, expected 'lognet.layer' or 'lognet.network' "
            f"(is this a lognet spec?)"
        )
    version = d.get("version")
    if version != SCHEMA_VERSION:
        raise SpecError(
            f"spec schema version {version!r} is not supported (this lognet reads version "
            f"{SCHEMA_VERSION}); regenerate the spec"
        )
    if schema == "lognet.layer":
        return _layer_from_json(d, "layer")
    _only(d, {"schema", "version", "name", "layers"}, "network")
    layers = _need(d, "layers", "network")
    if not isinstance(layers, list):
        raise SpecError(f"network.layers has the wrong type ({type(layers).__name__})")
    return NetworkSpec(
        name=_str(_need(d, "name", "network"), "network.name"),
        layers=tuple(_layer_from_json(x, f"layers[{i}]") for i, x in enumerate(layers)),
    )


def dumps_spec(spec: LayerSpec | NetworkSpec) -> str:
    """Canonical JSON text: same spec, same bytes."""
    return json.dumps(spec_to_json(spec), separators=(",", ":"), sort_keys=False) + "\n"


def load_spec(path: str | os.PathLike) -> LayerSpec | NetworkSpec:
    """Read and validate a spec file. Raises :class:`SpecError` with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read it ({e.__class__.__name__})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise SpecError(f"{path}: JSON nested too deeply to be a spec") from None
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise SpecError(f"{path}: not a valid spec ({str(e).split(';')[0]})") from None
    try:
        return spec_from_json(d)
    except SpecError as e:
        raise SpecError([f"{path}: {m}" for m in e.problems]) from None


def dump_spec(spec: LayerSpec | NetworkSpec, path: str | os.PathLike) -> None:
    """Write a spec as canonical JSON, atomically."""
    atomic_write_text(path, dumps_spec(spec))
