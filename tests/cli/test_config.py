"""The flow's typed config: every bad key, section, type or size is one line and exit 2; paths
resolve against the config's folder; the CLI's defaults are the config's."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from lognet import cli, flow
from lognet.base.errors import InputError
from lognet.config import (
    CompareConfig,
    DataConfig,
    Engine,
    FlowConfig,
    JobConfig,
    ModelConfig,
    QuantiseConfig,
    SimulateConfig,
    SynthConfig,
)
from lognet.model.arch import Arith, Tunable
from lognet.model.levels import PICKERS


def flow_error(capsys, tmp_path, text: str, name: str = "my.toml") -> str:
    """``lognet flow CONFIG`` through ``cli.main`` on a config of ``text``: asserts exit 2, one
    stderr line and no report folder; returns that line without the ``lognet: error:``."""
    p = tmp_path / name
    p.write_text(text)
    out = tmp_path / "rep"
    assert cli.main(["flow", str(p), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lognet: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not out.exists()
    return err[len("lognet: error: "):].rstrip("\n")


def test_unknown_key_names_it_and_the_nearest(capsys, tmp_path):
    msg = flow_error(capsys, tmp_path, '[model]\nweigths = "w.npz"\n')
    assert msg == f"{tmp_path / 'my.toml'}: unknown key [model] weigths; did you mean 'weights'?"


def test_unknown_section_names_it_and_the_nearest(capsys, tmp_path):
    msg = flow_error(capsys, tmp_path, "[quantize]\nK = 4\n")
    assert msg == f"{tmp_path / 'my.toml'}: unknown section [quantize]; did you mean 'quantise'?"


def test_unknown_key_far_from_any_lists_the_valid_ones(capsys, tmp_path):
    msg = flow_error(capsys, tmp_path, "[simulate]\nzzz = 1\n")
    assert msg == (f"{tmp_path / 'my.toml'}: unknown key [simulate] zzz; valid: engine, "
                   f"vectors, build_dir, bulk, also")


@pytest.mark.parametrize("text, expected", [
    ('[quantise]\nK = "8"\n', '[quantise] K = "8" is a string; expected an integer'),
    ("[quantise]\nK = 8.0\n", "[quantise] K = 8.0 is a number; expected an integer"),
    ("[compare]\narea = 1\n", "[compare] area = 1 is an integer; expected a boolean"),
    ('[model]\nhidden = 32\n', "[model] hidden = 32 is an integer; expected a list of integers"),
    ("[flow]\nname = 3\n", "[flow] name = 3 is an integer; expected a string"),
    ("flow = 3\n", "[flow] must be a table of keys, not an integer"),
])
def test_wrong_type(capsys, tmp_path, text, expected):
    assert flow_error(capsys, tmp_path, text) == f"{tmp_path / 'my.toml'}: {expected}"


@pytest.mark.parametrize("text, expected", [
    ("[quantise]\nK = -1\n", "[quantise] K = -1 is out of range; it must be in 1..255"),
    ("[quantise]\nK = 0\n", "[quantise] K = 0 is out of range; it must be in 1..255"),
    ("[compare]\nK = [4, 0]\n", "[compare] K = 0 is out of range; it must be in 1..255"),
    ("[simulate]\nvectors = 0\n",
     "[simulate] vectors = 0 is out of range; it must be in 1..10000000"),
    ("[simulate]\nvectors = 10000000000000\n",
     "[simulate] vectors = 10000000000000 is out of range; it must be in 1..10000000"),
    ("[data]\ninput_bits = 0\n", "[data] input_bits = 0 is out of range; it must be in 2..32"),
    ("[flow]\nseed = -2\n", "[flow] seed = -2 is out of range; it must be >= 0"),
    ('[synth.clock]\nice40-up5k = -12\n',
     "[synth] clock.ice40-up5k = -12 is out of range; it must be >= 0.001"),
])
def test_out_of_range(capsys, tmp_path, text, expected):
    assert flow_error(capsys, tmp_path, text) == f"{tmp_path / 'my.toml'}: {expected}"


@pytest.mark.parametrize("text, expected", [
    ('[quantise]\npicker = "optmal"\n',
     '[quantise] picker = "optmal" is not one of: ' + ", ".join(PICKERS)
     + "; did you mean 'optimal'?"),
    ('[quantise]\ntunable = "level"\n',
     "[quantise] tunable = \"level\" is not one of: all, levels, none; did you mean 'levels'?"),
    ('[simulate]\nengine = "modelsim"\n',
     '[simulate] engine = "modelsim" is not one of: verilator, icarus, amaranth'),
    ('[simulate]\nvectors = "some"\n', '[simulate] vectors = "some" is not one of: all'),
    ('[synth]\ntargets = ["ice40-up5"]\n',
     "[synth] targets: unknown synthesis target 'ice40-up5'; did you mean 'ice40-up5k'?"),
])
def test_bad_choice(capsys, tmp_path, text, expected):
    msg = flow_error(capsys, tmp_path, text)
    if expected.startswith("[synth] targets"):  # checked by the flow, against the targets
        assert msg == expected
    else:
        assert msg == f"{tmp_path / 'my.toml'}: {expected}"


def test_toml_syntax_error_is_one_line(capsys, tmp_path):
    msg = flow_error(capsys, tmp_path, "[flow\n")
    assert msg.startswith(f"{tmp_path / 'my.toml'}: not a valid config (")
    msg = flow_error(capsys, tmp_path, '{"flow": ', name="my.json")
    assert msg.startswith(f"{tmp_path / 'my.json'}: not a valid config (")
    msg = flow_error(capsys, tmp_path, "a = " + "[" * 3000 + "]" * 3000 + "\n")
    assert msg == f"{tmp_path / 'my.toml'}: not a valid config (arrays or tables nested too " \
                  f"deeply)"


def test_missing_config_file(capsys, tmp_path):
    assert cli.main(["flow", str(tmp_path / "none.toml"), "-o", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == f"lognet: error: {tmp_path / 'none.toml'}: no such " \
                                      f"config file\n"


def test_empty_config_is_the_defaults(tmp_path):
    (tmp_path / "e.toml").write_text("")
    assert FlowConfig.from_toml(tmp_path / "e.toml") == FlowConfig()
    assert FlowConfig.from_dict({}) == FlowConfig()
    assert FlowConfig.from_dict({"quantise": {}, "synth": {}}) == FlowConfig()
    assert FlowConfig.from_dict({"quantise": {"K": 4}}) != FlowConfig()


def test_values_are_typed(tmp_path):
    c = FlowConfig.from_dict({"quantise": {"arith": "shift", "tunable": "none", "K": 4},
                              "simulate": {"engine": "icarus", "vectors": 30},
                              "synth": {"tunable": {"ecp5-85k": "levels"},
                                        "clock": {"ice40-up5k": 12}},
                              "compare": {"K": [2, 4]}, "model": {"hidden": [16, 8]}})
    assert c.quantise == dataclasses.replace(QuantiseConfig(), arith=Arith.SHIFT,
                                             tunable=Tunable.NONE, K=4)
    assert c.simulate == SimulateConfig(engine=Engine.ICARUS, vectors=30)
    assert c.synth.tunable == {"ecp5-85k": Tunable.LEVELS}
    assert c.synth.clock == {"ice40-up5k": 12.0} and isinstance(c.synth.clock["ice40-up5k"],
                                                                float)
    assert c.compare.K == (2, 4) and c.model.hidden == (16, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.quantise.K = 8


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    (sub / "cfg.toml").write_text('[model]\nweights = "w/mlp.npz"\n[data]\nx_test = "x.npy"\n'
                                  f'y_test = "{tmp_path / "abs.npy"}"\n')
    monkeypatch.chdir(tmp_path)
    c = FlowConfig.from_toml("elsewhere/cfg.toml")
    assert c.model.weights == Path("elsewhere/w/mlp.npz")
    assert c.data.x_test == Path("elsewhere/x.npy")
    c = FlowConfig.from_toml(sub / "cfg.toml")
    assert c.model.weights == sub / "w" / "mlp.npz" and c.data.x_test == sub / "x.npy"
    assert c.data.y_test == tmp_path / "abs.npy"
    assert c.data.x_calib is None


def test_flow_reads_inputs_from_the_config_folder(capsys, tmp_path, monkeypatch):
    """A config in another folder with relative file names: the flow finds the files there
    (the inputs' wrong shape is reported with their full path, so they were read)."""
    sub = tmp_path / "proj"
    sub.mkdir()
    rng = np.random.default_rng(0)
    np.savez(sub / "mlp.npz", **{"fc1.weight": rng.normal(0, .2, (6, 10)),
                                 "fc2.weight": rng.normal(0, .2, (3, 6))})
    np.save(sub / "x.npy", np.zeros((5, 7)))
    (sub / "cfg.toml").write_text('[model]\nweights = "mlp.npz"\n[data]\nx_test = "x.npy"\n'
                                  '[simulate]\nengine = "amaranth"\n')
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert cli.main(["flow", str(sub / "cfg.toml"), "-o", str(cwd / "rep")]) == 2
    err = capsys.readouterr().err
    assert err == (f"lognet: error: {sub / 'x.npy'}: shape (5, 7), expected (N, 10) with "
                   f"N >= 1 for fc1_weight\n")
    assert not (cwd / "rep").exists()


def test_the_shipped_demo_config():
    """default_flow.toml sets the demo's own values; everything else is the defaults."""
    c = flow.load_config(None)
    assert c == FlowConfig.from_toml(flow.DEFAULT_CONFIG)
    assert c.flow == JobConfig(name="digits", seed=0, out="report")
    assert c.model == ModelConfig(hidden=(32,))
    assert c.quantise == QuantiseConfig(picker="optimal", K=8, level_bits=8, out_bits=8,
                                        arch="auto", arith=Arith.AUTO,
                                        tunable=Tunable.LEVELS)
    assert c.compare == CompareConfig(pickers=("lognormal-lloyd", "optimal", "pow2", "uniform"),
                                      K=(4, 8, 16), area=True, area_target="ice40-up5k",
                                      area_pickers=("optimal", "pow2"), dsp=True)
    assert c.simulate == SimulateConfig(engine=Engine.VERILATOR, vectors="all", bulk=True,
                                        also=(Engine.ICARUS,))
    assert c.synth == SynthConfig(targets=("ice40-up5k", "ecp5-85k"), dsp=True)
    assert c.data == DataConfig()


def test_to_json_round_trips():
    c = FlowConfig.from_dict({"model": {"weights": "/w.npz", "layers": ["a", "b"]},
                              "synth": {"tunable": {"ecp5-85k": "none"}}})
    d = c.to_json()
    assert d["model"]["weights"] == "/w.npz" and d["synth"]["tunable"] == {"ecp5-85k": "none"}
    assert d["quantise"]["arith"] == "auto" and d["simulate"]["engine"] == "verilator"
    assert FlowConfig.from_dict(json.loads(json.dumps(d))) == c


# -- the CLI's defaults are the config's ----------------------------------------------------------


def _parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_cli_quantise_defaults_are_the_config_defaults():
    a = _parse("quantise", "w.npz", "-o", "n.json")
    q, d = QuantiseConfig(), DataConfig()
    assert (a.levels, a.picker, a.topology, a.level_bits, a.out_bits, a.arch, a.arith,
            a.tunable) == (q.K, q.picker, q.topology, q.level_bits, q.out_bits, q.arch,
                           q.arith.value, q.tunable.value)
    assert a.in_bits == d.input_bits and a.activation == ModelConfig().activation
    assert a.seed == JobConfig().seed
    # and these are the documented values
    assert (a.levels, a.picker, a.arch, a.arith, a.tunable) == (8, "auto",
                                                                 "parallel", "auto", "all")
    s = _parse("spec", "--inputs", "4", "--outputs", "2", "-o", "s.json")
    assert (s.levels, s.picker, s.arith, s.tunable) == (q.K, q.picker, "auto", "all")
    assert _parse("sim", "s.json").simulator == SimulateConfig().engine.value == "verilator"


def test_cli_defaults_follow_the_config(monkeypatch):
    """The parser reads its defaults from the dataclasses at build time: a changed default
    shows up in the CLI (one source of truth, not two equal copies)."""
    @dataclasses.dataclass(frozen=True)
    class Other(QuantiseConfig):
        picker: str = "pow2"
        K: int = 5
        tunable: Tunable = Tunable.NONE

    monkeypatch.setattr(cli, "QuantiseConfig", Other)
    a = _parse("quantise", "w.npz", "-o", "n.json")
    assert (a.picker, a.levels, a.tunable) == ("pow2", 5, "none")


def test_cli_choices_come_from_the_model():
    p = cli.build_parser()
    sub = next(a for a in p._actions if a.dest == "verb").choices["quantise"]
    opts = {a.dest: a for a in sub._actions}
    assert tuple(opts["picker"].choices) == PICKERS
    assert list(opts["arith"].choices) == [m.value for m in Arith]
    assert list(opts["tunable"].choices) == [m.value for m in Tunable]


def test_run_flow_rejects_before_writing(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"model": {"hiden": [8]}}))
    with pytest.raises(InputError, match=r"unknown key \[model\] hiden; did you mean 'hidden'\?"):
        flow.run_flow(p, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_trained_mlp_larger_than_a_layer_is_refused_before_training():
    with pytest.raises(InputError, match=r"a 65535 x 65535 layer has 4,294,836,225 weights"):
        FlowConfig.from_dict({"model": {"hidden": [65535, 65535]}})
    assert FlowConfig.from_dict({"model": {"hidden": [2048, 2048]}}).model.hidden == (2048, 2048)
