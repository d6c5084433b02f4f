"""UART receiver and transmitter in Amaranth's simulator."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from lognet.base.errors import InputError
from lognet.boards.protocol import frame_byte
from lognet.boards.uart import UARTRx, UARTTx, uart_divisor


def test_divisor():
    assert uart_divisor(12e6, 115200) == 104
    assert uart_divisor(25e6, 115200) == 217
    with pytest.raises(InputError, match="too fast"):
        uart_divisor(12e6, 12_000_000)
    with pytest.raises(InputError, match="off"):
        uart_divisor(1e6, 115200)     # 9 clocks per bit: 3.5 % off
    with pytest.raises(InputError):
        uart_divisor(12e6, 0)


@pytest.mark.parametrize("div", [4, 7, 16])
def test_loopback_random_bytes_and_gaps(div):
    rng = random.Random(div)
    data = [rng.randrange(256) for _ in range(24)]
    m = Module()
    m.submodules.tx = tx = UARTTx(div)
    m.submodules.rx = rx = UARTRx(div)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def source(ctx):
        for b in data:
            ctx.set(tx.i_stream.payload, b)
            ctx.set(tx.i_stream.valid, 1)
            await ctx.tick().until(tx.i_stream.ready)
            ctx.set(tx.i_stream.valid, 0)
            await ctx.tick().repeat(rng.randrange(1, 3 * div))

    async def sink(ctx):
        ctx.set(rx.o_stream.ready, 1)
        while len(got) < len(data):
            await ctx.tick()
            if ctx.get(rx.o_stream.valid):
                got.append(ctx.get(rx.o_stream.payload))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(len(data) * 16 * div * 1e-6)
    assert got == data


def _frame(byte, stop=1):
    """The 8N1 frame of ``byte`` with its stop bit replaced by ``stop``."""
    return [*frame_byte(byte)[:-1], stop]


def test_receiver_drops_framing_errors_and_overruns():
    div = 5
    rx = UARTRx(div)
    got, overruns = [], []

    async def line(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(3)
        for byte, stop in [(0x55, 0), (0xA5, 1), (0x3C, 1), (0x81, 1)]:
            for bit in _frame(byte, stop):
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(div)
            ctx.set(rx.rx, 1)
            await ctx.tick().repeat(div)

    async def sink(ctx):
        # take the first good byte at once, then leave the stream stalled: later bytes overrun
        for _ in range(60 * div):
            await ctx.tick()
            if ctx.get(rx.overrun):
                overruns.append(1)
            if ctx.get(rx.o_stream.valid) and not got:
                got.append(ctx.get(rx.o_stream.payload))
                ctx.set(rx.o_stream.ready, 1)
                await ctx.tick()
                ctx.set(rx.o_stream.ready, 0)
        got.append(ctx.get(rx.o_stream.payload) if ctx.get(rx.o_stream.valid) else None)

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_testbench(sink)
    sim.run()
    # 0x55 had a bad stop bit; 0xA5 taken; 0x3C waits (held, never replaced); 0x81 overran
    assert got == [0xA5, 0x3C]
    assert len(overruns) == 1

