"""Tier 2: the layer Components in Amaranth's simulator against the integer reference.

Every case streams random vectors with random valid gaps and random ready backpressure, and
reprograms the weights while the stream runs; outputs must equal ``reference()`` exactly, each
vector with the weight set that was active when it entered.
"""

import dataclasses
import zlib

import numpy as np
import pytest
from support.amsim import Reprogram, expected, run_core
from support.specs import make_spec, perturbed

from lognet.hw.arch import resolve_arch
from lognet.hw.layer import Layer
from lognet.hw.regmap import RegisterMap
from lognet.model.arch import SpecError
from lognet.model.reference import reference

ARCHES = [("parallel", 1), ("folded", 1), ("folded", 3)]
ARITHS = ["shared", "factored", "shift", "multiply"]
TUNABLES = ["all", "levels", "none"]


def check(spec, *, n=48, seed=0, reprogram=True, p_valid=0.7, p_ready=0.6):
    dut = Layer(spec)
    if reprogram and spec.arch.tunable.value != "none":
        # enough vectors that the stream outlasts two weight loads (one bus write per cycle)
        loads = 5 * len(RegisterMap(dut.spec).writes())
        n = max(n, int(loads // max(1, dut.info.cycles_per_vector)) + 24)
    rng = np.random.default_rng(seed)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (n, spec.n_in))
    specs = [spec]
    progs = []
    if reprogram and spec.arch.tunable.value != "none":
        a = perturbed(spec, seed, topology_fixed=spec.arch.tunable.value != "all")
        b = perturbed(spec, seed + 1, topology_fixed=spec.arch.tunable.value != "all")
        specs += [a, b]
        progs = [Reprogram(n // 6, a), Reprogram(n // 2, b)]
    r = run_core(dut, spec, X, reprograms=progs, p_valid=p_valid, p_ready=p_ready, seed=seed)
    assert len(r.outputs) == n, "vectors were dropped or duplicated"
    np.testing.assert_array_equal(r.outputs, expected(specs, X, r.generations))
    if progs:
        # the stream really ran across both commits
        assert set(r.generations) == {0, 1, 2}, r.generations
    return r


@pytest.mark.parametrize("tunable", TUNABLES)
@pytest.mark.parametrize("arith", ARITHS)
@pytest.mark.parametrize("arch,lanes", ARCHES)
def test_modes(arch, lanes, arith, tunable):
    kw = dict(arch=arch, lanes=lanes, arith=arith, tunable=tunable, pow2=arith == "shift",
              activation="relu", seed=zlib.crc32(f"{arch}{arith}".encode()) % 1000)
    if arith == "multiply" and tunable == "levels":
        # the IR itself refuses a combination no generator can build
        with pytest.raises(SpecError, match="arith=multiply stores plain weights"):
            make_spec(7, 5, 4, 5, **kw)
        return
    check(make_spec(7, 5, 4, 5, **kw), n=120)


SHAPES = {
    "1in_1out_K2": dict(n_in=1, n_out=1, K=2, fanin=1),
    "fanin1": dict(n_in=6, n_out=4, K=3, fanin=1),
    "K16": dict(n_in=9, n_out=3, K=16, fanin=9, level_bits=8),
    "wide": dict(n_in=5, n_out=3, K=8, fanin=4, in_bits=16, level_bits=14, out_bits=16,
                 bias_bits=30),
    "unsigned_in": dict(n_in=8, n_out=4, K=4, fanin=6, in_signed=False),
    "floor_wrap": dict(n_in=6, n_out=5, K=4, fanin=6, rounding="floor", saturate=False),
    "half_up": dict(n_in=6, n_out=5, K=4, fanin=3, rounding="half_up"),
    "apot": dict(n_in=6, n_out=4, K=5, fanin=5, apot=True),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("arith", ARITHS)
@pytest.mark.parametrize("arch,lanes", [("parallel", 1), ("folded", 2)])
def test_shapes(shape, arith, arch, lanes):
    kw = dict(SHAPES[shape])
    if arith == "shift" and not kw.get("apot"):
        kw["pow2"] = True
    if kw.get("apot") and arith != "shift":
        kw["apot"] = False
    n_conn = kw["n_out"] * (kw["fanin"] if kw.get("fanin") is not None else kw["n_in"])
    lanes = min(lanes, n_conn, kw["n_out"])
    spec = make_spec(**kw, arch=arch, lanes=lanes, arith=arith, seed=len(shape),
                     activation="none" if "wrap" in shape else "relu")
    check(spec, n=40, seed=3)


@pytest.mark.parametrize("arch,lanes", [("parallel", 1), ("folded", 2)])
def test_extremes(arch, lanes):
    """The largest-magnitude inputs (all min_int) with all-max levels, all-negative signs and
    the largest bias reach the top of the derived accumulator range; all-positive signs with
    the smallest bias reach the bottom; the hardware agrees exactly."""
    base = make_spec(6, 3, 2, 6, arch=arch, lanes=lanes, arith="multiply", out_bits=12,
                     saturate=False, rounding="floor")
    top = base.level_fmt.max_int
    spec = dataclasses.replace(
        base, levels=(1, top), indices=[[1] * 6] * 3, signs=[[1] * 6, [0] * 6, [0, 1] * 3],
        bias=(base.bias_fmt.max_int, base.bias_fmt.min_int, 0))
    X = np.array([[spec.in_fmt.max_int] * 6, [spec.in_fmt.min_int] * 6,
                  [spec.in_fmt.max_int, spec.in_fmt.min_int] * 3] * 4)
    from lognet.model.reference import reference_acc

    acc = reference_acc(spec, X)
    assert (acc.min(), acc.max()) == spec.acc_range
    assert acc[1, 0] == 6 * -spec.in_fmt.min_int * top + (spec.bias_fmt.max_int << spec.bias_shift)
    r = run_core(Layer(spec), spec, X, p_valid=1.0, p_ready=1.0)
    np.testing.assert_array_equal(r.outputs, expected([spec], X, [0] * len(X)))


@pytest.mark.parametrize("arch,lanes", [("parallel", 1), ("folded", 2)])
def test_wrong_reference_fails(arch, lanes):
    """The checker is able to fail: a reference with one level off by one LSB disagrees."""
    spec = make_spec(6, 4, 4, 6, arch=arch, lanes=lanes, out_bits=16, seed=5)
    rng = np.random.default_rng(0)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (30, spec.n_in))
    r = run_core(Layer(spec), spec, X)
    wrong = dataclasses.replace(spec, levels=spec.levels[:-1] + (spec.levels[-1] + 1,))
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(r.outputs, expected([wrong], X, r.generations))
    np.testing.assert_array_equal(r.outputs, expected([spec], X, r.generations))


@pytest.mark.parametrize("arch,lanes", [("parallel", 1), ("folded", 2)])
@pytest.mark.parametrize("arith", ["shared", "multiply", "shift"])
def test_readback(arch, lanes, arith):
    """Header registers read their documented values; weight registers read back what was
    written (the shadow copy), before any commit."""
    spec = make_spec(5, 3, 4, 4, arch=arch, lanes=lanes, arith=arith, pow2=arith == "shift")
    new = perturbed(spec, 9)
    rm = RegisterMap(spec)
    ws = rm.writes(new)
    addrs = [0, 1, 3, 4, 5] + [a for a, _ in ws]
    dut = Layer(spec)
    r = run_core(dut, spec, np.zeros((1, spec.n_in), dtype=int),
                 reprograms=[Reprogram(0, new, commit=False)], reads=addrs)
    assert r.reads[0] == 0x4C474E54
    assert r.reads[1] == 1
    assert r.reads[3] == 0
    assert r.reads[4] == spec.n_in | spec.n_out << 16
    assert r.reads[5] == rm.params_word()
    for a, w in ws:
        bits = next(reg.bits for reg in rm.regions.values()
                    if reg.base <= a < reg.base + (1 << max(0, (reg.count - 1).bit_length())))
        assert r.reads[a] & ((1 << bits) - 1) == w & ((1 << bits) - 1), hex(a)


@pytest.mark.parametrize("arith", ["shared", "factored", "multiply"])
@pytest.mark.parametrize("shape", [(6, 4, 2, 4, None), (5, 3, 1, 8, None), (1, 1, 1, 2, None),
                                   (9, 5, 2, 4, 3), (16, 3, 2, 4, None), (40, 6, 2, 4, None),
                                   (30, 6, 2, 4, 12)])
def test_folded_timing_model_matches_rtl(arith, shape):
    """The manifest's latency and cycles per vector equal what the simulated RTL does, and
    consecutive vectors overlap: a layer longer than its pipeline takes ``T`` clocks per vector
    (``T + 1`` for schedules that are not regular)."""
    from lognet.hw.amsim import stream_through, transfer_latency

    n_in, n_out, P, K, fanin = shape
    spec = make_spec(n_in=n_in, n_out=n_out, K=K, fanin=fanin, arch="folded", lanes=P,
                     arith=arith, seed=2)
    core = Layer(spec)
    rng = np.random.default_rng(0)
    X = rng.integers(spec.in_fmt.min_int, spec.in_fmt.max_int + 1, (13, n_in))
    y1, c1 = stream_through(core, X[:1])
    y5, c5 = stream_through(core, X[:5])
    y13, c13 = stream_through(core, X)
    np.testing.assert_array_equal(y13, reference(spec, X))
    # latency: edges from the input transfer to the output transfer, measured on the RTL
    assert core.info.latency == transfer_latency(core, X[0])
    # stream_through counts the offering clock and the clock that reads the output
    assert core.info.latency == c1 - 1
    # eight intervals of a stream in its steady state
    assert core.info.cycles_per_vector * 8 == c13 - c5
    # the reported lane utilisation is the measured one: connections per lane-clock at full rate
    assert core.utilisation == spec.n_conn * 8 / (P * (c13 - c5))
    # equal fan-ins: whole outputs per lane, ceil(n_out / P) of them, so T = that * fan-in
    depth = -(-n_out // P) * (fanin or n_in)
    assert core.schedule_utilisation == spec.n_conn / (P * depth)
    assert core.utilisation <= core.schedule_utilisation
    if depth >= 24 and not (arith == "factored" and (fanin or n_in) <= K + 6):
        assert core.info.cycles_per_vector == depth + (fanin is not None)


def test_auto_picks_the_measured_cheapest_mode():
    """``--arith auto``: shift for power-of-two levels; for other levels factored in parallel
    builds, except fully tunable ones whose K products per input are shared by many
    connections (shared), and shared in folded builds."""
    from lognet.hw.arch import SHARED_MIN_FANOUT, choose_arith

    assert choose_arith(make_spec(6, 4, 4, pow2=True, arith="auto")).value == "shift"
    assert choose_arith(make_spec(6, 4, 4, apot=True, arith="auto")).value == "shift"
    narrow = make_spec(6, SHARED_MIN_FANOUT - 1, 4, arith="auto", level_bits=7, seed=3)
    assert any(bin(v).count("1") > 2 for v in narrow.levels)
    assert choose_arith(narrow).value == "factored"
    wide = make_spec(6, SHARED_MIN_FANOUT, 4, arith="auto", level_bits=7, seed=3)
    assert choose_arith(wide).value == "shared"
    for tier in ("levels", "none"):
        wired = make_spec(6, SHARED_MIN_FANOUT, 4, arith="auto", level_bits=7, seed=3,
                          tunable=tier)
        assert choose_arith(wired).value == "factored"
    folded = make_spec(6, 2, 4, arch="folded", lanes=2, arith="auto", level_bits=7, seed=3)
    assert choose_arith(folded).value == "shared"
    assert resolve_arch(narrow).arch.arith.value == "factored"
