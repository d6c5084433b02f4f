"""Shadow/active register arrays behind the configuration bus.

Each writable region of the register map (:mod:`lognet.hw.regmap`) becomes two register arrays:
the shadow copy, which the bus writes and reads back, and the active copy, which the datapath
uses. ``swap`` copies every shadow register into its active twin in one clock. A region that the
tunability tier wires in becomes constants instead: the datapath sees the same interface.

The words of a copy are packed into a few wide registers (:class:`WordRegs`: as many words as fit
in 64 bits, a power of two of them, per register), seen through one view per word
(``shadow[k]``, ``active[k]``). The flip-flops and the decode are those of one register per
word, but a simulator evaluates one statement per 64 bits instead of several per word: the bus
write is one indexed write into the register the address names, the swap one copy per register,
the read-back a multiplexer over the registers and a shift inside one. (Wider registers would
be slower to simulate: Verilator copies and shifts a value wider than 64 bits word by word.)

Registers keep their contents across reset (they are ``reset_less`` with the spec's values as
their power-on value): a reset clears the datapath and a pending commit, never the weights.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Shape, Signal, unsigned

from .regmap import Region

__all__ = ["RegArray", "WordRegs", "pack_words"]

#: widest register of packed words (a simulator's machine word)
WORD_BITS = 64


def pack_words(values: list[int], width: int) -> int:
    """``values`` as one integer, value ``k`` at bits ``[k * width, (k + 1) * width)`` (each
    taken modulo ``2**width``, so negative values are their two's complement)."""
    mask = (1 << width) - 1
    packed = 0
    for k, v in enumerate(values):
        packed |= (int(v) & mask) << (k * width)
    return packed


class WordRegs:
    """``len(init)`` words of ``shape`` in registers of at most :data:`WORD_BITS` bits, with
    power-on values ``init``: word ``k`` is word ``k % per`` of register ``k // per``, ``per``
    the largest power of two of words that fits (one when a word is wider).

    ``views[k]`` is word ``k`` (a value of ``shape``); :meth:`read` and :meth:`write` take a
    variable index."""

    def __init__(self, name: str, shape, init: list[int]):
        self.shape = Shape.cast(shape)
        w = self.shape.width
        self.count = len(init)
        per = 1
        while per * 2 * w <= WORD_BITS and per * 2 <= self.count:
            per *= 2
        self.per, self.lo = per, per.bit_length() - 1
        self.regs = []
        for r, g in enumerate(range(0, self.count, per)):
            part = init[g:g + per]
            self.regs.append(Signal(unsigned(len(part) * w), init=pack_words(part, w),
                                    reset_less=True, name=f"{name}{r}"))
        self.views = [self._signed(self.regs[k >> self.lo].word_select(k & (per - 1), w))
                      for k in range(self.count)]

    def _signed(self, v):
        return v.as_signed() if self.shape.signed else v

    def read(self, index):
        """The word at the variable ``index``: a register chosen by the high bits of the index,
        the word inside it by the low bits (an index past the last word reads 0)."""
        if isinstance(index, Const):
            k = index.value
            return self.views[k] if k < self.count else Const(0, self.shape)
        hi = index[self.lo:]
        # (an Array index past the last register gives 0, as no register answers there)
        reg = Array(self.regs)[hi] if len(hi) else self.regs[0]
        if self.per == 1:
            return self._signed(reg)
        return self._signed(reg.word_select(index[:self.lo], self.shape.width))

    def write(self, m: Module, enable, index, value):
        """On clocks where ``enable`` is high, word ``index`` takes ``value`` (an index past the
        last word writes nothing)."""
        w = self.shape.width
        hi = index[self.lo:]
        for r, reg in enumerate(self.regs):
            with m.If(enable & (hi == r) if len(hi) else enable):
                if self.per == 1:
                    m.d.sync += reg.eq(value)
                else:
                    m.d.sync += reg.word_select(index[:self.lo], w).eq(value)

    def copy_from(self, m: Module, enable, other: WordRegs):
        """On clocks where ``enable`` is high, every word takes the value of ``other``'s."""
        with m.If(enable):
            m.d.sync += [a.eq(b) for a, b in zip(self.regs, other.regs)]


class RegArray:
    """One region: ``count`` values of ``shape`` with power-on values ``init``.

    Attributes
    ----------
    shadow, active:
        One view per word (a value of ``shape``): of the registers :attr:`shadow_regs` and
        :attr:`active_regs` (:class:`WordRegs`), or constants (``active``) when the region is
        wired in. ``shadow`` is None for a wired-in region, ``active`` None without an active
        copy.
    init:
        The power-on values, one per word.

    Parameters
    ----------
    region:
        The region of the register map, or None when the values are wired in as constants.
    with_active:
        False when the datapath keeps its own active copy (filled by a commit walk) and this
        array is only the bus-side shadow.
    """

    def __init__(self, name: str, shape: Shape, init: list[int], region: Region | None, *,
                 with_active: bool = True):
        self.name = name
        self.shape = Shape.cast(shape)
        self.region = region
        self.init = [int(v) for v in init]
        self.count = len(init)
        self.shadow_regs = self.active_regs = None
        self.shadow = self.active = None
        if region is None:
            self.active = [Const(v, self.shape) for v in init]
            return
        self.shadow_regs = WordRegs(f"{name}_sh", self.shape, self.init)
        self.shadow = self.shadow_regs.views
        if with_active:
            self.active_regs = WordRegs(f"{name}_act", self.shape, self.init)
            self.active = self.active_regs.views

    def shadow_word(self, index):
        """The shadow word at the (variable) ``index``, as a value of :attr:`shape`."""
        return self.shadow_regs.read(index)

    @property
    def writable(self) -> bool:
        return self.region is not None

    def region_bits(self) -> int:
        return max(0, (self.count - 1).bit_length())

    def hit(self, addr):
        """True when ``addr`` falls in this region."""
        rb = self.region_bits()
        return addr[rb:] == (self.region.base >> rb)

    def elaborate_into(self, m: Module, cfg, swap, read_value: Signal | None, read_addr=None):
        """Write decode, swap, and (when ``read_value`` is given) the read-back, which drives
        ``read_value`` for the word at ``read_addr`` (default: the bus address).

        A write is posted: the region hit, the word offset and the data are registered on the
        edge that takes the write, and the word is written on the next edge, so the address
        compare and the decode into the registers' enables are two clocks' logic, not one. A
        reader must therefore take register words a clock after the read strobe (the layer
        reads them at a registered ``read_addr``), and a commit copies the shadow words no
        earlier than the clock after the CTRL write (the swap comes from a registered
        pending flag)."""
        if not self.writable:
            return
        rb = self.region_bits()
        off = cfg.addr[:rb] if rb else Const(0, 1)
        we = Signal(name=f"{self.name}_we")
        w_off = Signal(len(off), name=f"{self.name}_woff", reset_less=True)
        w_data = Signal(self.shape.width, name=f"{self.name}_wdata", reset_less=True)
        m.d.sync += [we.eq(cfg.w_en & self.hit(cfg.addr)), w_off.eq(off),
                     w_data.eq(cfg.w_data[:self.shape.width])]
        self.shadow_regs.write(m, we, w_off, w_data)
        if self.active_regs is not None:
            self.active_regs.copy_from(m, swap, self.shadow_regs)
        if read_value is not None:
            ra = cfg.addr if read_addr is None else read_addr
            m.d.comb += read_value.eq(self.shadow_word(ra[:rb] if rb else Const(0, 1)))
