"""Bad weight files, shared by the loader tests (tests/model) and the CLI tests (tests/cli)."""

import numpy as np


def bad_files(tmp_path):
    """Write one unreadable or invalid weight file per failure mode into ``tmp_path``; returns
    ``{file name: text the one-line error must contain}`` (``missing.npz`` is not written)."""
    (tmp_path / "text.npz").write_text("not a zip")
    (tmp_path / "text.npy").write_text("not numpy")
    (tmp_path / "text.safetensors").write_text("nope")
    (tmp_path / "text.onnx").write_bytes(b"\x00\xffgarbage")
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "nan.npz", w=np.array([[1.0, np.nan]]))
    np.savez(tmp_path / "empty.npz", w=np.zeros((0, 3)))
    np.save(tmp_path / "strs.npy", np.array(["a", "b"]))
    (tmp_path / "w.txt").write_text("1 2 3")
    return {
        "text.npz": "not a readable .npz", "text.npy": "not a readable .npy",
        "text.safetensors": "not a readable .safetensors", "text.onnx": "not a readable ONNX",
        "obj.npy": "pickled", "nan.npz": "NaN/inf", "empty.npz": "empty",
        "strs.npy": "not numbers", "w.txt": "unknown file type", "missing.npz": "no such file",
    }
