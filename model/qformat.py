"""Fixed-point formats and the integer operations that every stage shares.

A :class:`QFormat` describes how an integer stored in hardware maps to a real value::

    real = integer * 2**-frac

with ``width = signed + int_bits + frac_bits`` bits. ``rounding`` says how a value with more
fraction bits is brought into this format, ``saturate`` whether out-of-range values clip to the
end of the range (True) or wrap modulo ``2**width`` as two's complement (False).

The integer helpers here (:func:`shift_round`, :func:`clamp_or_wrap`) are the single definition
of requantisation. The hardware mirrors them bit for bit; tests compare the two by equality.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["QFormat", "Rounding", "clamp_or_wrap", "shift_round", "signed_width_for"]


class Rounding(str, enum.Enum):
    """How a right shift by ``s`` bits rounds.

    - ``floor``: drop the low bits (round toward minus infinity).
    - ``half_up``: add ``2**(s-1)`` then floor (ties go toward plus infinity).
    - ``half_even``: round to nearest, ties to the even result (convergent rounding).
    """

    FLOOR = "floor"
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"


@dataclass(frozen=True)
class QFormat:
    """A fixed-point number format.

    Parameters
    ----------
    int_bits:
        Integer bits, not counting the sign bit.
    frac_bits:
        Fraction bits (may be 0).
    signed:
        Two's complement when True; the sign bit is extra to ``int_bits``.
    rounding:
        Rounding applied when a wider value is requantised into this format.
    saturate:
        Clip to ``[min_int, max_int]`` when True, wrap modulo ``2**width`` when False.
    """

    #: integer bits, sign bit excluded; negative when every value is below 2**int_bits
    #: (e.g. ``QFormat(-4, 12, False)``: 8 bits holding 0 .. 255 * 2**-12)
    int_bits: int
    #: fraction bits
    frac_bits: int
    #: two's complement when True
    signed: bool = True
    #: rounding used when a value is requantised into this format
    rounding: Rounding = Rounding.FLOOR
    #: clip (True) or wrap (False) on overflow
    saturate: bool = True

    def __post_init__(self):
        object.__setattr__(self, "rounding", Rounding(self.rounding))
        if not isinstance(self.int_bits, int) or not isinstance(self.frac_bits, int):
            raise ValueError("QFormat int_bits and frac_bits must be integers")
        if self.frac_bits < 0:
            raise ValueError(f"QFormat frac_bits must be >= 0 (got {self.frac_bits})")
        if self.width < 1:
            raise ValueError("QFormat must have at least one bit")
        if self.width > 32:
            raise ValueError(f"QFormat width {self.width} exceeds the supported 32 bits")

    @property
    def width(self) -> int:
        """Total bits."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def min_int(self) -> int:
        """Smallest stored integer."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        """Largest stored integer."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def max_abs_int(self) -> int:
        """Largest magnitude of a stored integer (``-min_int`` for signed formats)."""
        return max(abs(self.min_int), abs(self.max_int))

    @property
    def step(self) -> float:
        """Real value of one LSB."""
        return 2.0 ** -self.frac_bits

    def to_real(self, q) -> np.ndarray:
        """Integers in this format to reals (float64)."""
        return np.asarray(q, dtype=np.float64) * self.step

    def quantise(self, x) -> np.ndarray:
        """Reals to integers in this format, rounding to nearest (ties away from zero is not
        used: ties go up, as ``floor(x/step + 1/2)``), then clipping to the range.

        This is the float-to-integer conversion of inputs and weights, done once in software;
        requantisation inside the datapath uses :func:`shift_round` and :func:`clamp_or_wrap`.
        """
        q = np.floor(np.asarray(x, dtype=np.float64) / self.step + 0.5)
        return np.clip(q, self.min_int, self.max_int).astype(np.int64)

    def contains(self, q) -> bool:
        """True when every integer of ``q`` is representable."""
        q = np.asarray(q)
        return bool(q.size == 0 or (q.min() >= self.min_int and q.max() <= self.max_int))

    def describe(self) -> str:
        """Short human name such as ``sQ3.4`` (signed, 3 integer, 4 fraction bits)."""
        return f"{'s' if self.signed else 'u'}Q{self.int_bits}.{self.frac_bits}"

    def to_json(self) -> dict:
        return {
            "int_bits": self.int_bits,
            "frac_bits": self.frac_bits,
            "signed": self.signed,
            "rounding": self.rounding.value,
            "saturate": self.saturate,
        }


def signed_width_for(lo: int, hi: int) -> int:
    """Smallest two's-complement width ``n`` with ``-2**(n-1) <= lo`` and ``hi < 2**(n-1)``."""
    n = 1
    while not (-(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1):
        n += 1
    return n


def shift_round(acc, shift: int, rounding: Rounding) -> np.ndarray:
    """Arithmetic right shift of int64 ``acc`` by ``shift >= 0`` bits with ``rounding``.

    The hardware computes the same thing:

    - floor: ``acc >> s``
    - half_up: ``(acc + 2**(s-1)) >> s``
    - half_even: ``q = acc >> s``, ``r = acc & (2**s - 1)``; ``q + 1`` when ``r > 2**(s-1)`` or
      when ``r == 2**(s-1)`` and ``q`` is odd.
    """
    acc = np.asarray(acc, dtype=np.int64)
    rounding = Rounding(rounding)
    if shift == 0:
        return acc.copy()
    if rounding is Rounding.FLOOR:
        return acc >> shift
    half = np.int64(1) << np.int64(shift - 1)
    if rounding is Rounding.HALF_UP:
        return (acc + half) >> shift
    q = acc >> shift
    r = acc & ((np.int64(1) << np.int64(shift)) - 1)
    up = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + up.astype(np.int64)


def clamp_or_wrap(v, fmt: QFormat) -> np.ndarray:
    """Bring int64 ``v`` into ``fmt``: clip when ``fmt.saturate``, else two's-complement wrap."""
    v = np.asarray(v, dtype=np.int64)
    if fmt.saturate:
        return np.clip(v, fmt.min_int, fmt.max_int)
    mod = np.int64(1) << np.int64(fmt.width)
    w = v & (mod - 1)
    if fmt.signed:
        w = np.where(w > fmt.max_int, w - mod, w)
    return w
