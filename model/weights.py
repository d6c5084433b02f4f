"""Weight files in: ``.npz`` / ``.npy`` (never unpickled), ``.safetensors``, and the
initializers of an ONNX model's Gemm / MatMul nodes.

Every matrix comes out as (n_out, n_in), the PyTorch convention: an ONNX MatMul's B (in, out)
and a Gemm with transB = 0 are transposed. Problems give one-line :class:`InputError` messages.
"""

from __future__ import annotations

import fnmatch
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lognet.base.errors import InputError
from lognet.base.files import check_array_dims, check_npy, check_npz

__all__ = ["list_layers", "load_weights", "pair_biases", "select_layers"]


def _check_array(name: str, a, path, finite: bool = True) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise InputError(f"{path}: array {name!r} has dtype {a.dtype}, not numbers")
    if a.size == 0:
        raise InputError(f"{path}: array {name!r} is empty")
    if finite and a.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(a)))
        if bad:
            raise InputError(f"{path}: array {name!r} has {bad} NaN/inf values; clean the "
                             f"weights first")
    return a


def _magic(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _load_npz(path: Path) -> dict:
    check_npz(path)  # a zip archive of arrays, every header within the limits
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickle" in str(e).lower():
            raise InputError(f"{path}: holds pickled objects, which lognet never loads; save "
                             f"plain numeric arrays") from None
        raise InputError(f"{path}: not a readable .npz file") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        raise InputError(f"{path}: not a readable .npz file (is it really .npz?)") from None


def _load_npy(path: Path) -> dict:
    if _magic(path, 6) != b"\x93NUMPY":
        raise InputError(f"{path}: not a readable .npy file (no NumPy header)")
    check_npy(path)
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise InputError(f"{path}: holds pickled objects, which lognet never loads; save "
                             f"a plain numeric array") from None
        raise InputError(f"{path}: not a readable .npy file") from None
    except (OSError, EOFError):
        raise InputError(f"{path}: not a readable .npy file (is it really .npy?)") from None
    if not isinstance(a, np.ndarray):
        raise InputError(f"{path}: is an archive, not a single array; name it .npz")
    return {path.stem: a}


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return dict(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .safetensors file "
                         f"({str(e).splitlines()[0][:80]})") from None


#: bits per element of the ONNX element types packed several to a byte
_ONNX_PACKED = {"INT4": 4, "UINT4": 4, "FLOAT4E2M1": 4, "INT2": 2, "UINT2": 2,
                "FLOAT6E2M3": 6, "FLOAT6E3M2": 6}


def _onnx_array(path: Path, t) -> np.ndarray:
    """An ONNX initializer as an array, its dims and data checked first: at most
    :data:`MAX_ARRAY_VALUES` values, and exactly as much data as the dims declare."""
    from onnx import TensorProto, helper, numpy_helper

    where = f"{path}: initializer {t.name[:60]!r}"
    dims = [int(d) for d in t.dims]
    n = check_array_dims(dims, where, damaged="the model file is damaged: export it again",
                         smaller="give a smaller model")
    type_name = TensorProto.DataType.Name(t.data_type) if t.data_type in \
        TensorProto.DataType.values() else str(t.data_type)
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{where} has element type {type_name}, not numbers") from None
    bits = _ONNX_PACKED.get(type_name)
    if t.HasField("raw_data"):
        have, unit = len(t.raw_data), "bytes"
        need = -(-n * bits // 8) if bits else n * dtype.itemsize
    else:
        field = helper.tensor_dtype_to_field(t.data_type)
        have, unit = len(getattr(t, field)), f"{field} entries"
        need = None if bits else n * (2 if dtype.kind == "c" else 1)
    if need is not None and have != need:
        raise InputError(f"{where} declares dims {dims[:8]} ({need:,} {unit}) but holds "
                         f"{have:,}; the model file is damaged: export it again")
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as e:
        raise InputError(f"{where}: cannot be read as an array "
                         f"({str(e).splitlines()[0][:80]})") from None


def _load_onnx(path: Path) -> dict:
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and others from protobuf
        raise InputError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    inits = {i.name: i for i in model.graph.initializer}
    out: dict[str, np.ndarray] = {}
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for x in node.input:
            consumers.setdefault(x, []).append(node)
    for node in model.graph.node:
        if node.op_type not in ("Gemm", "MatMul"):
            continue
        if len(node.input) < 2 or node.input[1] not in inits:
            continue
        W = _onnx_array(path, inits[node.input[1]])
        if W.ndim != 2:
            continue
        if node.op_type == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            trans_b = attrs["transB"].i if "transB" in attrs else 0
            if not trans_b:
                W = W.T
            name = node.input[1]
            out[name] = W
            if len(node.input) > 2 and node.input[2] in inits:
                out[f"{name}.bias"] = _onnx_array(path, inits[node.input[2]])
        else:
            name = node.input[1]
            out[name] = W.T
            for nxt in consumers.get(node.output[0], []):
                if nxt.op_type == "Add":
                    other = [x for x in nxt.input if x != node.output[0]]
                    if other and other[0] in inits:
                        out[f"{name}.bias"] = _onnx_array(path, inits[other[0]])
    if not out:
        raise InputError(f"{path}: no Gemm or MatMul node with a constant weight matrix")
    return out


_LOADERS = {".npz": _load_npz, ".npy": _load_npy, ".safetensors": _load_safetensors,
            ".onnx": _load_onnx}


def load_weights(path, finite: bool = True) -> dict[str, np.ndarray]:
    """All arrays of a weight file, by name, in file order. ``finite=False`` lets arrays with
    NaN/inf through (``lognet fit`` reports each such array by name and fits the others)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a weight file")
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}; use .npz, .npy, "
                         f".safetensors or .onnx")
    arrays = loader(path)
    if not arrays:
        raise InputError(f"{path}: holds no arrays")
    return {k: _check_array(k, v, path, finite) for k, v in arrays.items()}


def list_layers(path) -> list[dict]:
    return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)}
            for k, v in load_weights(path).items()]


def select_layers(weights: dict, patterns=None, require_2d: bool = True) -> dict:
    """Arrays whose name equals or matches (glob) one of ``patterns`` (all when None). With
    ``require_2d``, biases (1-D) are kept beside their matrix but a selected 1-D array on its
    own is an error."""
    names = list(weights)
    if patterns:
        chosen = [n for n in names if any(n == p or fnmatch.fnmatchcase(n, p)
                                          for p in patterns)]
        if not chosen:
            raise InputError(f"no array matches {', '.join(patterns)}; the file has: "
                             f"{', '.join(names[:20])}")
    else:
        chosen = names
    out = {n: weights[n] for n in chosen}
    if require_2d:
        mats = {n: a for n, a in out.items() if a.ndim == 2}
        bad = [n for n, a in out.items() if a.ndim not in (1, 2)]
        if bad:
            raise InputError(f"array {bad[0]!r} has shape {out[bad[0]].shape}; a dense layer "
                             f"needs a 2-D matrix")
        if not mats:
            n = next(iter(out))
            raise InputError(f"array {n!r} has shape {out[n].shape}; a dense layer needs a "
                             f"2-D (n_out, n_in) matrix")
        # keep the biases of the chosen matrices
        for n, a in weights.items():
            if a.ndim == 1 and n not in out and _bias_of(n, weights) in mats:
                out[n] = a
    return out


def _bias_of(name: str, weights: dict) -> str | None:
    """The matrix a 1-D array ``name`` is the bias of, by naming rules."""
    for suffix, msuffix in ((".bias", ".weight"), ("_bias", "_weight"), (".bias", "")):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if stem + msuffix in weights:
                return stem + msuffix
    if name.startswith("intercepts_") and "coefs_" + name[len("intercepts_"):] in weights:
        return "coefs_" + name[len("intercepts_"):]
    if name.startswith("b") and "W" + name[1:] in weights:
        return "W" + name[1:]
    return None


def pair_biases(weights: dict) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(name, W, b)`` for every 2-D array, in file order. A 1-D array is W's bias when named
    ``<stem>.bias`` / ``<stem>_bias`` for ``<stem>.weight`` / ``<stem>_weight`` (or for
    ``<stem>`` itself), ``intercepts_i`` for ``coefs_i``, or ``bX`` for ``WX``; a bias must have
    ``n_out`` entries."""
    biases = {}
    for n, a in weights.items():
        if a.ndim == 1:
            m = _bias_of(n, weights)
            if m is not None:
                biases[m] = a
    out = []
    for n, a in weights.items():
        if a.ndim != 2:
            continue
        W = np.asarray(a, dtype=np.float64)
        b = biases.get(n)
        if b is not None and b.shape[0] != W.shape[0]:
            raise InputError(f"bias of {n!r} has {b.shape[0]} entries but the matrix has "
                             f"{W.shape[0]} outputs (rows); store matrices as (n_out, n_in)")
        out.append((n, W, None if b is None else np.asarray(b, dtype=np.float64)))
    return out
