"""The resource plan (lognet.hw.plan): memory bits against the register map, block packing,
the verdict, the CLI's exit codes and the auto-folding search."""

import dataclasses
import json

import pytest
from support.specs import make_spec

from lognet.cli import main
from lognet.hw import plan as P
from lognet.hw.layer import Layer
from lognet.hw.regmap import RegisterMap
from lognet.model.spec import NetworkSpec
from lognet.model.specjson import dump_spec


def mems(p, layer=0):
    out = {}
    for m in p.layers[layer].memories:
        out[m.name] = out.get(m.name, 0) + m.bits
    return out


# -- memory bits are what the layer holds --------------------------------------------------------


@pytest.mark.parametrize("fanin", [None, 5])
@pytest.mark.parametrize("arith", ["shared", "shift", "multiply"])
def test_folded_all_bits_equal_the_register_map(fanin, arith):
    spec = make_spec(12, 7, 4, fanin, arch="folded", lanes=3, arith=arith, tunable="all",
                     pow2=arith == "shift", seed=2)
    rm = RegisterMap(spec)
    got = mems(P.plan(spec, "ice40-up5k"))
    words = rm.lane_depth * len(rm.schedule)  # one row of P words per position
    assert got["conn_shadow"] == got["conn_active"] == words * rm.conn_bits
    bias = rm.region("BIAS")
    assert got["bias_shadow"] == got["bias_active"] == bias.count * bias.bits
    levels = rm.region("LEVELS")
    assert got.get("level_regs", 0) == (2 * levels.count * levels.bits if levels else 0)
    assert ("lane_rom" in got) == (fanin is not None)


def test_folded_levels_tier_holds_one_rom_copy():
    spec = make_spec(16, 6, 8, arch="folded", lanes=4, tunable="levels", seed=3)
    rm = RegisterMap(spec)
    got = mems(P.plan(spec, "ecp5-85k"))
    assert got["conn_rom"] == rm.lane_depth * len(rm.schedule) * rm.conn_bits
    assert "conn_shadow" not in got and "conn_active" not in got
    assert got["bias_shadow"] == spec.n_out * spec.bias_fmt.width


def test_folded_none_tier_has_no_writable_memory():
    spec = make_spec(16, 6, 8, arch="folded", lanes=2, tunable="none", seed=3)
    got = mems(P.plan(spec, "ice40-up5k"))
    assert set(got) == {"conn_rom"}


def test_parallel_keeps_weights_in_flip_flops():
    spec = make_spec(8, 3, 4, arch="parallel", tunable="all", seed=1)
    rm = RegisterMap(spec)
    p = P.plan(spec, "ice40-up5k")
    got = mems(p)
    conn = rm.region("CONN")
    assert got["conn_regs"] == got["conn_active_regs"] == conn.count * conn.bits
    assert set(p.total.bits) == {"ff"} and p.total.blocks == {}
    assert p.layers[0].cycles_per_vector == 1


# -- block packing --------------------------------------------------------------------------------


def place(target, width, depth, rom=False, granularity=None):
    return P.place_memory(P.MemoryUse("m", width, depth, rom=rom, granularity=granularity),
                          P.DEVICES[target])


@pytest.mark.parametrize("target,width,depth,rom,gran,kind,blocks", [
    # 8 kbit ROM: two 16-bit EBR words side by side (logic would cost 512 > 2 x 64)
    ("ice40-up5k", 32, 256, True, None, "ebr", 2),
    # a shadow written a 4-bit lane word at a time: the 16-bit mode has per-bit write enables
    ("ice40-up5k", 32, 256, False, 4, "ebr", 2),
    # 4 x 4096: four blocks whichever shape
    ("ice40-up5k", 4, 4096, True, None, "ebr", 4),
    # 64 RAM bits cost no more as flip-flops than a block
    ("ice40-up5k", 16, 4, False, None, "logic", 0),
    ("ice40-up5k", 16, 32, False, None, "ebr", 1),
    # a small ECP5 RAM goes to LUT RAM (16 x 4 per cell), a small ROM to logic
    ("ecp5-85k", 16, 4, False, None, "lutram", 4),
    ("ecp5-85k", 4, 16, True, None, "logic", 0),
    ("ecp5-85k", 36, 512, False, None, "dp16kd", 1),
    # 9-bit byte enables: a 4-bit group per byte, four per 36-bit word
    ("ecp5-85k", 64, 512, False, 4, "dp16kd", 4),
])
def test_block_counts(target, width, depth, rom, gran, kind, blocks):
    m = place(target, width, depth, rom, gran)
    assert (m.kind, m.blocks) == (kind, blocks)


# -- the verdict ----------------------------------------------------------------------------------


