"""The IR's vocabulary: the enums a spec is written in, the microarchitecture parameters it
carries for hw/, and :class:`SpecError`, the one error a broken spec raises."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Activation", "Arch", "Arith", "Microarch", "SpecError", "Tunable"]


class SpecError(ValueError):
    """A spec that breaks a rule. ``problems`` lists every broken rule, one line each."""

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class Activation(str, enum.Enum):
    NONE = "none"
    RELU = "relu"


class Microarch(str, enum.Enum):
    #: every connection has its own datapath; one vector per clock, pipelined
    PARALLEL = "parallel"
    #: ``lanes`` connections per clock, weights in memories
    FOLDED = "folded"


class Arith(str, enum.Enum):
    #: K products per input formed once, each connection selects one
    SHARED = "shared"
    #: accumulate +-x per level index, multiply by the K levels at the end
    FACTORED = "factored"
    #: levels are powers of two (or sums of two): shifts and adds only
    SHIFT = "shift"
    #: a plain multiplier per connection on the signed integer weight (the baseline)
    MULTIPLY = "multiply"
    #: let the generator pick the cheapest mode for this spec
    AUTO = "auto"


class Tunable(str, enum.Enum):
    #: signs, indices, levels and biases are writable
    ALL = "all"
    #: the level table and biases are writable; the connection pattern is wired in
    LEVELS = "levels"
    #: everything is constant
    NONE = "none"


@dataclass(frozen=True)
class Arch:
    """Microarchitecture parameters. model/ only carries them; hw/ interprets them."""

    #: parallel or folded
    kind: Microarch = Microarch.PARALLEL
    #: connections processed per clock in a folded build (ignored when parallel)
    lanes: int = 1
    #: arithmetic mode
    arith: Arith = Arith.SHARED
    #: which weights are run-time writable
    tunable: Tunable = Tunable.ALL
    #: input elements per stream transfer (a *beat*) of a folded build; 0: the whole vector
    in_beat: int = 0
    #: output elements per beat of a folded build; 0: the whole vector
    out_beat: int = 0
    #: folded ``tunable=all`` builds: one copy of the connection words (no shadow), written
    #: while the core is paused (CTRL pause, STATUS safe); halves their memory
    single_copy: bool = False

    def __post_init__(self):
        for name, typ in (("kind", Microarch), ("arith", Arith), ("tunable", Tunable)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, typ(value))
            except ValueError:
                choices = ", ".join(m.value for m in typ)
                raise SpecError(f"arch.{name} {value!r} is not one of: {choices}") from None
        if not isinstance(self.lanes, int) or self.lanes < 1:
            raise SpecError(f"arch.lanes must be an integer >= 1 (got {self.lanes!r})")
        if not isinstance(self.single_copy, bool):
            raise SpecError(f"arch.single_copy must be true or false (got {self.single_copy!r})")
        for name in ("in_beat", "out_beat"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise SpecError(f"arch.{name} must be an integer >= 0 (0: the whole vector; "
                                f"got {v!r})")

    @classmethod
    def parse(cls, text: str, arith: str = "shared", tunable: str = "all") -> Arch:
        """``parallel`` or ``folded:P``."""
        kind, _, lanes = text.partition(":")
        if kind == "parallel" and not lanes:
            return cls(Microarch.PARALLEL, 1, arith, tunable)
        if kind == "folded":
            try:
                p = int(lanes) if lanes else 1
            except ValueError:
                raise SpecError(
                    f"folded lanes {lanes!r} is not an integer (use folded:P)") from None
            return cls(Microarch.FOLDED, p, arith, tunable)
        raise SpecError(f"architecture {text!r} is not 'parallel' or 'folded:P'")

    def to_json(self) -> dict:
        return {
            "kind": self.kind.value,
            "lanes": self.lanes,
            "arith": self.arith.value,
            "tunable": self.tunable.value,
            # beats only when set, so specs without them read and hash as before
            **({"in_beat": self.in_beat} if self.in_beat else {}),
            **({"out_beat": self.out_beat} if self.out_beat else {}),
            **({"single_copy": True} if self.single_copy else {}),
        }
