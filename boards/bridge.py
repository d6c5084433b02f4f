"""The command interpreter between a byte stream (the UART) and a core's ports.

It speaks the protocol of :mod:`lognet.boards.protocol`: bytes come in on ``rx``, answers go
out on ``tx``, and the core is driven through ``i_stream``, ``o_stream`` and ``cfg`` (the core's
own port signatures, flipped), so ``wiring.connect`` joins the two.

A core that takes its vectors in beats (``info.in_beat``, docs/interfaces.md) gets each beat as
soon as its elements have arrived, while the rest of the SEND is still coming in; one that gives
its outputs in beats has each beat's elements sent before the next beat is taken. The bridge
holds one beat each way, not a vector, and the bytes on the line are the same either way.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from lognet.hw.regmap import ADDR_CTRL, ADDR_STATUS, CTRL_COMMIT, READ_LATENCY, STATUS_PENDING_BIT

from . import protocol as P

__all__ = ["Bridge"]


class Bridge(wiring.Component):
    """Protocol engine in front of one core.

    Ports: ``rx`` (bytes in), ``tx`` (bytes out), and ``i_stream``/``o_stream``/``cfg`` with the
    core's signatures flipped. ``busy`` is high while a command is being handled.

    Latency: a WRITE is on the bus one clock after its last argument byte, a READ's data is sent
    three clocks after it; SEND offers each beat (the vector, without beats) the clock after its
    last byte and holds it until the core takes it, and answers once the last beat is taken;
    RECV answers once the core offers the first beat and takes each next beat when the elements
    of the one before have been sent. Throughput: bounded by the byte streams (the UART), one
    byte per clock at most; one command at a time, one vector in flight (``depth`` 1).

    Beats of a SEND go to the core while the host is still sending, so the core must take a beat
    before the next byte is complete on the line (a byte time, ``10 * divisor`` clocks; a
    lognet core with no vector in flight takes them at once). A SEND whose bytes stop after
    some of its beats reached the core is completed with filler beats when the idle timeout
    drops it, and the output of that vector is taken and thrown away, so the core's beat count
    stays in step with the next SEND.

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
        #: elements per ``i_stream`` / ``o_stream`` transfer (the whole vector without beats)
        self.in_beat, self.out_beat = c.in_beat_size, c.out_beat_size
        for beat, n, side in ((self.in_beat, c.n_in, "input"), (self.out_beat, c.n_out, "output")):
            if not 1 <= beat <= n or n % beat:
                self._MustUse__silence = True  # never built: no "created but never used" warning
                raise ValueError(f"{side} beat of {beat} elements does not divide the {n} "
                                 f"{side}s")
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
        # argument bytes of one input beat, data bytes of one output beat; beats per vector
        beat_in_len, beat_out_len = self.in_beat * bi, self.out_beat * bo
        n_ib, n_ob = info.n_in // self.in_beat, info.n_out // self.out_beat

        cmd = Signal(8)
        arg = Signal(64)            # argument bytes, shifted in from the top (little-endian)
        # bytes of the current beat (SEND, RECV) or of the argument / answer
        count = Signal(range(max(beat_in_len, beat_out_len, P.INFO_LEN, 8) + 1))
        rwait = Signal(range(READ_LATENCY + 1), name="rwait")  # clocks since a read strobe
        ebyte = Signal(range(max(bi, bo)))   # byte within the current element
        ebuf = Signal(8 * bi)       # bytes of the input element being received
        beat_in = Signal(self.in_beat * iw)     # elements of the input beat being received
        beat_out = Signal(self.out_beat * ow)   # elements of the output beat being sent
        # beats of the current vector already pushed (SEND) or sent (RECV); none without beats
        beat = Signal(range(max(n_ib, n_ob))) if max(n_ib, n_ob) > 1 else None
        word = Signal(32)           # READ data, shifted out a byte at a time
        status = Signal(8)          # ACK or NAK
        idle = Signal(range(max(self.idle_timeout, 1) + 1))
        after = Signal(2)           # what follows the status byte
        NONE, ID, WORD, VEC = range(4)

        m.d.comb += [
            Value.cast(self.i_stream.payload).eq(beat_in),
            cfg.w_data.eq(arg[32:]),
        ]
        rom = Array(Const(b, 8) for b in info.to_bytes())

        # output element: sign- or zero-extended to whole bytes, byte `ebyte` of it
        elem = beat_out[:ow]
        ext = elem.as_signed() if info.out_signed else elem
        ext_bytes = Signal(8 * bo)
        m.d.comb += ext_bytes.eq(ext)
        out_byte = Array(ext_bytes[8 * k:8 * k + 8] for k in range(bo))[ebyte]

        def arg_phase():
            # one argument byte: counters, the idle timer
            m.d.sync += idle.eq(0)
            m.d.sync += count.eq(count + 1)

        def last_beat(n, done, more):
            # after a beat: `done` once it was the vector's last, else count it and `more`
            if n == 1:
                done()
                return
            with m.If(beat == n - 1):
                m.d.sync += beat.eq(0)
                done()
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
                more()

        def goto(state):
            def go():
                m.next = state
            return go

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += rx.ready.eq(1)
                m.d.sync += [count.eq(0), ebyte.eq(0), idle.eq(0)]
                if beat is not None:
                    m.d.sync += beat.eq(0)
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
                    m.d.sync += rwait.eq(0)
                    m.next = "READ_DATA"

            # the word is on r_data READ_LATENCY clocks after the strobe
            with m.State("READ_DATA"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += rwait.eq(rwait + 1)
                with m.If(rwait == READ_LATENCY - 1):
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
                m.d.sync += rwait.eq(0)
                m.next = "COMMIT_CHECK"

            with m.State("COMMIT_CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += rwait.eq(rwait + 1)
                with m.If(rwait != READ_LATENCY - 1):
                    pass  # STATUS is not on r_data yet
                with m.Elif(cfg.r_data[STATUS_PENDING_BIT]):
                    m.next = "COMMIT_R"
                with m.Else():
                    m.d.sync += [status.eq(P.ACK), after.eq(NONE)]
                    m.next = "STATUS"

            # SEND: the elements of one beat, then PUSH it; after the last beat, the ACK
            with m.State("VEC_IN"):
                m.d.comb += rx.ready.eq(1)
                m.d.comb += self.busy.eq(1)
                with m.If(rx.valid):
                    arg_phase()
                    full = Cat(ebuf[8:], rx.payload) if bi > 1 else rx.payload
                    m.d.sync += ebuf.eq(full)
                    with m.If(ebyte == bi - 1):
                        m.d.sync += [ebyte.eq(0), beat_in.eq(Cat(beat_in[iw:], full[:iw]))]
                    with m.Else():
                        m.d.sync += ebyte.eq(ebyte + 1)
                    with m.If(count == beat_in_len - 1):
                        m.next = "PUSH"
                # a SEND dropped after some of its beats reached the core: complete the vector
                self._timeout(m, rx, idle, partial=beat != 0 if n_ib > 1 else None)

            with m.State("PUSH"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += self.i_stream.valid.eq(1)
                with m.If(self.i_stream.ready):
                    def ack():
                        m.d.sync += [status.eq(P.ACK), after.eq(NONE)]
                        m.next = "STATUS"

                    def next_beat():
                        m.d.sync += count.eq(0)
                        m.next = "VEC_IN"

                    last_beat(n_ib, ack, next_beat)

            if n_ib > 1 and self.idle_timeout:
                # the rest of a dropped SEND's vector (filler beats), then its output, unsent
                with m.State("FLUSH"):
                    m.d.comb += self.busy.eq(1)
                    m.d.comb += self.i_stream.valid.eq(1)
                    with m.If(self.i_stream.ready):
                        last_beat(n_ib, goto("DROP"), lambda: None)

                with m.State("DROP"):
                    m.d.comb += self.busy.eq(1)
                    m.d.comb += self.o_stream.ready.eq(1)
                    with m.If(self.o_stream.valid):
                        last_beat(n_ob, goto("IDLE"), lambda: None)

            # RECV: the first beat, the ACK, its elements; then each next beat and its elements
            with m.State("WAIT_OUT"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += self.o_stream.ready.eq(1)
                with m.If(self.o_stream.valid):
                    m.d.sync += [beat_out.eq(Value.cast(self.o_stream.payload)),
                                 status.eq(P.ACK), after.eq(VEC)]
                    m.next = "STATUS"

            if n_ob > 1:
                with m.State("NEXT_OUT"):
                    m.d.comb += self.busy.eq(1)
                    m.d.comb += self.o_stream.ready.eq(1)
                    with m.If(self.o_stream.valid):
                        m.d.sync += beat_out.eq(Value.cast(self.o_stream.payload))
                        m.next = "SEND_VEC"

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
                        m.d.sync += [ebyte.eq(0), beat_out.eq(beat_out >> ow)]
                    with m.Else():
                        m.d.sync += ebyte.eq(ebyte + 1)
                    with m.If(count == beat_out_len - 1):
                        def next_beat():
                            m.d.sync += count.eq(0)
                            m.next = "NEXT_OUT"

                        last_beat(n_ob, goto("IDLE"), next_beat)
        return m

    def _timeout(self, m, rx, idle, partial=None):
        # `partial`: the dropped command left the core a part of a vector (go and complete it)
        if not self.idle_timeout:
            return
        with m.If(~rx.valid):
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.idle_timeout - 1):
                if partial is None:
                    m.next = "IDLE"
                else:
                    with m.If(partial):
                        m.next = "FLUSH"
                    with m.Else():
                        m.next = "IDLE"