def test_fits_and_does_not_fit_name_the_resource():
    small = make_spec(32, 16, 8, arch="folded", lanes=4, seed=5)
    assert P.plan(small, "ice40-up5k").fits
    big = make_spec(256, 128, 8, arch="folded", lanes=8, seed=5)
    p = P.plan(big, "ice40-up5k")
    assert not p.fits
    short = {s.resource: s for s in p.shortfalls}
    assert "SB_RAM40_4K" in short and short["SB_RAM40_4K"].available == 30
    assert short["SB_RAM40_4K"].needed == p.total.blocks["ebr"] > 30
    assert "SB_RAM40_4K: needs" in str(short["SB_RAM40_4K"])
    # the same layer fits the larger ECP5
    assert P.plan(big, "ecp5-85k").fits


def test_cycles_per_vector_is_the_layer_clock_model():
    for kw in (dict(arith="shared"), dict(arith="factored"), dict(fanin=3, arith="factored"),
               dict(fanin=5, arith="shift", pow2=True)):
        spec = make_spec(12, 7, 4, arch="folded", lanes=3, seed=4, **kw)
        assert P.cycles_per_vector(spec) == Layer(spec).info.cycles_per_vector
    # beats: a fill buffer of flip-flops (12 inputs), two banks of a memory (64 inputs, the
    # plan lists them), an input-bound layer
    from lognet.hw.folded.timing import input_banked

    for n_in, ib, ob in ((12, 3, 7), (64, 8, 1), (64, 1, 0)):
        spec = make_spec(n_in, 7, 4, arch="folded", lanes=7, seed=4, in_beat=ib, out_beat=ob)
        assert P.cycles_per_vector(spec) == Layer(spec).info.cycles_per_vector
        p = P.plan(spec, "ice40-up5k")
        banks = [m for m in p.layers[0].memories if m.name == "input_banks"]
        assert bool(banks) == input_banked(spec) == (n_in == 64)
    # banked outputs: a row a beat (beats of 8, 4 lanes), a row a slot (beats of 2), and the
    # searched lanes of a folded:1 spec (the plan's own view of the lanes, not the spec's)
    from lognet.hw.folded.timing import output_banked

    for n_out, lanes, ob, banked in ((40, 4, 8, True), (36, 4, 2, True), (36, 4, 3, False),
                                     (36, 4, 0, False), (24, 4, 8, False)):
        spec = make_spec(8, n_out, 4, arch="folded", lanes=lanes, seed=4, out_beat=ob)
        assert output_banked(spec) == banked
        assert P.cycles_per_vector(spec) == Layer(spec).info.cycles_per_vector
        p = P.plan(spec, "ice40-up5k")
        banks = [m for m in p.layers[0].memories if m.name == "output_banks"]
        assert bool(banks) == banked
        if banked:
            assert banks[0].width * banks[0].depth == 2 * 8 * n_out
    # output-bound at 5 lanes (10 beats, 8 issue clocks): the output buffer of flip-flops
    # costs a clock a vector that banks would not, so the view must be the 5-lane build's
    one = make_spec(1, 40, 4, arch="folded", lanes=1, seed=4, out_beat=4)
    five = one.with_arch(dataclasses.replace(one.arch, lanes=5))
    assert output_banked(one) and not output_banked(five)
    assert P.cycles_per_vector(one, 5) == Layer(five).info.cycles_per_vector


def test_network_total_and_pace():
    a = make_spec(16, 8, 4, arch="folded", lanes=2, activation="relu", seed=1, name="a")
    b = make_spec(8, 3, 4, arch="parallel", seed=2, name="b",
                  in_fmt=dataclasses.replace(a.out_fmt))
    net = NetworkSpec("n", (a, b))
    p = P.plan(net, "ecp5-25k")
    assert p.total.lut4 == sum(la.use.lut4 for la in p.layers)
    assert p.total.bits == {k: sum(la.use.bits.get(k, 0) for la in p.layers)
                            for k in p.total.bits}
    assert p.cycles_per_vector == p.layers[0].cycles_per_vector
    assert p.inferences_per_s == pytest.approx(100e6 / p.cycles_per_vector)


def test_devices_are_the_synthesis_targets():
    from lognet.boards.synth import TARGETS

    assert set(P.DEVICES) == set(TARGETS)
    for name, t in TARGETS.items():
        assert (P.DEVICES[name].family, P.DEVICES[name].default_clock_mhz) == \
            (t.family, t.default_clock_mhz)


# -- auto-folding ---------------------------------------------------------------------------------


def two_layers():
    a = make_spec(48, 24, 8, arch="folded", lanes=1, activation="relu", seed=1, name="fc1")
    b = make_spec(24, 6, 8, arch="folded", lanes=1, seed=2, name="fc2",
                  in_fmt=dataclasses.replace(a.out_fmt))
    return NetworkSpec("net", (a, b))


def assert_balanced(net, lanes, pace):
    for layer, p in zip(net.layers, lanes):
        assert P.cycles_per_vector(layer, p) <= pace
        # one lane fewer (or any smaller count) would fall behind the pace: no idle lanes
        assert all(P.cycles_per_vector(layer, q) > pace for q in range(1, p))


