"""The bad-input contract, verb by verb: one line ``lognet: error: ...``, exit 2, no traceback,
nothing left behind, nothing of the user's changed. The files are made here; every case runs
through ``lognet.cli.main`` (the broken pipe through a real pipe)."""

from __future__ import annotations

import functools
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from support.clitools import LOGNET
from support.specs import make_spec

from lognet.cli import main
from lognet.model.specjson import dump_spec

SPEC = ["--mu", "-3", "--sigma", "0.6", "-K", "4"]


def _npy_header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def _onnx_matmul(dims, raw=None, floats=None) -> bytes:
    """A one-MatMul ONNX model whose weight initializer declares ``dims`` and holds ``raw``
    bytes or ``floats`` (either may be shorter than the dims)."""
    from onnx import TensorProto, helper

    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=dims)
    if raw is not None:
        w.raw_data = raw
    if floats is not None:
        w.float_data.extend(floats)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    return helper.make_model(g).SerializeToString()


@functools.lru_cache(maxsize=1)
def _hostile_arrays() -> dict[str, bytes]:
    """Array files whose headers lie: made once, written into each case's folder."""
    out = {"xhuge.npy": _npy_header((10**6, 10**6), "<i8"),
           "xshort.npy": _npy_header((1000, 6), "<i8") + bytes(80),
           "whuge.npy": _npy_header((10**6, 10**6))}
    for name, member in (("whuge.npz", _npy_header((10**6, 10**6))),
                         ("wshort.npz", _npy_header((4, 6)) + bytes(8))):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("fc1.npy", member)
        out[name] = buf.getvalue()
    # a zip bomb: 96 MiB of zeros deflated to about 100 kB
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z, \
            z.open("x_train.npy", "w") as f:
        f.write(_npy_header((2 * 1024 * 1024, 6)))
        for _ in range(6):
            f.write(bytes(16 << 20))
    out["bomb.npz"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf)
    out["noarrays.npz"] = buf.getvalue()
    rng = np.random.default_rng(0)
    for name, arrays in (("w100.npz", {"fc1": rng.normal(size=(4, 6)) * 100}),
                         ("w1e29.npz", {"fc1": rng.normal(size=(4, 6)) * 1e29}),
                         ("alike.npz", {"fc.1": rng.normal(size=(4, 6)),
                                        "fc_1": rng.normal(size=(3, 4))})):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        out[name] = buf.getvalue()
    out["wshort.onnx"] = _onnx_matmul([6, 4], raw=bytes(40))
    out["wshortf.onnx"] = _onnx_matmul([6, 4], floats=[1.0] * 10)
    out["whuge.onnx"] = _onnx_matmul([10**6, 10**6], raw=bytes(40))
    return out


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A folder with a valid spec, inputs, a folder of the user's own and hostile files."""
    monkeypatch.chdir(tmp_path)
    dump_spec(make_spec(6, 4, 4), "l.json")
    np.save("x.npy", np.zeros((5, 6), dtype=np.int64))
    np.save("x3d.npy", np.zeros((2, 5, 6), dtype=np.int64))
    np.save("xf.npy", np.full((5, 6), 0.5))
    np.save("xu.npy", np.full((5, 6), 2**64 - 1, dtype=np.uint64))
    with open("pickle.npy", "wb") as f:
        pickle.dump({"a": 1}, f)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    (tmp_path / "afile").write_text("a file")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "notspec.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "trunc.json").write_text('{"schema": "lognet.layer", "version": 1, "na')
    (tmp_path / "huge.json").write_text(
        (tmp_path / "l.json").read_text().replace('"n_in":6', '"n_in":1' + "0" * 5000))
    (tmp_path / "bad.toml").write_text("[model]\nweigths = 'w.npz'\n")
    (tmp_path / "nested.json").write_text('{"model":' * 50_000 + "1" + "}" * 50_000)
    (tmp_path / "clock.toml").write_text("[synth]\ntargets = ['ice40-up5k']\n"
                                         "clock = {ice40-up5k = nan}\n")
    (tmp_path / "arch.toml").write_text("[quantise]\narch = 'folded:0'\n")
    (tmp_path / "bdir.toml").write_text("[simulate]\nbuild_dir = 'afile/x'\n")
    (tmp_path / "k.toml").write_text("[quantise]\nK = 'eight'\n")
    np.savez("w.npz", fc1=np.random.default_rng(0).normal(size=(4, 6)))
    np.save("cnan.npy", np.full((3, 6), np.nan))
    np.save("cstr.npy", np.array([["a"] * 6]))
    np.save("cshape.npy", np.zeros((3, 7)))
    (tmp_path / "ctext.npy").write_text("1,2,3")
    # sweep files, each refused before a network is loaded or a cluster started
    (tmp_path / "s.toml").write_text("")
    (tmp_path / "sdeep.toml").write_text("[grid]\nK = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "shuge.toml").write_text(
        "[grid]\nK = [2, 4, 8, 16]\nclock = [" + ", ".join(str(1 + i) for i in range(400))
        + "]\nlanes = [" + ", ".join(str(1 + i) for i in range(400)) + "]\n")
    (tmp_path / "sclock.toml").write_text("[grid]\nclock = [1e300]\n")
    (tmp_path / "sseed.toml").write_text("[sweep]\nseed = 9223372036854775807\n")
    (tmp_path / "spoint.toml").write_text("[[points]]\nK = [4, 8]\n")
    (tmp_path / "stopo.toml").write_text("[quantise]\ntopology = 'sideways'\n")
    for name, data in _hostile_arrays().items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "name.toml").write_text("[flow]\nname = '  '\n")
    (tmp_path / "data.toml").write_text("[data]\nx_test = 'x.npy'\n")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


