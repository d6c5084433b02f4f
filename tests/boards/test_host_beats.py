"""Cores that take vectors and give outputs in beats, behind the UART top in Amaranth's
simulator: the host sees the same protocol, byte for byte, as with a whole-vector core; the
bridge holds one beat, not a vector; a SEND dropped after some of its beats reached the core
leaves the core in step; folded layers and a network with beats are bit-exact against the
reference through the UART, across a reload of their weights."""

import random
import re

import numpy as np
import pytest
from amaranth.back import verilog
from support.specs import perturbed

from lognet.boards import protocol as P
from lognet.boards.bridge import Bridge
from lognet.boards.host import LognetDevice
from lognet.boards.simlink import SimSerial
from lognet.boards.top import UARTTop
from lognet.boards.uart import SIM_DIVISOR
from lognet.hw.arch import resolve_spec
from lognet.hw.export import build_core
from lognet.hw.regmap import config_writes
from lognet.model.reference import reference
from lognet.model.spec import NetworkSpec

DIV = SIM_DIVISOR
IDLE = 400  # clocks of silence that drop a half-received command


def link(core, **kw):
    return SimSerial(UARTTop(core, DIV, idle_timeout=IDLE), **kw)


def u32(v):
    return v & 0xFFFFFFFF


def vectors(core, n, seed):
    rng = random.Random(seed)
    lo, hi = ((-(1 << (core.in_width - 1)), (1 << (core.in_width - 1)) - 1) if core.in_signed
              else (0, (1 << core.in_width) - 1))
    return [[rng.randint(lo, hi) for _ in range(core.n_in)] for _ in range(n)]


