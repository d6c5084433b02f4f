"""The simulation records and the bench configurations: exact JSON round trips in the shape the
run folder's files have, defaults in one place, path relocation."""

import dataclasses
import json

import numpy as np
import pytest

from lognet.boards.uart import SIM_DIVISOR
from lognet.sim.results import BoardSimResult, Mismatch, ScenarioResult, SimResult
from lognet.sim.tbconfig import BoardTbConfig, TbConfig

MISMATCH = {"top": "lognet_x", "layer": "x", "scenario": "random", "vector": 3, "output": 1,
            "expected": 5, "actual": 6, "cycle": 120, "weight_set": 0, "time_ns": 1205.0}

SCENARIO = {
    "scenario": "random", "top": "lognet_x", "layer": "x", "vectors": 10, "accepted": 10,
    "checked": 10, "dropped_by_reset": 0, "mismatches": 1,
    "first_mismatch": "lognet_x (layer x), scenario random: first mismatch at vector 3",
    "first_mismatch_detail": MISMATCH, "cycles": 400, "sim_seconds": 0.25, "commits": 1,
    "bus_writes": 12, "weight_sets": 2, "vectors_per_set": [6, 4],
    "corrupted_reference": True, "error": None,
}


def _summary(**kw):
    per = {"random": SCENARIO, "reset": {**SCENARIO, "scenario": "reset", "mismatches": 0,
                                         "first_mismatch": None,
                                         "first_mismatch_detail": None}}
    d = {
        "passed": False, "simulator": "icarus", "top": "lognet_x",
        "scenarios": ["random", "reset"], "checked": 20, "dropped_by_reset": 0,
        "mismatches": 1, "first_mismatch": SCENARIO["first_mismatch"],
        "first_mismatch_detail": MISMATCH, "cycles": 800, "sim_seconds": 0.5,
        "vectors_per_second": 40.0, "commits": 2, "build_seconds": 0.0, "build_cached": True,
        "build_dir": "/tmp/b/icarus-lognet_x-abc", "run_dir": "/tmp/b/icarus-lognet_x-abc/runs/r",
        "waves": "/tmp/b/icarus-lognet_x-abc/runs/r/lognet_x.fst", "per_scenario": per,
        "error": None, "vectors": 10, "run_seconds": 2.0, "wall_seconds": 2.5,
        "corrupted_reference": True, "wishbone": False, "seed": 3,
    }
    d.update(kw)
    return d


def test_scenario_round_trip_exact():
    r = ScenarioResult.from_json(SCENARIO)
    assert r.to_json() == SCENARIO and ScenarioResult.from_json(r.to_json()) == r
    assert r.first_mismatch_detail == Mismatch(**MISMATCH)
    assert r.vectors_per_set == (6, 4)


@pytest.mark.parametrize("extra", [{}, {"waves_note": "this run wrote VCD"},
                                   {"waves": None, "vectors_per_second": None}])
def test_sim_result_round_trip_exact(extra):
    doc = _summary(**extra)
    s = SimResult.from_json(json.loads(json.dumps(doc)))
    assert s.to_json() == doc
    assert SimResult.from_json(s.to_json()) == s
    assert s.per_scenario["reset"].first_mismatch_detail is None
    assert ("waves_note" in s.to_json()) == ("waves_note" in extra)


def test_outputs_stay_out_of_the_json():
    s = SimResult.from_json(_summary())
    with_y = dataclasses.replace(s, outputs=np.arange(6).reshape(2, 3))
    assert "outputs" not in with_y.to_json() and with_y.to_json() == s.to_json()
    moved = with_y.relocated("/tmp/b", "/out")
    assert moved.run_dir == "/out/icarus-lognet_x-abc/runs/r" and moved.waves.startswith("/out/")
    np.testing.assert_array_equal(moved.outputs, with_y.outputs)


def test_a_changed_count_is_a_different_record():
    doc = _summary()
    doc["per_scenario"]["random"] = {**SCENARIO, "checked": 9}
    assert SimResult.from_json(doc) != SimResult.from_json(_summary())


def test_board_sim_result_round_trip_exact():
    doc = {"passed": True, "error": None, "simulator": "verilator", "words": 40, "sets": 2,
           "vectors": 8, "bytes_sent": 500, "bytes_received": 90, "framing_errors": 0,
           "build_seconds": 3.5, "run_seconds": 4.0, "run_dir": "/tmp/x/runs/s0"}
    r = BoardSimResult.from_json(doc)
    assert r.to_json() == doc and BoardSimResult.from_json(r.to_json()) == r
    assert r.relocated("/tmp/x", "/o").run_dir == "/o/runs/s0"


def test_tb_config_round_trip_and_defaults(tmp_path):
    cfg = TbConfig(spec_path="/r/spec.json", vectors="/r/x.npy", top="lognet_x", seed=4,
                   p_valid=0.5, corrupt=True, latency=12, results="/r/results.json")
    doc = cfg.to_json()
    assert doc["spec"] == "/r/spec.json" and "spec_path" not in doc
    assert TbConfig.from_json(doc) == cfg
    assert TbConfig.read(cfg.write(tmp_path / "config.json")) == cfg
    # the defaults live in the record: a minimal file gets them
    bare = TbConfig.from_json({"spec": "s.json", "vectors": "x.npy", "top": "t"})
    assert bare == TbConfig(spec_path="s.json", vectors="x.npy", top="t")
    assert (bare.p_valid, bare.p_ready, bare.latency, bare.cycles_per_vector) == (0.8, 0.8, 8, 1)


def test_board_tb_config_round_trip(tmp_path):
    cfg = BoardTbConfig(spec_path="/r/spec.json", vectors="/r/x.npy",
                        weight_sets=("/r/spec.json", "/r/set1.json"), results="/r/res.json")
    assert cfg.divisor == SIM_DIVISOR and cfg.timeout_cycles == 4000
    assert BoardTbConfig.read(cfg.write(tmp_path / "c.json")) == cfg
    assert cfg.to_json()["weight_sets"] == ["/r/spec.json", "/r/set1.json"]