def test_force_replaces_an_existing_output_file(files, capsys):
    argv = ["spec", "--inputs", "6", "--outputs", "4", *SPEC, "-o", "afile"]
    assert main(argv) == 2
    assert (files / "afile").read_text() == "a file"
    assert main([*argv, "--force"]) == 0
    assert json.loads((files / "afile").read_text())["schema"] == "lognet.layer"
    capsys.readouterr()
    assert main(["infer", "l.json", "x.npy", "-o", "y.npy"]) == 0
    assert main(["infer", "l.json", "x.npy", "-o", "y.npy", "--force"]) == 0
    assert np.load(files / "y.npy").shape == (5, 4)


def test_quantise_says_when_it_builds_fewer_lanes(files, capsys):
    assert main(["quantise", "w.npz", "--arch", "folded:9", "-o", "q.json"]) == 0
    assert "9 lanes asked, 4 built" in capsys.readouterr().out
    assert json.loads((files / "q.json").read_text())["arch"]["lanes"] == 4


CASES = {
    # spec
    "spec-inputs-0": (["spec", "--inputs", "0", "--outputs", "4", *SPEC, "-o", "o.json"],
                      "--inputs: 0 is outside 1..65535"),
    "spec-huge": (["spec", "--inputs", "60000", "--outputs", "60000", *SPEC, "-o", "o.json"],
                  "drawn as a dense matrix of 3,600,000,000"),
    "spec-huge-pruned": (["spec", "--inputs", "8192", "--outputs", "4096", "--topology",
                          "fanin:16", *SPEC, "-o", "o.json"], "give fewer inputs or outputs"),
    "spec-lanes-beyond-outputs": (["spec", "--inputs", "6", "--outputs", "4", "--arch",
                                   "folded:5", *SPEC, "-o", "o.json"],
                                  "folded with 5 lanes but only 4 outputs"),
    "spec-in-bits-0": (["spec", "--inputs", "6", "--outputs", "4", "--in-bits", "0", *SPEC,
                        "-o", "o.json"], "--in-bits: 0 is outside 2..32"),
    "spec-out-bits-0": (["spec", "--inputs", "6", "--outputs", "4", "--out-bits", "0", *SPEC,
                         "-o", "o.json"], "--out-bits: 0 is outside 2..32"),
    "spec-seed-neg": (["spec", "--inputs", "6", "--outputs", "4", "--seed", "-1", *SPEC,
                       "-o", "o.json"], "--seed: -1 is outside"),
    "spec-sigma-nan": (["spec", "--inputs", "6", "--outputs", "4", "--mu", "-3", "--sigma",
                        "nan", "-o", "o.json"], "--sigma: 'nan' is not a finite number"),
    "spec-type": (["spec", "--inputs", "six", "--outputs", "4", *SPEC, "-o", "o.json"],
                  "--inputs: 'six' is not an integer"),
    "unknown-option": (["generate", "l.json", "-o", "g", "--bogus"],
                       "unrecognized arguments: --bogus"),
    "no-verb": ([], "VERB"),
    # generate
    "gen-deep": (["generate", "deep.json", "-o", "g"], "nested too deeply"),
    "gen-notspec": (["generate", "notspec.json", "-o", "g"], "is this a lognet spec?"),
    "gen-trunc": (["generate", "trunc.json", "-o", "g"], "not valid JSON"),
    "gen-huge-int": (["generate", "huge.json", "-o", "g"], "not a valid spec"),
    "gen-folder-spec": (["generate", "mine", "-o", "g"], "cannot read it"),
    "gen-user-folder": (["generate", "l.json", "-o", "mine"], "already exists"),
    "gen-user-folder-force": (["generate", "l.json", "-o", "mine", "--force"],
                              "holds files lognet did not write (thesis.tex)"),
    "gen-file-parent": (["generate", "l.json", "-o", "afile/sub"], "is a file, not a folder"),
    "gen-clock-nan": (["generate", "l.json", "-o", "g", "--clock", "nan"],
                      "--clock: 'nan' is not a finite number"),
    # infer
    "infer-3d": (["infer", "l.json", "x3d.npy"], "expected (N, 6)"),
    "infer-float": (["infer", "l.json", "xf.npy"], "must be integers"),
    "infer-uint64": (["infer", "l.json", "xu.npy"], "outside the input format"),
    "infer-pickle": (["infer", "l.json", "pickle.npy"], "not a .npy file"),
    # sim
    "sim-bulk-shape": (["sim", "l.json", "--bulk", "--inputs", "x3d.npy", "--simulator",
                        "icarus"], "expected (N, 6)"),
    "sim-p-valid": (["sim", "l.json", "--bulk", "--p-valid", "0", "--simulator", "icarus"],
                    "--p-valid: 0 is outside"),
    "sim-vectors-neg": (["sim", "l.json", "--bulk", "--vectors", "-1", "--simulator",
                         "icarus"], "--vectors: -1 is outside"),
    "sim-vectors-huge": (["sim", "l.json", "--bulk", "--vectors", "100000000000",
                          "--simulator", "icarus"], "--vectors: 100000000000 is outside"),
    "sim-build-dir-file": (["sim", "l.json", "--bulk", "--build-dir", "afile", "--simulator",
                            "icarus"], "is a file, not a folder"),
    "sim-json-missing-dir": (["sim", "l.json", "--bulk", "--json", "nodir/s.json",
                              "--simulator", "icarus"], "does not exist"),
    "sim-inputs-no-bulk": (["sim", "l.json", "--inputs", "x.npy"], "go with --bulk"),
    # an output on top of an input
    "synth-json-is-spec": (["synth", "l.json", "--target", "ice40-up5k", "--json", "l.json"],
                           "is also the verb's input (spec)"),
    "infer-out-is-inputs": (["infer", "l.json", "x.npy", "-o", "x.npy"],
                            "is also the verb's input (inputs)"),
    "generate-into-inputs": (["generate", "l.json", "-o", ".", "--force"],
                             "holds the input l.json"),
    # flow: refused before any work
    "flow-typo": (["flow", "bad.toml"], "did you mean 'weights'?"),
    "flow-nested-json": (["flow", "nested.json"], "not a valid config"),
    "flow-clock-nan": (["flow", "clock.toml"], "is not a finite number"),
    "flow-arch": (["flow", "arch.toml"], "[quantise] arch"),
    "flow-build-dir": (["flow", "bdir.toml"], "is a file, not a folder"),
    "flow-skip-quantise": (["flow", "--skip", "quantise"], "cannot be skipped without --spec"),
    "flow-type": (["flow", "k.toml"], '[quantise] K = "eight" is a string; expected an integer'),
    "flow-missing": (["flow", "nope.toml"], "no such config file"),
    # spec: the activation and bias options, weights beyond float64
    "spec-activation": (["spec", "--inputs", "6", "--outputs", "4", *SPEC, "--activation",
                         "tanh", "-o", "o.json"], "invalid choice: 'tanh'"),
    "spec-bias-bits": (["spec", "--inputs", "6", "--outputs", "4", *SPEC, "--bias", "random",
                        "--bias-bits", "1", "-o", "o.json"], "--bias-bits: 1 is outside 2..32"),
    "spec-mu-overflow": (["spec", "--inputs", "6", "--outputs", "4", "--mu", "800", "-o",
                          "o.json"], "beyond the float64 range"),
    "spec-mu-underflow": (["spec", "--inputs", "6", "--outputs", "4", "--mu", "-800", "-o",
                           "o.json"], "are 0 in float64"),
    # quantise --calib: every kind of bad file
    "quantise-calib-nan": (["quantise", "w.npz", "--calib", "cnan.npy", "-o", "o.json"],
                           "NaN or infinite values"),
    "quantise-calib-strings": (["quantise", "w.npz", "--calib", "cstr.npy", "-o", "o.json"],
                               "the calibration inputs are real numbers"),
    "quantise-calib-shape": (["quantise", "w.npz", "--calib", "cshape.npy", "-o", "o.json"],
                             "expected (N, 6)"),
    "quantise-calib-text": (["quantise", "w.npz", "--calib", "ctext.npy", "-o", "o.json"],
                            "not a .npy file"),
    "quantise-calib-pickle": (["quantise", "w.npz", "--calib", "pickle.npy", "-o", "o.json"],
                              "not a .npy file"),
    "quantise-calib-missing": (["quantise", "w.npz", "--calib", "nope.npy", "-o", "o.json"],
                               "no such file (the calibration inputs)"),
    # outputs that cannot be written, clocks beyond reason
    "gen-out-unwritable": (["generate", "l.json", "-o", "/proc/lognet-g"],
                           "cannot write the output folder there"),
    "gen-clock-huge": (["generate", "l.json", "-o", "g", "--clock", "1e308"],
                       "give at most 1e+06 MHz"),
    # the other verbs' files and folders
    "infer-inputs-folder": (["infer", "l.json", "mine"], "no such file (the inputs)"),
    "layers-folder": (["layers", "mine"], "is a folder, not a weight file"),
    "fit-out-under-file": (["fit", "w.npz", "-o", "afile/sub"], "is a file, not a folder"),
    "plan-json-folder": (["plan", "l.json", "--target", "ice40-up5k", "--json", "mine"],
                         "is a folder; give a file name"),
    "tune-data-missing": (["tune", "l.json", "--data", "nope.npz", "-o", "t.json"],
                          "nope.npz"),
    "ising-lattice-huge": (["analyse", "ising", "--lattice", "square:100000"],
                           "at most 1,000,000"),
    "criticality-burn-in": (["analyse", "criticality", "--depth", "10", "--burn-in", "20"],
                            "must be below --depth"),
    "run-no-port": (["run", "l.json", "x.npy", "--port", "/dev/lognet-no-such-port"],
                    "cannot open serial port"),
    "build-board": (["build", "l.json", "--board", "arty"], "unknown board 'arty'"),
    # sweep: refused before any network is trained or any cluster started
    "sweep-deep": (["sweep", "sdeep.toml"], "nested too deeply"),
    "sweep-huge-grid": (["sweep", "shuge.toml"], "make 640,000 points, more than the 100,000"),
    "sweep-clock-huge": (["sweep", "sclock.toml"], "[grid] clock = 1e+300 is out of range"),
    "sweep-seed-huge": (["sweep", "sseed.toml"], "it must be in 0..4294967295"),
    "sweep-point-two-values": (["sweep", "spoint.toml"], "K has 2 values; a point takes one"),
    "sweep-topology": (["sweep", "stopo.toml"], "[quantise] unknown topology 'sideways'"),
    "sweep-out-is-cache": (["sweep", "s.toml", "-o", "c", "--cache", "c"],
                           "the results folder c and [sweep] cache c overlap"),
    "sweep-cache-in-out": (["sweep", "s.toml", "-o", "c", "--cache", "c/cache"],
                           "overlap; give them separate folders"),
    "sweep-out-in-work-dir": (["sweep", "s.toml", "-o", "build/sweep/r"],
                              "and [sweep] work_dir build/sweep overlap"),
    "sweep-cache-unwritable": (["sweep", "s.toml", "--cache", "/proc/lognet-c"],
                               "cannot write there"),
    "sweep-out-unwritable": (["sweep", "s.toml", "-o", "/proc/lognet-o"], "cannot write there"),
    "sweep-workers-scheduler": (["sweep", "s.toml", "--scheduler", "tcp://127.0.0.1:1",
                                 "--workers", "2"], "--workers sizes a local cluster"),
    "sweep-workers-memory": (["sweep", "s.toml", "--workers", "4096"],
                             "memory holds at most"),
    # fit: a spec where the weights go
    "fit-spec-as-weights": (["fit", "l.json"], "l.json is JSON (a spec?), not a weight file"),
    # array headers that declare more than the limit or than the file holds: refused from the
    # header, nothing allocated
    "infer-npy-huge": (["infer", "l.json", "xhuge.npy"], "more than the 268,435,456 values"),
    "infer-npy-short": (["infer", "l.json", "xshort.npy"], "the file is cut short"),
    "sim-inputs-npy-huge": (["sim", "l.json", "--bulk", "--inputs", "xhuge.npy",
                             "--simulator", "icarus"], "more than the 268,435,456 values"),
    "fit-data-npy-huge": (["fit", "--activations", "l.json", "--data", "xhuge.npy", "-o", "f"],
                          "more than the 268,435,456 values"),
    "quantise-calib-npy-huge": (["quantise", "w.npz", "--calib", "xhuge.npy", "-o", "o.json"],
                                "more than the 268,435,456 values"),
    "layers-npy-huge": (["layers", "whuge.npy"], "more than the 268,435,456 values"),
    "layers-npz-huge": (["layers", "whuge.npz"], "array 'fc1': declares an array of shape"),
    "quantise-npz-huge": (["quantise", "whuge.npz", "-o", "o.json"],
                          "more than the 268,435,456 values"),
    "fit-npz-huge": (["fit", "whuge.npz", "-o", "f"], "more than the 268,435,456 values"),
    "tune-data-npz-huge": (["tune", "l.json", "--data", "whuge.npz", "-o", "t.json"],
                           "more than the 268,435,456 values"),
    "quantise-npz-short": (["quantise", "wshort.npz", "-o", "o.json"], "the file is cut short"),
    "tune-data-zip-bomb": (["tune", "l.json", "--data", "bomb.npz", "-o", "t.json"],
                           "more than 200 times"),
    "layers-zip-bomb": (["layers", "bomb.npz"], "save the arrays with numpy.savez"),
    "layers-npz-no-arrays": (["layers", "noarrays.npz"], "holds no arrays"),
    # ONNX initializers whose data does not match their dims
    "layers-onnx-raw-short": (["layers", "wshort.onnx"], "(96 bytes) but holds 40"),
    "layers-onnx-floats-short": (["layers", "wshortf.onnx"],
                                 "(24 float_data entries) but holds 10"),
    "quantise-onnx-huge-dims": (["quantise", "whuge.onnx", "-o", "o.json"],
                                "more than the 268,435,456 values"),
    # weights far outside what the formats hold: the scale named, true fixes
    "quantise-weights-100": (["quantise", "w100.npz", "-o", "o.json"],
                             "give 10 output bits (--out-bits 10) or divide the weights and "
                             "biases by 2**2"),
    "quantise-weights-1e29": (["quantise", "w1e29.npz", "-o", "o.json"],
                              "more than 8 level bits hold"),
    "spec-mu-4": (["spec", "--inputs", "6", "--outputs", "4", "--mu", "4", "--sigma", "0.6",
                   "-o", "o.json"], "or use a smaller mu (at most"),
    "spec-mu-60": (["spec", "--inputs", "6", "--outputs", "4", "--mu", "60", "--sigma", "0.6",
                    "-o", "o.json"], "the largest level is"),
    # two arrays whose names sanitise alike
    "quantise-names-alike": (["quantise", "alike.npz", "-o", "o.json"],
                             "arrays 'fc.1' and 'fc_1' both become the layer name 'fc_1'"),
    # --json outputs checked before the tool runs
    "sim-json-under-file": (["sim", "l.json", "--bulk", "--json", "afile/s.json",
                             "--simulator", "icarus"], "afile is a file, not a folder"),
    "sim-json-unwritable": (["sim", "l.json", "--json", "/proc/lognet-s.json"],
                            "cannot write in /proc"),
    "synth-json-under-file": (["synth", "l.json", "--target", "ice40-up5k", "--json",
                               "afile/s.json"], "afile is a file, not a folder"),
    "synth-json-unwritable": (["synth", "l.json", "--target", "ice40-up5k", "--json",
                               "/proc/lognet-s.json"], "cannot write in /proc"),
    # outputs onto files that are not regular files: never replaced
    "infer-out-dev-null": (["infer", "l.json", "x.npy", "-o", "/dev/null"],
                           "/dev/null is a character device, not a regular file"),
    "plan-json-dev-full": (["plan", "l.json", "--target", "ice40-up5k", "--json", "/dev/full"],
                           "/dev/full is a character device"),
    "spec-out-fifo": (["spec", "--inputs", "6", "--outputs", "4", *SPEC, "-o", "fifo"],
                      "fifo is a named pipe, not a regular file"),
    # an existing file is replaced only with --force
    "spec-out-exists": (["spec", "--inputs", "6", "--outputs", "4", *SPEC, "-o", "afile"],
                        "afile exists; give --force to replace it"),
    "quantise-out-exists": (["quantise", "w.npz", "-o", "notspec.json"],
                            "notspec.json exists; give --force"),
    "infer-out-exists": (["infer", "l.json", "x.npy", "-o", "xf.npy"],
                         "xf.npy exists; give --force"),
    "plan-json-exists": (["plan", "l.json", "--target", "ice40-up5k", "--json", "afile"],
                         "afile exists; give --force"),
    "sim-out-exists": (["sim", "l.json", "--bulk", "--inputs", "x.npy", "-o", "xf.npy"],
                       "xf.npy exists; give --force"),
    "tune-out-exists": (["tune", "l.json", "--data", "w.npz", "-o", "afile"],
                        "afile exists; give --force"),
    # a picker that cannot give the levels asked
    "spec-pow2-too-many": (["spec", "--inputs", "6", "--outputs", "4", "--picker", "pow2",
                            "--levels", "9", "-o", "o.json"],
                           "--picker pow2 has 8 powers of two that 8 level bits hold"),
    "spec-apot-too-many": (["spec", "--inputs", "6", "--outputs", "4", "--picker", "apot",
                            "--levels", "40", "--level-bits", "8", "-o", "o.json"],
                           "--picker apot has 36 sums"),
    # flow configs that say nothing useful
    "flow-name-empty": (["flow", "name.toml"], "[flow] name is empty"),
    "flow-data-without-weights": (["flow", "data.toml"],
                                  "[data] x_test is for the network of [model] weights"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(files, capsys, case):
    argv, needle = CASES[case]
    before = sorted(p.name for p in files.iterdir())
    spec_bytes = (files / "l.json").read_bytes()
    inputs_bytes = (files / "x.npy").read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lognet: error: "), err
    assert needle in lines[0], err
    assert sorted(p.name for p in files.iterdir()) == before  # nothing left, nothing removed
    assert (files / "mine" / "thesis.tex").read_text() == "years of work"
    assert (files / "l.json").read_bytes() == spec_bytes
    assert (files / "x.npy").read_bytes() == inputs_bytes


def test_a_closed_pipe_ends_quietly(tmp_path):
    dump_spec(make_spec(6, 4, 4), tmp_path / "l.json")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((20000, 6), dtype=np.int64))
    p = subprocess.Popen([*LOGNET, "infer", str(tmp_path / "l.json"), str(x)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()  # the reader goes away, as `| head -1` does
    err = p.stderr.read().decode()
    assert p.wait() == 0 and "Traceback" not in err and err == ""


def test_a_closed_stdout_is_one_line(tmp_path):
    """``lognet infer`` with standard output closed (``>&-``) refuses before its work: the
    outputs would be lost."""
    dump_spec(make_spec(6, 4, 4), tmp_path / "l.json")
    np.save(tmp_path / "x.npy", np.zeros((5, 6), dtype=np.int64))
    p = subprocess.run([*LOGNET, "infer", str(tmp_path / "l.json"), str(tmp_path / "x.npy")],
                       stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=120)
    lines = p.stderr.decode().strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("lognet: error: standard output is closed")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["l.json", "x.npy"]


#: a ``lognet generate`` whose file writes are slowed down (0.3 s each), so a signal lands
#: while its temporary folder is being filled; the rest is the real verb
_SLOW_GENERATE = """
import pathlib, sys, time
write = pathlib.Path.write_text
def slow(self, *a, **k):
    time.sleep(0.3)
    return write(self, *a, **k)
pathlib.Path.write_text = slow
from lognet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _kill_while_writing(tmp_path, sig):
    """Start a slowed ``generate``, wait for its temporary folder, send ``sig``; the exit code
    and what is left in ``tmp_path``."""
    import signal
    import time

    dump_spec(make_spec(6, 4, 4), tmp_path / "l.json")
    p = subprocess.Popen([sys.executable, "-c", _SLOW_GENERATE, "generate",
                          str(tmp_path / "l.json"), "-o", str(tmp_path / "g")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and not any(
            q.name.startswith(".g.lognet-tmp-") for q in tmp_path.iterdir()):
        time.sleep(0.01)
    assert p.poll() is None, p.communicate()  # still writing when the signal is sent
    p.send_signal(sig)
    rc = p.wait(60)
    err = p.stderr.read().decode()
    assert "Traceback" not in err, err
    assert sig != signal.SIGTERM or err.strip() == "lognet: interrupted", err
    return rc, sorted(q.name for q in tmp_path.iterdir())


def test_sigterm_leaves_no_temporaries(tmp_path):
    """A generate stopped with SIGTERM while it writes cleans up like Ctrl-C: no output, no
    temporary folder."""
    import signal

    rc, left = _kill_while_writing(tmp_path, signal.SIGTERM)
    assert (rc, left) == (130, ["l.json"])


def test_a_sigkill_leftover_is_cleaned_by_the_next_run(tmp_path, capsys):
    """SIGKILL cannot be handled: its temporary folder stays (and no output appears), and the
    next run into the same folder removes it."""
    import signal

    rc, left = _kill_while_writing(tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL and "g" not in left
    assert any(n.startswith(".g.lognet-tmp-") for n in left)
    assert main(["generate", str(tmp_path / "l.json"), "-o", str(tmp_path / "g")]) == 0
    assert sorted(q.name for q in tmp_path.iterdir()) == ["g", "l.json"]


def test_the_command_line_starts_without_the_heavy_libraries():
    """``lognet plan`` answers in well under a second because the CLI, its typed config and the
    plan import no SciPy, JAX, Amaranth or scikit-learn until a verb needs them."""
    code = ("import sys, lognet.cli, lognet.hw.plan, lognet.model.specjson; "
            "print(' '.join(m for m in ('scipy', 'jax', 'amaranth', 'sklearn') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""
