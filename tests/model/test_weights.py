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
