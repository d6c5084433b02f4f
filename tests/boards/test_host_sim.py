"""The host driver against the simulated board top (UART + bridge + test-double core) in
Amaranth's simulator: the protocol end to end, byte for byte on the UART lines."""

import random

import pytest

from lognet.base.errors import InputError
from lognet.boards import protocol as P
from lognet.boards.host import DeviceError, DeviceTimeout, LognetDevice
from lognet.boards.simlink import SimSerial
from lognet.boards.top import UARTTop
from lognet.boards.uart import SIM_DIVISOR

DIV = SIM_DIVISOR  # clocks per UART bit: fast simulation
IDLE = 400         # clocks of silence that drop a half-received command


def device(core, **kw):
    return LognetDevice(SimSerial(UARTTop(core, DIV, idle_timeout=IDLE), **kw))


def u32(v):
    return v & 0xFFFFFFFF


def test_id_reports_the_core(adder_core):
    core = adder_core(n_in=5, n_out=3, in_width=6, out_width=10, in_signed=False,
                      out_signed=True)
    info = device(core).id()
    assert info == P.DeviceInfo(5, 3, 6, 10, False, True, core.addr_width, 1)


def test_config_read_write_and_core_header(adder_core):
    core = adder_core()
    dev = device(core)
    dev.check_core()
    assert dev.read_config(1) == 1            # VERSION
    assert dev.read_config(3) == 0            # STATUS: nothing pending
    dev.write_config(8, 0x123)
    dev.write_config(9, u32(-5))
    assert dev.read_config(8) == 0x123
    assert dev.read_config(9) == u32(-5)      # the double sign-extends its 12-bit registers
    with pytest.raises(InputError, match="address"):
        dev.write_config(1 << core.addr_width, 0)


def test_infer_matches_model_and_commit_switches_sets(adder_core):
    core = adder_core(n_in=4, n_out=3, in_width=8, out_width=12)
    dev = device(core)
    rng = random.Random(1)
    X = [[rng.randint(-128, 127) for _ in range(4)] for _ in range(6)]
    assert dev.infer(X) == [core.model(x, [0, 0, 0]) for x in X]
    regs = [100, -200, 2047]
    n = dev.load_spec_weights([(8 + j, u32(r)) for j, r in enumerate(regs)], commit=False)
    assert n == 3
    # written but not committed: the old set still computes
    assert dev.infer(X[:2]) == [core.model(x, [0, 0, 0]) for x in X[:2]]
    dev.commit()
    assert dev.read_config(3) == 0
    assert dev.infer(X) == [core.model(x, regs) for x in X]


def test_extremes_and_unsigned_wide_outputs(adder_core):
    core = adder_core(n_in=3, n_out=2, in_width=9, out_width=16, in_signed=False,
                      out_signed=False)
    dev = device(core)
    dev.load_spec_weights([(8, 0xFFFF), (9, 1)])
    X = [[511, 511, 511], [0, 0, 0], [1, 0, 510]]
    assert dev.infer(X) == [core.model(x, [0xFFFF, 1]) for x in X]
    with pytest.raises(InputError, match="does not fit"):
        dev.send([512, 0, 0])
    with pytest.raises(InputError, match="3"):
        dev.send([1, 2])


def test_documented_example_byte_for_byte(adder_core):
    core = adder_core(n_in=4, n_out=3, in_width=8, out_width=12)
    link = SimSerial(UARTTop(core, DIV, idle_timeout=IDLE))
    dev = LognetDevice(link)
    dev.write_config(9, 7)
    dev.write_config(10, u32(-3))
    exchange = [
        (b"W\x08\x00\x00\x00\x05\x00\x00\x00", b"\x06"),
        (b"C", b"\x06"),
        (b"S\x01\x02\x03\xfc", b"\x06"),
        (b"O", b"\x06\x07\x00\x09\x00\xff\xff"),
    ]
    for sent, answer in exchange:
        link.write(sent)
        assert link.read(len(answer)) == answer
    assert link.framing_errors == 0  # every frame from the top had its start and stop bits


def test_uart_top_takes_a_component_not_a_factory(adder_core):
    with pytest.raises(TypeError, match="Component"):
        UARTTop(lambda: adder_core(), DIV)


def test_unknown_command_is_nak_and_link_recovers(adder_core):
    link = SimSerial(UARTTop(adder_core(), DIV, idle_timeout=IDLE))
    link.write(b"?")
    assert link.read(1) == bytes([P.NAK])
    dev = LognetDevice(link)
    assert dev.id().n_in == 4


def test_half_command_is_dropped_after_idle_timeout(adder_core):
    link = SimSerial(UARTTop(adder_core(), DIV, idle_timeout=IDLE))
    link.write(b"W\x08\x00")                 # a WRITE cut short
    assert link.read(1) == b""               # the device waits for the rest ...
    link._run(2 * IDLE)                      # ... until the line has been quiet long enough
    dev = LognetDevice(link)
    assert dev.id().n_out == 3
    assert dev.read_config(8) == 0           # nothing was written


def test_silent_device_times_out(adder_core):
    link = SimSerial(UARTTop(adder_core(), DIV, idle_timeout=IDLE), timeout_cycles=2000)
    dev = LognetDevice(link)
    with pytest.raises(DeviceTimeout, match="RECV"):
        dev.receive()                        # no vector was sent: no output ever comes


class Scripted:
    """A transport that answers with fixed bytes."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.sent = b""

    def write(self, data):
        self.sent += data

    def read(self, n):
        out, self.answer = self.answer[:n], self.answer[n:]
        return out


def test_garbage_answers_are_device_errors():
    with pytest.raises(DeviceError, match="NAK"):
        LognetDevice(Scripted(bytes([P.NAK]))).id()
    with pytest.raises(DeviceError, match="0x49"):
        LognetDevice(Scripted(b"I")).id()
    bad = bytes([P.ACK]) + b"XXXX" + bytes(10)
    with pytest.raises(DeviceError, match="not a lognet board"):
        LognetDevice(Scripted(bad)).id()


def test_serial_port_by_name():
    # pyserial's loopback URL echoes the command byte back: not an ACK
    with LognetDevice("loop://", timeout=0.2) as dev:
        with pytest.raises(DeviceError):
            dev.id()
    with pytest.raises(InputError, match="cannot open serial port"):
        LognetDevice("/dev/lognet-no-such-port")