def test_auto_lanes_balances_two_layers():
    net = two_layers()
    r = P.auto_lanes(net, "ecp5-85k")
    assert r.ok and r.plan.fits
    pace = r.plan.cycles_per_vector
    assert_balanced(net, r.lanes, pace)
    # on this device the fastest folding fits: fc1 runs one output per lane
    assert r.lanes[0] == 24 and r.lanes[1] < 6
    assert r.plan.inferences_per_s > P.plan(net, "ecp5-85k").inferences_per_s


def faster_lanes(net, pace):
    """The fewest lanes per layer that beat ``pace`` (the next faster balanced folding)."""
    return [min(q for q in range(1, la.n_out + 1) if P.cycles_per_vector(la, q) < pace)
            for la in net.layers]


@pytest.mark.parametrize("fill", [P.AUTO_FILL, 1.0])
def test_auto_lanes_stops_where_the_device_is_full(fill):
    net = two_layers()
    r = P.auto_lanes(net, "ice40-up5k", fill=fill)
    assert r.ok and r.plan.fits
    pace = r.plan.cycles_per_vector
    assert_balanced(net, r.lanes, pace)
    logic = ("LUT4", "FF", "ICESTORM_LC")
    assert all(r.plan.used[k] <= fill * r.plan.capacity[k] for k in logic)
    # the UP5K's logic, not the outputs, limits fc1 here: the next faster folding overfills it
    assert r.lanes[0] < net.layers[0].n_out
    over = P.plan(net, "ice40-up5k", lanes=faster_lanes(net, pace))
    assert over.cycles_per_vector < pace
    assert any(over.used[k] > fill * over.capacity[k] for k in logic)
    if fill == 1.0:
        assert not over.fits and "ICESTORM_LC" in {s.resource for s in over.shortfalls}


def test_auto_lanes_for_a_rate_uses_the_fewest_lanes():
    net = two_layers()
    fps = 1_000_000
    r = P.auto_lanes(net, "ecp5-85k", 100, fps=fps)
    assert r.ok and r.plan.inferences_per_s >= fps
    assert_balanced(net, r.lanes, 100e6 / fps)
    far = P.auto_lanes(net, "ecp5-85k", 100, fps=1e9)
    assert not far.ok and "clocks per vector" in far.reason


# -- the command ----------------------------------------------------------------------------------


def run_cli(capsys, *args):
    code = main(["plan", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes(tmp_path, capsys):
    small = tmp_path / "small.json"
    dump_spec(make_spec(32, 16, 8, arch="folded", lanes=4, seed=5), small)
    code, out, _ = run_cli(capsys, small, "--target", "ice40-up5k", "--json",
                           tmp_path / "p.json")
    assert code == 0 and out.rstrip().endswith("fits")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["fits"] and doc["layers"][0]["lanes"] == 4

    big = tmp_path / "big.json"
    dump_spec(make_spec(256, 128, 8, arch="folded", lanes=8, seed=5), big)
    code, out, err = run_cli(capsys, big, "--target", "ice40-up5k")
    assert code == 1 and "does not fit" in out and "SB_RAM40_4K" in err

    code, out, _ = run_cli(capsys, small, "--target", "ecp5-25k", "--auto", "--clock", "50")
    assert code == 0 and out.startswith("auto-folded lanes: layer folded:")

    wide = tmp_path / "wide.json"  # more lanes than outputs: the spec itself is refused on load
    dump_spec(make_spec(16, 4, 4, arch="folded", lanes=4, seed=1), wide)
    doc = json.loads(wide.read_text())
    doc["arch"]["lanes"] = 8
    wide.write_text(json.dumps(doc))
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a spec"}')
    for args, needle in (((small, "--target", "ice40-hx8k"), "unknown target"),
                         ((wide, "--target", "ice40-up5k"), "at most 4 lanes"),
                         ((bad, "--target", "ice40-up5k"), "bad.json"),
                         ((small, "--target", "ice40-up5k", "--fps", "10"), "--auto"),
                         ((small, "--target", "ice40-up5k", "--fill", "0.5"), "--auto")):
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and err.startswith("lognet: error: ") and needle in err, err
        assert len(err.strip().splitlines()) == 1


def test_plan_runs_without_amaranth(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.json"
    dump_spec(make_spec(12, 7, 4, 5, arch="folded", lanes=3, arith="factored", seed=1), path)
    code = ("import sys; from lognet.model.specjson import load_spec; from lognet.hw import plan;"
            f"p = plan.plan(load_spec({str(path)!r}), 'ecp5-85k'); plan.format_plan(p);"
            "plan.auto_lanes(load_spec(" + repr(str(path)) + "), 'ice40-up5k');"
            "print(sorted(m for m in sys.modules if 'amaranth' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
