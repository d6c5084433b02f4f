"""The command interpreter between a byte stream (the UART) and a core's ports.

It speaks the protocol of :mod:`lognet.boards.protocol`: bytes come in on ``rx``, answers go
out on ``tx``, and the core is driven through ``i_stream``, ``o_stream`` and ``cfg`` (the core's
own port signatures, flipped), so ``wiring.connect`` joins the two.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from lognet.hw.regmap import ADDR_CTRL, ADDR_STATUS, CTRL_COMMIT, STATUS_PENDING_BIT

from . import protocol as P

__all__ = ["Bridge"]


class Bridge(wiring.Component):
    """Protocol engine in front of one core.

    Ports: ``rx`` (bytes in), ``tx`` (bytes out), and ``i_stream``/``o_stream``/``cfg`` with the
    core's signatures flipped. ``busy`` is high while a command is being handled.

    Latency: a WRITE is on the bus one clock after its last argument byte, a READ's data is sent
    three clocks after it; SEND offers the vector the clock after its last byte and holds it
    until the core takes it. Throughput: bounded by the byte streams (the UART), one byte per
    clock at most; one command at a time, one vector in flight (``depth`` 1).

    Parameters
    ----------
    core:
        The core: its signature and its ``info`` record
        (:class:`~lognet.hw.arch.CoreInfo`: sizes, formats, address width).
    idle_timeout:
        Clocks without a byte after which a half-received command is dropped (0: never).
    """

    def __init__(self, core, *, idle_timeout: int = 0):
        c = core.info
        self.info = P.DeviceInfo(c.n_in, c.n_out, c.in_width, c.out_width, bool(c.in_signed),
                                 bool(c.out_signed), c.addr_width, depth=1)
        self.idle_timeout = idle_timeout
        members = {k: core.signature.members[k].flip() for k in ("i_stream", "o_stream", "cfg")}
        members["rx"] = In(stream.Signature(8))
        members["tx"] = Out(stream.Signature(8))
        members["busy"] = Out(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        info = self.info
        rx, tx, cfg = self.rx, self.tx, self.cfg
        aw = info.addr_width
        bi, bo = P.element_bytes(info.in_width), P.element_bytes(info.out_width)
        iw, ow = info.in_width, info.out_width

        cmd = Signal(8)
        arg = Signal(64)            # argument bytes, shifted in from the top (little-endian)
        count = Signal(range(max(info.send_len, info.recv_len, P.INFO_LEN, 8) + 1))
        ebyte = Signal(range(max(bi, bo)))   # byte within the current element
        ebuf = Signal(8 * bi)       # bytes of the input element being received
        vec_in = Signal(info.n_in * iw)
        vec_out = Signal(info.n_out * ow)
        word = Signal(32)           # READ data, shifted out a byte at a time
        status = Signal(8)          # ACK or NAK
        idle = Signal(range(max(self.idle_timeout, 1) + 1))
        after = Signal(2)           # what follows the status byte
        NONE, ID, WORD, VEC = range(4)

        m.d.comb += [
            Value.cast(self.i_stream.payload).eq(vec_in),
            cfg.w_data.eq(arg[32:]),
        ]
        rom = Array(Const(b, 8) for b in info.to_bytes())

        # output element: sign- or zero-extended to whole bytes, byte `ebyte` of it
        elem = vec_out[:ow]
        ext = elem.as_signed() if info.out_signed else elem
        ext_bytes = Signal(8 * bo)
        m.d.comb += ext_bytes.eq(ext)
        out_byte = Array(ext_bytes[8 * k:8 * k + 8] for k in range(bo))[ebyte]

        def arg_phase():
            # one argument byte: counters, the idle timer
            m.d.sync += idle.eq(0)
            m.d.sync += count.eq(count + 1)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                m.d.sync += [count.eq(0), ebyte.eq(0), idle.eq(0)]
                with m.If(rx.valid):
                    m.d.sync += cmd.eq(rx.payload)
                    with m.Switch(rx.payload):
                        with m.Case(P.CMD_ID):
                            m.d.sync += [status.eq(P.ACK), after.eq(ID)]
                            m.next = "STATUS"
                        with m.Case(P.CMD_WRITE, P.CMD_READ):
                            m.next = "ARGS"
                        with m.Case(P.CMD_COMMIT):
                            m.next = "COMMIT_W"
                        with m.Case(P.CMD_SEND):
                            m.next = "VEC_IN"
                        with m.Case(P.CMD_RECV):
                            m.next = "WAIT_OUT"
                        with m.Default():
                            m.d.sync += [status.eq(P.NAK), after.eq(NONE)]
                            m.next = "STATUS"

            with m.State("ARGS"):
                m.d.comb += rx.ready.eq(1)
                m.d.comb += self.busy.eq(1)
                need = Mux(cmd == P.CMD_WRITE, 8, 4)
                with m.If(rx.valid):
                    arg_phase()
                    m.d.sync += arg.eq(Cat(arg[8:], rx.payload))
                    with m.If(count == need - 1):
                        m.next = "BUS"
                self._timeout(m, rx, idle)

            with m.State("BUS"):
                m.d.comb += self.busy.eq(1)
                with m.If(cmd == P.CMD_WRITE):
                    m.d.comb += [cfg.addr.eq(arg[:aw]), cfg.w_en.eq(1)]
                    m.d.sync += [status.eq(P.ACK), after.eq(NONE)]
                    m.next = "STATUS"
                with m.Else():
                    m.d.comb += [cfg.addr.eq(arg[32:32 + aw]), cfg.r_en.eq(1)]
                    m.next = "READ_DATA"

            with m.State("READ_DATA"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [word.eq(cfg.r_data), status.eq(P.ACK), after.eq(WORD)]
                m.next = "STATUS"

            with m.State("COMMIT_W"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [cfg.addr.eq(ADDR_CTRL), cfg.w_en.eq(1)]
                m.d.comb += cfg.w_data.eq(CTRL_COMMIT)
                m.next = "COMMIT_R"

            with m.State("COMMIT_R"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [cfg.addr.eq(ADDR_STATUS), cfg.r_en.eq(1)]
                m.next = "COMMIT_CHECK"

            with m.State("COMMIT_CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If(cfg.r_data[STATUS_PENDING_BIT]):
                    m.next = "COMMIT_R"
                with m.Else():
                    m.d.sync += [status.eq(P.ACK), after.eq(NONE)]
                    m.next = "STATUS"

            with m.State("VEC_IN"):
                m.d.comb += rx.ready.eq(1)
                m.d.comb += self.busy.eq(1)
                with m.If(rx.valid):
                    arg_phase()
                    full = Cat(ebuf[8:], rx.payload) if bi > 1 else rx.payload
                    m.d.sync += ebuf.eq(full)
                    with m.If(ebyte == bi - 1):
                        m.d.sync += [ebyte.eq(0), vec_in.eq(Cat(vec_in[iw:], full[:iw]))]
                    with m.Else():
                        m.d.sync += ebyte.eq(ebyte + 1)
                    with m.If(count == info.send_len - 1):
                        m.next = "PUSH"
                self._timeout(m, rx, idle)

            with m.State("PUSH"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += self.i_stream.valid.eq(1)
                with m.If(self.i_stream.ready):
                    m.d.sync += [status.eq(P.ACK), after.eq(NONE)]
                    m.next = "STATUS"

            with m.State("WAIT_OUT"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += self.o_stream.ready.eq(1)
                with m.If(self.o_stream.valid):
                    m.d.sync += [vec_out.eq(Value.cast(self.o_stream.payload)),
                                 status.eq(P.ACK), after.eq(VEC)]
                    m.next = "STATUS"

            with m.State("STATUS"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(status)]
                with m.If(tx.ready):
                    m.d.sync += [count.eq(0), ebyte.eq(0)]
                    with m.Switch(after):
                        with m.Case(ID):
                            m.next = "SEND_ID"
                        with m.Case(WORD):
                            m.next = "SEND_WORD"
                        with m.Case(VEC):
                            m.next = "SEND_VEC"
                        with m.Default():
                            m.next = "IDLE"

            with m.State("SEND_ID"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(rom[count])]
                with m.If(tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == P.INFO_LEN - 1):
                        m.next = "IDLE"

            with m.State("SEND_WORD"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(word[:8])]
                with m.If(tx.ready):
                    m.d.sync += [count.eq(count + 1), word.eq(word >> 8)]
                    with m.If(count == 3):
                        m.next = "IDLE"

            with m.State("SEND_VEC"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(out_byte)]
                with m.If(tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(ebyte == bo - 1):
                        m.d.sync += [ebyte.eq(0), vec_out.eq(vec_out >> ow)]
                    with m.Else():
                        m.d.sync += ebyte.eq(ebyte + 1)
                    with m.If(count == info.recv_len - 1):
                        m.next = "IDLE"
        return m

    def _timeout(self, m, rx, idle):
        if not self.idle_timeout:
            return
        with m.If(~rx.valid):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.idle_timeout - 1):
                m.next = "IDLE"