# (n_in, n_out, in_width, out_width, in_signed, out_signed, in_beat, out_beat): one- and
# two-byte elements, one element a beat, whole vectors on one side only
SHAPES = [(4, 3, 8, 12, True, True, 2, 1), (6, 4, 9, 16, False, False, 3, 2),
          (4, 3, 8, 12, True, True, 1, 0), (5, 6, 6, 10, False, True, 0, 2),
          (8, 4, 7, 8, True, True, 4, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_beats_infer_and_commit(adder_core, shape):
    *sizes, ib, ob = shape
    core = adder_core(*sizes, in_beat=ib, out_beat=ob)
    dev = LognetDevice(link(core))
    assert dev.id() == P.DeviceInfo(*sizes, core.addr_width, 1)  # ID knows nothing of beats
    X = vectors(core, 5, seed=sum(shape))
    assert dev.infer(X) == [core.model(x, [0] * core.n_out) for x in X]
    regs = [(37 * j - 50) % (1 << min(core.out_width - 1, 10)) for j in range(core.n_out)]
    dev.load_spec_weights([(8 + j, u32(r)) for j, r in enumerate(regs)])
    assert dev.infer(X) == [core.model(x, regs) for x in X]


def _session(core) -> list[bytes]:
    """Every answer byte of a fixed session (writes, commit, vectors in and out)."""
    s = link(core)
    answers = []
    frames = [P.encode_write(9, 7), P.encode_write(10, u32(-3)), b"C"]
    for x in vectors(core, 4, seed=5):
        frames += [b"S" + P.encode_vector(x, core.in_width, core.in_signed), b"O"]
    for f in frames:
        s.write(f)
        answers.append(s.read(1 + (P.element_bytes(core.out_width) * core.n_out
                                   if f == b"O" else 0)))
    assert s.framing_errors == 0
    return answers


def test_beats_are_invisible_on_the_line(adder_core):
    """The same bytes answer the same session whatever the beats; the documented example."""
    whole = _session(adder_core(n_in=4, n_out=3))
    for ib, ob in [(2, 1), (1, 3), (4, 1), (1, 1)]:
        assert _session(adder_core(n_in=4, n_out=3, in_beat=ib, out_beat=ob)) == whole
    s = link(adder_core(n_in=4, n_out=3, in_beat=2, out_beat=1))
    exchange = [
        (b"W\x08\x00\x00\x00\x05\x00\x00\x00", b"\x06"),
        (b"W\x09\x00\x00\x00\x07\x00\x00\x00", b"\x06"),
        (b"W\x0a\x00\x00\x00\xfd\xff\xff\xff", b"\x06"),
        (b"C", b"\x06"),
        (b"S\x01\x02\x03\xfc", b"\x06"),
        (b"O", b"\x06\x07\x00\x09\x00\xff\xff"),
    ]
    for sent, answer in exchange:
        s.write(sent)
        assert s.read(len(answer)) == answer


def _widest_register(top_verilog: str) -> int:
    return max(int(w) + 1 for w in re.findall(r"^\s*reg \[(\d+):0\]", top_verilog, re.M))


def test_bridge_holds_one_beat_not_a_vector(adder_core):
    """The bridge of the 64-input, 8-bit layer of the demo: its widest register is one beat
    (8 elements in, 4 out), where with whole vectors it is the 512-bit input vector."""
    def widest(**beats):
        core = adder_core(n_in=64, n_out=32, in_width=8, out_width=8, **beats)
        core._MustUse__silence = True  # only the bridge is converted
        return _widest_register(verilog.convert(Bridge(core, idle_timeout=IDLE), name="bridge",
                                                emit_src=False))

    assert widest() == 64 * 8
    assert widest(in_beat=8, out_beat=4) == max(8 * 8, 64)  # a beat in; READ's 64 argument bits
    core = adder_core(n_in=6, in_beat=4)
    core._MustUse__silence = True  # refused before it is built
    with pytest.raises(ValueError, match="input beat of 4 elements does not divide the 6"):
        Bridge(core)


@pytest.mark.parametrize("ib,ob,cut", [(2, 1, 3), (2, 1, 2), (2, 1, 1), (3, 2, 5), (1, 4, 5),
                                       (2, 0, 4)])
def test_send_dropped_mid_vector_keeps_the_core_in_step(adder_core, ib, ob, cut):
    """A SEND cut after ``cut`` of its 6 elements (some beats already in the core) is dropped
    after the idle timeout; the host resynchronises with ID and the next vectors come out right
    (the dropped vector's beats were completed and its output thrown away)."""
    core = adder_core(n_in=6, n_out=4, in_beat=ib, out_beat=ob)
    s = link(core, timeout_cycles=2000)
    dev = LognetDevice(s)
    regs = [3, -9, 100, 0]
    dev.load_spec_weights([(8 + j, u32(r)) for j, r in enumerate(regs)])
    X = vectors(core, 3, seed=cut)
    s.write(b"S" + P.encode_vector(X[0], core.in_width, core.in_signed)[:cut])
    assert s.read(1) == b""        # the device waits for the rest ...
    s._run(3 * IDLE)               # ... until the line has been quiet long enough
    assert dev.id().n_in == 6
    assert dev.infer(X) == [core.model(x, regs) for x in X]
    assert s.read(1) == b""        # nothing left over from the dropped vector


def _next_set(spec):
    if isinstance(spec, NetworkSpec):
        return NetworkSpec(spec.name, tuple(perturbed(la, 30 + i)
                                            for i, la in enumerate(spec.layers)))
    return perturbed(spec, 30)


def test_generated_core_with_beats_through_the_uart(beat_spec):
    spec = resolve_spec(beat_spec)
    core = build_core(spec)
    assert 1 < core.info.in_beats and 1 < core.info.out_beats
    dev = LognetDevice(link(core))
    dev.check_core()
    fmt = spec.in_fmt
    X = np.random.default_rng(2).integers(fmt.min_int, fmt.max_int + 1, (4, spec.n_in))
    for k, new in enumerate([spec, _next_set(spec)]):
        if k:
            dev.load_spec_weights(config_writes(spec, new))  # commits too
        got = np.array(dev.infer(X.tolist()), dtype=np.int64)
        np.testing.assert_array_equal(got, reference(new, X))


def test_single_copy_core_is_paused_for_its_weights_through_the_uart():
    """A core with one copy of its connection words: the host pauses it (CTRL bit 1, STATUS
    bit 1) before writing them, and the commit resumes it."""
    from lognet.boards.host import needs_pause
    from lognet.model.spec import with_single_copy

    spec = resolve_spec(with_single_copy(_beat_layer_spec()))
    assert needs_pause(spec)
    core = build_core(spec)
    dev = LognetDevice(link(core))
    fmt = spec.in_fmt
    X = np.random.default_rng(3).integers(fmt.min_int, fmt.max_int + 1, (3, spec.n_in))
    new = _next_set(spec)
    np.testing.assert_array_equal(np.array(dev.infer(X.tolist())), reference(spec, X))
    dev.load_spec_weights(config_writes(spec, new), pause=True)
    np.testing.assert_array_equal(np.array(dev.infer(X.tolist())), reference(new, X))
    # retune pauses by itself: back to the first set, words that differ only
    assert dev.retune(new, spec, core=spec) > 0
    np.testing.assert_array_equal(np.array(dev.infer(X.tolist())), reference(spec, X))


def _beat_layer_spec():
    from support.specs import make_spec

    return make_spec(12, 6, 4, arch="folded", lanes=3, seed=8, in_beat=4, out_beat=2)
