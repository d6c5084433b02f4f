"""Weight loading: every supported format round-trips; every bad file is one clear line."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file
from support.weightfiles import bad_files

from lognet.base.errors import InputError
from lognet.model.weights import list_layers, load_weights, pair_biases, select_layers


def test_npz_npy_safetensors(tmp_path):
    W = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.ones(3, dtype=np.float32)
    np.savez(tmp_path / "m.npz", **{"fc.weight": W, "fc.bias": b})
    np.save(tmp_path / "single.npy", W)
    save_file({"fc.weight": W, "fc.bias": b}, str(tmp_path / "m.safetensors"))
    for f in ("m.npz", "m.safetensors"):
        d = load_weights(tmp_path / f)
        np.testing.assert_array_equal(d["fc.weight"], W)
        ((name, W2, b2),) = pair_biases(select_layers(d))
        assert name == "fc.weight"
        np.testing.assert_array_equal(b2, b)
    assert list(load_weights(tmp_path / "single.npy")) == ["single"]
    assert list_layers(tmp_path / "m.npz") == [
        {"name": "fc.weight", "shape": [3, 4], "dtype": "float32"},
        {"name": "fc.bias", "shape": [3], "dtype": "float32"}]


def test_onnx_gemm_and_matmul(tmp_path):
    W1 = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)  # (out, in), transB=1
    b1 = np.arange(5, dtype=np.float32)
    W2 = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)  # (in, out) for MatMul
    b2 = np.arange(3, dtype=np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["m"]),
        helper.make_node("Add", ["m", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(b2, "b2")])
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    d = load_weights(tmp_path / "m.onnx")
    np.testing.assert_array_equal(d["W1"], W1)
    np.testing.assert_array_equal(d["W2"], W2.T)
    pairs = pair_biases(d)
    assert [p[0] for p in pairs] == ["W1", "W2"]
    np.testing.assert_array_equal(pairs[0][2], b1)
    np.testing.assert_array_equal(pairs[1][2], b2)


def test_select_by_glob(tmp_path):
    d = {"enc.0.weight": np.ones((2, 3)), "enc.0.bias": np.ones(2), "dec.weight": np.ones((3, 2))}
    assert list(select_layers(d, ["enc.*"])) == ["enc.0.weight", "enc.0.bias"]
    with pytest.raises(InputError, match="no array matches"):
        select_layers(d, ["zzz"])
    with pytest.raises(InputError, match="2-D"):
        select_layers({"v": np.ones(3)}, None)


def test_bad_files(tmp_path):
    for name, needle in bad_files(tmp_path).items():
        with pytest.raises(InputError, match=needle) as e:
            load_weights(tmp_path / name)
        assert "\n" not in str(e.value)


def _onnx_matmul(path, dims, raw=None, floats=None):
    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=dims)
    if raw is not None:
        w.raw_data = raw
    if floats is not None:
        w.float_data.extend(floats)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    onnx.save(helper.make_model(g), str(path))


def test_onnx_data_is_checked_against_its_dims(tmp_path):
    W = np.arange(24, dtype=np.float32).reshape(6, 4)  # MatMul's (in, out)
    _onnx_matmul(tmp_path / "raw.onnx", [6, 4], raw=W.tobytes())
    _onnx_matmul(tmp_path / "typed.onnx", [6, 4], floats=W.ravel().tolist())
    for f in ("raw.onnx", "typed.onnx"):
        np.testing.assert_array_equal(load_weights(tmp_path / f)["W"], W.T)
    for name, kw, needle in (
            ("short.onnx", dict(raw=W.tobytes()[:40]), r"\(96 bytes\) but holds 40"),
            ("long.onnx", dict(raw=W.tobytes() + bytes(4)), r"\(96 bytes\) but holds 100"),
            ("shortf.onnx", dict(floats=[1.0] * 10), r"\(24 float_data entries\) but holds 10"),
            ("none.onnx", {}, r"\(24 float_data entries\) but holds 0")):
        _onnx_matmul(tmp_path / name, [6, 4], **kw)
        with pytest.raises(InputError, match=needle):
            load_weights(tmp_path / name)
    _onnx_matmul(tmp_path / "huge.onnx", [10**6, 10**6], raw=bytes(40))
    with pytest.raises(InputError, match="1,000,000,000,000 values"):
        load_weights(tmp_path / "huge.onnx")


def test_npy_and_npz_headers_are_checked_before_loading(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (10**6, 10**6)})
    (tmp_path / "huge.npy").write_bytes(buf.getvalue())
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("fc1.npy", buf.getvalue())
    np.savez(tmp_path / "none.npz")
    for name, needle in (("huge.npy", "more than the 268,435,456 values"),
                         ("huge.npz", "array 'fc1': declares an array of shape"),
                         ("none.npz", "holds no arrays")):
        with pytest.raises(InputError, match=needle):
            load_weights(tmp_path / name)
    W = np.random.default_rng(0).normal(size=(8, 8))
    np.savez_compressed(tmp_path / "c.npz", w=W)
    np.testing.assert_array_equal(load_weights(tmp_path / "c.npz")["w"], W)
