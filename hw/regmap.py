"""Register map of a generated core: addresses, field encodings, and the writes that load a spec.

Pure Python (no Amaranth): the host driver, the testbenches and the generator all use it, so the
encoding is defined once. Words are 32 bits, word-addressed.

A layer's address space::

    0  ID        R   0x4C474E54 ("LGNT")
    1  VERSION   R   register-map version
    2  CTRL      W   bit 0: commit the shadow weight set
    3  STATUS    R   bit 0: commit pending
    4  SHAPE     R   n_in | n_out << 16
    5  PARAMS    R   K | index_bits << 8 | arith << 16 | kind << 20 | tunable << 24
    LEVELS  region  K words        (absent for arith=multiply and tunable=none)
    BIAS    region  n_out words    (absent for tunable=none)
    CONN    region  one word per connection (tunable=all only)

Each region starts at a multiple of the power of two that covers it, so the decode is a compare
of the upper address bits. Field encodings:

- CONN word, codebook modes: bit 0 sign (1 = negative), bits 1..index_bits the level index.
- CONN word, multiply: the signed weight ``+-level`` in two's complement, ``weight_width`` bits.
- LEVELS word, shared/factored: the level magnitude (level format integer).
- LEVELS word, shift: ``a_en | a << 1 | b_en << (1+E) | b << (2+E)`` with E exponent bits;
  level = a_en * 2**a + b_en * 2**b (one-term builds have only a_en and a).
- BIAS word: the bias (bias format integer), two's complement, sign-extended to 32 bits.

In a parallel build the CONN region is output-major (output j, connection c in the order of the
spec). In a folded build it is lane-major: lane p's connections at ``CONN + p * 2**L + t``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lognet.base.names import sanitise
from lognet.model.arch import Arith, Microarch, SpecError, Tunable
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.validate import level_terms

from .arch import lane_schedule, resolve_spec, shift_terms

__all__ = [
    "ADDR_CTRL",
    "ADDR_ID",
    "ADDR_PARAMS",
    "ADDR_SHAPE",
    "ADDR_STATUS",
    "ADDR_VERSION",
    "CTRL_COMMIT",
    "CTRL_COMMIT_BIT",
    "HEADER_WORDS",
    "READ_LATENCY",
    "ID_VALUE",
    "STATUS_PENDING",
    "STATUS_PENDING_BIT",
    "STATUS_SAFE",
    "STATUS_SAFE_BIT",
    "needs_pause",
    "CTRL_PAUSE",
    "CTRL_PAUSE_BIT",
    "REGMAP_VERSION",
    "NetworkMap",
    "Region",
    "RegisterMap",
    "config_writes",
    "encode_shift_level",
    "exp_bits",
    "register_map",
    "ARITH_CODE",
    "KIND_CODE",
    "TUNABLE_CODE",
    "cell",
    "to_c_header",
    "to_markdown",
]

#: value of the ID register: "LGNT"
ID_VALUE = 0x4C474E54
#: register-map version, read from VERSION
REGMAP_VERSION = 1
#: words of the header at the start of every layer's and network's address space
HEADER_WORDS = 8

#: clocks from a read strobe to its data: ``r_en`` high in clock ``c`` puts the word on
#: ``r_data`` from clock ``c + READ_LATENCY`` on, held until the next read's data replaces it.
#: Reads may be strobed in consecutive clocks (their data follows in the same order, one per
#: clock). A write is taken on the rising edge that ends its clock (inside, register writes are
#: posted a clock, and a single copy's memory takes bus accesses a clock late); a read strobed
#: in any later clock sees it, and a commit written in any later clock takes it.
READ_LATENCY = 3
#: header word offsets (the only place they are written down)
ADDR_ID = 0
ADDR_VERSION = 1
ADDR_CTRL = 2
ADDR_STATUS = 3
ADDR_SHAPE = 4
ADDR_PARAMS = 5
#: CTRL bit 0: commit the shadow weight set
CTRL_COMMIT_BIT = 0
CTRL_COMMIT = 1 << CTRL_COMMIT_BIT
#: CTRL bit 1 (``single_copy`` builds): pause; the core takes no input while it is set (a
#: CTRL write without it, a commit included, resumes)
CTRL_PAUSE_BIT = 1
CTRL_PAUSE = 1 << CTRL_PAUSE_BIT
#: STATUS bit 0: a commit is pending
STATUS_PENDING_BIT = 0
STATUS_PENDING = 1 << STATUS_PENDING_BIT
#: STATUS bit 1 (``single_copy`` builds): paused and empty; connection words may be written
#: (and read back) now, and only now
STATUS_SAFE_BIT = 1
STATUS_SAFE = 1 << STATUS_SAFE_BIT
ARITH_CODE = {Arith.SHARED: 0, Arith.FACTORED: 1, Arith.SHIFT: 2, Arith.MULTIPLY: 3}
KIND_CODE = {Microarch.PARALLEL: 0, Microarch.FOLDED: 1}
TUNABLE_CODE = {Tunable.ALL: 0, Tunable.LEVELS: 1, Tunable.NONE: 2}


def _clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


# -- shift-mode level encoding -----------------------------------------------------------------


def exp_bits(spec: LayerSpec) -> int:
    """Bits of one exponent field: enough for ``level_fmt.width - 1``."""
    return max(1, (spec.level_fmt.width - 1).bit_length())


def encode_shift_level(v: int, terms: int, ebits: int) -> int:
    """The LEVELS word of level ``v`` in a shift build (see the module docstring)."""
    t = sorted(level_terms(v), reverse=True)
    if len(t) > terms:
        raise SpecError(f"level {v} needs {len(t)} shift terms, this build has {terms}")
    word = 0
    if len(t) >= 1:
        word |= 1 | t[0] << 1
    if len(t) == 2:
        word |= 1 << (1 + ebits) | t[1] << (2 + ebits)
    return word


def _header(ctrl_doc: str, pause: bool = False) -> list[dict]:
    """The four header words every address space starts with (a layer adds SHAPE, PARAMS);
    ``pause``: the space has ``single_copy`` connection words (CTRL bit 1, STATUS bit 1)."""
    if pause:
        ctrl_doc += ("; bit 1: pause (no input while set; any CTRL write without it, a commit "
                     "included, resumes)")
    status = "bit 0: commit pending" + (
        "; bit 1: paused and empty (single-copy connection words may be written and read "
        "now, and only now)" if pause else "")
    return [
        {"name": "ID", "offset": ADDR_ID, "access": "R", "value": ID_VALUE},
        {"name": "VERSION", "offset": ADDR_VERSION, "access": "R", "value": REGMAP_VERSION},
        {"name": "CTRL", "offset": ADDR_CTRL, "access": "W", "doc": ctrl_doc},
        {"name": "STATUS", "offset": ADDR_STATUS, "access": "R", "doc": status},
    ]


# -- the map ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    count: int
    #: bits of each word that are used
    bits: int
    doc: str


class RegisterMap:
    """Addresses and encodings for one layer whose arch has been resolved (no ``auto``)."""

    def __init__(self, spec: LayerSpec, base: int = 0):
        a = spec.arch
        if a.arith is Arith.AUTO:
            raise SpecError("resolve arith=auto before building a register map")
        self.spec = spec
        self.base = base
        self.arith = a.arith
        self.tunable = a.tunable
        self.folded = a.kind is Microarch.FOLDED
        self.terms = shift_terms(spec) if a.arith is Arith.SHIFT else 0
        self.ebits = exp_bits(spec) if a.arith is Arith.SHIFT else 0
        if self.folded:
            self.schedule = lane_schedule(spec)
            self.lane_depth = max(len(s) for s in self.schedule)
            self.lane_bits = _clog2(self.lane_depth)
        #: bits of a LEVELS word (a shift-level word in shift builds, else the magnitude)
        if self.arith is Arith.SHIFT:
            self.level_bits = 1 + self.ebits if self.terms == 1 else 2 + 2 * self.ebits
            level_doc = "shift-level encoding: a_en | a<<1 | b_en<<(1+E) | b<<(2+E)"
        else:
            self.level_bits = spec.level_fmt.width
            level_doc = f"level magnitude, {spec.level_fmt.describe()} integer"
        #: bits of a CONN word, and whether it is a signed value (the multiply baseline's
        #: weight) rather than a sign | index << 1 code
        self.conn_signed = self.arith is Arith.MULTIPLY
        if self.conn_signed:
            self.conn_bits = spec.weight_width
            conn_doc = "signed weight +-level, two's complement"
        else:
            self.conn_bits = 1 + spec.index_bits
            conn_doc = "bit 0 sign (1 negative), bits 1.. level index"
        regions: list[tuple[str, int, int, str]] = []
        if self.tunable is not Tunable.NONE:
            if self.arith is not Arith.MULTIPLY:
                regions.append(("LEVELS", spec.K, self.level_bits, level_doc))
            regions.append(("BIAS", spec.n_out, spec.bias_fmt.width,
                            f"bias, {spec.bias_fmt.describe()} integer, two's complement"))
        if self.tunable is Tunable.ALL:
            count = (len(self.schedule) << self.lane_bits) if self.folded else spec.n_conn
            regions.append(("CONN", count, self.conn_bits, conn_doc))
        # smallest first, each aligned to the power of two that covers it
        placed: dict[str, Region] = {}
        cursor = HEADER_WORDS
        for name, count, bits, doc in sorted(regions, key=lambda r: r[1]):
            size = 1 << _clog2(count)
            cursor = (cursor + size - 1) // size * size
            placed[name] = Region(name, cursor, count, bits, doc)
            cursor += size
        self.regions = placed
        self.words = cursor
        self.addr_width = max(3, _clog2(cursor))

    # address helpers (local to this layer)
    def region(self, name: str) -> Region | None:
        return self.regions.get(name)

    def conn_addresses(self) -> list[tuple[int, int, int]]:
        """``(address, output, connection)`` for every connection register."""
        r = self.regions["CONN"]
        out = []
        if self.folded:
            for p, sched in enumerate(self.schedule):
                for t, (j, c) in enumerate(sched):
                    out.append((r.base + (p << self.lane_bits) + t, j, c))
        else:
            a = r.base
            for j, f in enumerate(self.spec.fanins):
                for c in range(f):
                    out.append((a, j, c))
                    a += 1
        return out

    def params_word(self) -> int:
        s = self.spec
        return (s.K | s.index_bits << 8 | ARITH_CODE[self.arith] << 16
                | KIND_CODE[s.arch.kind] << 20 | TUNABLE_CODE[self.tunable] << 24)

    def shape_word(self) -> int:
        return (self.spec.n_in & 0xFFFF) | (self.spec.n_out & 0xFFFF) << 16

    def level_word(self, v: int) -> int:
        """The LEVELS word of level magnitude ``v``."""
        if self.arith is Arith.SHIFT:
            return encode_shift_level(v, self.terms, self.ebits)
        return int(v)

    def level_words(self, levels=None) -> list[int]:
        """The LEVELS words of a level table (default: the spec's)."""
        return [self.level_word(v) for v in (self.spec.levels if levels is None else levels)]

    def conn_value(self, sign: int, index: int, levels=None) -> int:
        """The value a connection register holds: the signed weight ``+-level`` in multiply
        builds (``levels`` default: the spec's), else ``sign | index << 1``."""
        if self.conn_signed:
            lv = self.spec.levels if levels is None else levels
            return -int(lv[index]) if sign else int(lv[index])
        return int(sign) | int(index) << 1

    def conn_word(self, sign: int, index: int, levels=None) -> int:
        """:meth:`conn_value` as a CONN word (two's complement in :attr:`conn_bits` bits)."""
        return self.conn_value(sign, index, levels) & ((1 << self.conn_bits) - 1)

    def conn_values(self) -> list[int]:
        """:meth:`conn_value` of every connection of the spec, output-major."""
        s = self.spec
        return [self.conn_value(s.signs[j][c], s.indices[j][c])
                for j, f in enumerate(s.fanins) for c in range(f)]

    def writes(self, spec: LayerSpec | None = None) -> list[tuple[int, int]]:
        """``(address, word)`` pairs that load ``spec``'s weights (default: this map's spec).

        ``spec`` may differ from the map's spec in levels, signs, indices and biases, but not in
        shape or topology (those are wired in)."""
        s = self.spec if spec is None else spec
        if s.sources != self.spec.sources and self.tunable is Tunable.ALL:
            raise SpecError("the connection pattern differs from the built one; regenerate")
        if self.tunable is Tunable.LEVELS and (
            s.signs != self.spec.signs or s.indices != self.spec.indices
        ):
            raise SpecError("tunable=levels wires signs and indices in; only levels and biases "
                            "can change")
        if self.tunable is Tunable.NONE:
            return []
        out = []
        lv = self.regions.get("LEVELS")
        if lv is not None:
            out += [(self.base + lv.base + k, self.level_word(v)) for k, v in enumerate(s.levels)]
        b = self.regions["BIAS"]
        out += [(self.base + b.base + j, int(v) & 0xFFFFFFFF) for j, v in enumerate(s.bias)]
        if "CONN" in self.regions:
            for a, j, c in self.conn_addresses():
                out.append((self.base + a, self.conn_word(s.signs[j][c], s.indices[j][c],
                                                          s.levels)))
        return out

    def header(self) -> list[dict]:
        """The header registers (offsets local to this layer), as the documents list them."""
        return _header("bit 0: commit", self.spec.arch.single_copy) + [
            {"name": "SHAPE", "offset": ADDR_SHAPE, "access": "R", "value": self.shape_word()},
            {"name": "PARAMS", "offset": ADDR_PARAMS, "access": "R",
             "value": self.params_word()}]

    def to_json(self) -> dict:
        return {
            "layer": self.spec.name,
            "base": self.base,
            "addr_width": self.addr_width,
            "words": self.words,
            "header": self.header(),
            "regions": [
                {"name": r.name, "offset": r.base, "count": r.count, "bits": r.bits,
                 "access": "RW", "doc": r.doc}
                for r in sorted(self.regions.values(), key=lambda r: r.base)
            ],
            "shift": {"terms": self.terms, "exp_bits": self.ebits} if self.terms else None,
            "folded": {"lanes": len(self.schedule), "lane_bits": self.lane_bits,
                       "lane_depth": self.lane_depth} if self.folded else None,
        }


class NetworkMap:
    """A network's address space: a network header at 0 (ID, VERSION, CTRL = commit all
    layers at once, STATUS), then each layer's map at ``(i + 1) << B``."""

    def __init__(self, spec: NetworkSpec):
        self.spec = spec
        local = [RegisterMap(layer) for layer in spec.layers]
        self.layer_bits = max(m.addr_width for m in local)
        self.layers = [RegisterMap(layer, base=(i + 1) << self.layer_bits)
                       for i, layer in enumerate(spec.layers)]
        self.addr_width = self.layer_bits + _clog2(len(spec.layers) + 1)

    def header(self) -> list[dict]:
        """The network's own header registers (ID, VERSION, CTRL, STATUS)."""
        return _header("bit 0: commit every layer at once, between two vectors",
                       any(la.arch.single_copy for la in self.spec.layers))

    def writes(self, spec: NetworkSpec | None = None) -> list[tuple[int, int]]:
        s = self.spec if spec is None else spec
        out = []
        for m, layer in zip(self.layers, s.layers):
            out += m.writes(layer)
        return out

    def to_json(self) -> dict:
        return {
            "network": self.spec.name,
            "addr_width": self.addr_width,
            "header": self.header(),
            "layers": [m.to_json() for m in self.layers],
        }


def register_map(spec: LayerSpec | NetworkSpec) -> RegisterMap | NetworkMap:
    """The register map of a core built from ``spec`` (``arith=auto`` resolved first)."""
    spec = resolve_spec(spec)
    return RegisterMap(spec) if isinstance(spec, LayerSpec) else NetworkMap(spec)


def needs_pause(spec) -> bool:
    """Whether loading weights into a core built from ``spec`` (a layer or a network) needs the
    core paused first: a layer keeps ``single_copy`` connection words (CTRL bit 1, STATUS
    bit 1)."""
    layers = getattr(spec, "layers", None) or [spec]
    return any(la.arch.single_copy for la in layers)


def config_writes(spec: LayerSpec | NetworkSpec, new=None) -> list[tuple[int, int]]:
    """Writes that load ``new`` (default: ``spec`` itself) into a core built from ``spec``.
    Follow them with a commit (write 1 to CTRL)."""
    return register_map(spec).writes(new)


# -- documents ----------------------------------------------------------------------------------


def cell(text: str) -> str:
    """``text`` safe in a Markdown table cell (no column breaks, no line breaks)."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _header_rows(base: int, header: list[dict]) -> list[str]:
    rows = []
    for h in header:
        val = f"`0x{h['value']:08X}`" if "value" in h else h.get("doc", "")
        rows.append(f"| `0x{base + h['offset']:X}` | {h['name']} | {h['access']} | 1 | {val} |")
    return rows


def _layer_rows(m: RegisterMap) -> list[str]:
    rows = _header_rows(m.base, m.header())
    for r in sorted(m.regions.values(), key=lambda r: r.base):
        rows.append(f"| `0x{m.base + r.base:X}` | {r.name} | RW | {r.count} | "
                    f"{r.bits} bits: {cell(r.doc)} |")
    return rows


def to_markdown(rm: RegisterMap | NetworkMap) -> str:
    head = ["| address | name | access | words | content |", "|---|---|---|---|---|"]
    if isinstance(rm, RegisterMap):
        return "\n".join([f"# Register map of layer `{sanitise(rm.spec.name)}`", "", *head,
                          *_layer_rows(rm), ""])
    lines = [f"# Register map of network `{sanitise(rm.spec.name)}`", "", *head,
             *_header_rows(0, rm.header())]
    for m in rm.layers:
        lines += [f"| | **layer `{sanitise(m.spec.name)}`** | | | base `0x{m.base:X}` |",
                  *_layer_rows(m)]
    return "\n".join(lines + [""])


def _c_ident(s: str) -> str:
    return sanitise(s).upper()


def to_c_header(rm: RegisterMap | NetworkMap, top: str) -> str:
    guard = f"{_c_ident(top)}_REGS_H"
    lines = [f"/* Register map of {top}, generated by lognet. Word addresses. */",
             f"#ifndef {guard}", f"#define {guard}", "",
             f"#define {_c_ident(top)}_ID 0x{ID_VALUE:08X}u",
             f"#define {_c_ident(top)}_REGMAP_VERSION {REGMAP_VERSION}u",
             f"#define {_c_ident(top)}_CTRL 0x{ADDR_CTRL:X}u",
             f"#define {_c_ident(top)}_STATUS 0x{ADDR_STATUS:X}u",
             f"#define {_c_ident(top)}_CTRL_COMMIT 0x{CTRL_COMMIT:X}u"]
    maps = [rm] if isinstance(rm, RegisterMap) else rm.layers
    for m in maps:
        p = _c_ident(f"{top}_{m.spec.name}") if isinstance(rm, NetworkMap) else _c_ident(top)
        lines.append(f"#define {p}_BASE 0x{m.base:X}u")
        for r in sorted(m.regions.values(), key=lambda r: r.base):
            lines.append(f"#define {p}_{r.name} 0x{m.base + r.base:X}u  /* {r.count} words */")
            lines.append(f"#define {p}_{r.name}_COUNT {r.count}u")
        if m.folded:
            lines.append(f"#define {p}_CONN_LANE_BITS {m.lane_bits}u")
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def dumps_json(rm: RegisterMap | NetworkMap) -> str:
    return json.dumps(rm.to_json(), indent=1) + "\n"
