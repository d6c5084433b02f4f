"""The datasheet of one generated core: everything an integrator needs to drive it, written from
the spec, the register map and the core's timing, so it is true for that core and no other.

Ports are one beat wide; a core whose streams carry vectors in beats (``arch.in_beat`` /
``out_beat``) gets a Beats section: their order, counts, the latency between the last input
beat and the first output beat, and which weight set a vector uses.

``lognet generate`` writes it as ``datasheet.md`` beside the Verilog, the same as HTML
(``datasheet.html``, converted from the Markdown by markdown-it-py, raw HTML escaped), and
``connections.csv`` (which connection every CONN address holds). Pure Python: it reads the
Component's records (:class:`~lognet.hw.arch.CoreInfo`, :class:`~lognet.hw.regmap.RegisterMap`),
never its netlist.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

from lognet.base.names import sanitise
from lognet.model.arch import Activation, Arith, Microarch, Tunable
from lognet.model.qformat import QFormat, Rounding

from .regmap import (
    ADDR_CTRL,
    ADDR_ID,
    ARITH_CODE,
    CTRL_COMMIT,
    CTRL_PAUSE,
    KIND_CODE,
    READ_LATENCY,
    STATUS_SAFE,
    TUNABLE_CODE,
    RegisterMap,
    cell,
)

__all__ = ["connection_rows", "connections_csv", "datasheet", "datasheet_html",
           "network_commit_clocks"]

#: connections listed in the datasheet itself; larger layers point to connections.csv
TABLE_LIMIT = 512
#: the fields of the header words that pack several (the codes are the register map's)
_FIELDS = {
    "SHAPE": "n_in bits 0-15, n_out bits 16-31",
    "PARAMS": "K bits 0-7, index bits 8-15, arith bits 16-19 ("
              + ", ".join(f"{c} {a.value}" for a, c in ARITH_CODE.items())
              + "), kind bits 20-23 (" + ", ".join(f"{c} {k.value}" for k, c in KIND_CODE.items())
              + "), tunable bits 24-27 ("
              + ", ".join(f"{c} {t.value}" for t, c in TUNABLE_CODE.items()) + ")",
}


def _md(text: str) -> str:
    """A name safe inside Markdown (names are sanitised identifiers already; this is belt and
    braces for anything else that reaches a table)."""
    return sanitise(text)


def _layers(core) -> list:
    """The layers of a Network, or the Layer itself."""
    return getattr(core, "layers", None) or [core]


def _layer_maps(core) -> list[tuple[object, RegisterMap]]:
    return [(la, la.regmap) for la in _layers(core)]


def connection_rows(core) -> list[tuple[str, int, int, int, int, int, int]]:
    """``(layer, address, output, connection, input, sign, index)`` for every writable
    connection word, in address order (the spec's initial sign and index)."""
    rows = []
    for la, rm in _layer_maps(core):
        if "CONN" not in rm.regions:
            continue
        s = la.spec
        for addr, j, c in sorted(rm.conn_addresses()):
            rows.append((s.name, rm.base + addr, j, c, s.sources[j][c], s.signs[j][c],
                         s.indices[j][c]))
    return rows


def connections_csv(core) -> str:
    lines = ["layer,address,output,connection,input,sign,index"]
    lines += [",".join(str(v) for v in r) for r in connection_rows(core)]
    return "\n".join(lines) + "\n"


def _q(fmt: QFormat) -> str:
    return f"`{fmt.describe()}`"


def _fmt_row(what: str, fmt: QFormat) -> str:
    sign = "signed (two's complement)" if fmt.signed else "unsigned"
    rnd = {Rounding.FLOOR: "floor", Rounding.HALF_UP: "half up",
           Rounding.HALF_EVEN: "half to even"}[fmt.rounding]
    sat = "saturate" if fmt.saturate else "wrap"
    return (f"| {what} | {_q(fmt)} | {fmt.width} | {sign} | {fmt.min_int} .. {fmt.max_int} | "
            f"2^-{fmt.frac_bits} | {rnd}, {sat} |")


def _rounding_text(s) -> str:
    sh = s.shift
    if sh == 0:
        return "`q = a` (no fraction bits to drop)"
    if s.out_fmt.rounding is Rounding.FLOOR:
        return f"`q = a >> {sh}` (floor: toward minus infinity)"
    if s.out_fmt.rounding is Rounding.HALF_UP:
        return f"`q = (a + {1 << (sh - 1)}) >> {sh}` (nearest, ties toward plus infinity)"
    return (f"`q = (a >> {sh}) + up`, `up = 1` when the dropped bits `a mod {1 << sh}` exceed "
            f"{1 << (sh - 1)}, or equal it and `a >> {sh}` is odd (nearest, ties to even)")


def _layer_beats(la) -> str:
    """The sentence of a layer section that says how its streams carry beats (none without)."""
    info = la.info
    sides = [f"{what} in {n} beats of {b} elements"
             for what, n, b in (("inputs", info.in_beats, info.in_beat_size),
                                ("outputs", info.out_beats, info.out_beat_size)) if n > 1]
    return f" Streams: {' and '.join(sides)} (see Beats)." if sides else ""


def _layer_section(la, rm: RegisterMap) -> list[str]:
    s = la.spec
    a = s.arch
    o = s.out_fmt
    out = [f"## Layer `{_md(s.name)}`", "",
           f"{s.n_in} inputs, {s.n_out} outputs, {s.n_conn} connections (fan-in "
           f"{min(s.fanins)}..{s.max_fanin}), K = {s.K} levels; `{a.kind.value}`"
           + (f" with {a.lanes} lanes" if a.kind is Microarch.FOLDED else "")
           + f", `{a.arith.value}` arithmetic, `tunable={a.tunable.value}`."
           + _layer_beats(la), "",
           "### Number formats", "",
           "| quantity | format | bits | kind | integers | step (real = integer x step) | "
           "into this format |", "|---|---|---|---|---|---|---|",
           _fmt_row("input", s.in_fmt), _fmt_row("level magnitude", s.level_fmt),
           _fmt_row("bias", s.bias_fmt), _fmt_row("output", o), "",
           "### Arithmetic (bit-exact)", "",
           "For output `j`, with `x` the input integers and every sum exact:", "",
           "```",
           ("w[j,c] = the CONN word of (j, c), a signed integer (+-level)"
            if a.arith is Arith.MULTIPLY else
            "w[j,c] = (sign[j][c] ? -1 : +1) * levels[index[j][c]]"),
           f"a      = sum over c of w[j,c] * x[sources[j][c]]  +  bias[j] << {s.bias_shift}",
           ]
    if s.activation is Activation.RELU:
        out.append("a      = max(a, 0)                                   (ReLU, before rounding)")
    out += ["```", "",
            f"`a` has {s.acc_frac} fraction bits (input {s.in_fmt.frac_bits} + level "
            f"{s.level_fmt.frac_bits}); the bias is shifted left by {s.bias_shift} to align it. "
            f"`a` always fits {s.acc_width} signed bits: |a| <= max fan-in x max|x| x max level "
            f"+ the largest bias, for any weight set the registers can hold, so nothing "
            f"overflows. Then one rounding step, {_rounding_text(s)}, and "
            + (f"saturation to {o.min_int} .. {o.max_int}." if o.saturate else
               f"wrapping to the low {o.width} bits (two's complement)."),
            "", "### Registers", ""]
    out += ["| word address | name | access | words | bits | content |",
             "|---|---|---|---|---|---|"]
    for h in rm.header():
        content = f"`0x{h['value']:08X}`" if "value" in h else h["doc"]
        if h["name"] in _FIELDS:
            content += f": {_FIELDS[h['name']]}"
        bits = 1 if h["name"] in ("CTRL", "STATUS") else 32
        out.append(f"| `0x{rm.base + h['offset']:X}` | {h['name']} | {h['access']} | 1 | "
                   f"{bits} | {cell(content)} |")
    for r in sorted(rm.regions.values(), key=lambda r: r.base):
        out.append(f"| `0x{rm.base + r.base:X}` | {r.name} | RW | {r.count} | {r.bits} | "
                   f"{cell(r.doc)} |")
    out += ["", "Encodings:", ""]
    if "LEVELS" in rm.regions:
        if a.arith is Arith.SHIFT:
            e = rm.ebits
            out.append(f"- LEVELS word `k`: level `k` as shifts. E = {e} is the width of one "
                       f"exponent field: the bits that hold any exponent 0..{s.level_fmt.width - 1}"
                       f" of the {s.level_fmt.width}-bit level format. Fields: "
                       f"bit 0 `a_en`, bits 1..{e} `a`"
                       + (f", bit {1 + e} `b_en`, bits {2 + e}..{1 + 2 * e} `b`"
                          if rm.terms == 2 else "")
                       + "; level = a_en x 2^a" + (" + b_en x 2^b" if rm.terms == 2 else "")
                       + f", a {_q(s.level_fmt)} integer (0 when no term is enabled). "
                       f"Example: level {s.levels[-1]} is the word "
                       f"`0x{rm.level_word(s.levels[-1]):X}`.")
        else:
            out.append(f"- LEVELS word `k`: the magnitude of level `k`, a {_q(s.level_fmt)} "
                       f"integer (levels need not be sorted once written).")
    if "BIAS" in rm.regions:
        out.append(f"- BIAS word `j`: output `j`'s bias, a {_q(s.bias_fmt)} integer. Writes use "
                   f"the low {s.bias_fmt.width} bits (two's complement; higher bits are "
                   f"ignored); reads return it sign-extended to 32 bits.")
    if "CONN" in rm.regions:
        if rm.conn_signed:
            out.append(f"- CONN word: the signed weight `+-level` in {rm.conn_bits} bits (two's "
                       f"complement; higher bits ignored), a {_q(s.level_fmt)} integer with its "
                       f"sign. There is no level table: each connection holds its own weight.")
        else:
            out.append(f"- CONN word: bit 0 the sign (1 negative), bits 1..{s.index_bits} the "
                       f"level index.")
        if a.kind is Microarch.FOLDED:
            out.append(f"- CONN address of output `j`'s connection `c`: "
                       f"`0x{rm.base + rm.regions['CONN'].base:X} + (j mod {a.lanes}) * "
                       f"{1 << rm.lane_bits} + t`, where lane `j mod {a.lanes}` runs its outputs "
                       f"in increasing `j`, each output's connections back to back, and `t` is "
                       f"the position of `(j, c)` in that order (lane depth {rm.lane_depth}). "
                       f"A lane with fewer connections leaves its last addresses unused: they hold "
                       f"no connection and their content never reaches an output. The table "
                       f"below (and `connections.csv`) lists every address that is used.")
        else:
            out.append(f"- CONN address of output `j`'s connection `c`: "
                       f"`0x{rm.base + rm.regions['CONN'].base:X} + (fan-in of outputs 0..j-1)"
                       f" + c` (output-major, connections in the order of `sources[j]`).")
    if a.tunable is Tunable.NONE:
        out.append("- Nothing is writable: the weights are wired in (`tunable=none`).")
    elif a.tunable is Tunable.LEVELS:
        out.append("- Signs, indices and the connection pattern are wired in "
                   "(`tunable=levels`); the level table and the biases are writable.")
    out += ["", "### Timing", "",
            f"- Latency {la.info.latency} clocks: the rising edge that transfers an input "
            + ("vector's last beat" if la.info.in_beats > 1 else "vector")
            + " and the one that transfers its output"
            + ("'s first beat" if la.info.out_beats > 1 else "")
            + f" are {la.info.latency} edges apart (with `o_stream.ready` high).",
            f"- One vector every {la.info.cycles_per_vector} clock(s) at full rate"
            + (" (the mean: this layer is shorter than its pipeline, so consecutive vectors "
               "alternate between two intervals)" if isinstance(la.info.cycles_per_vector, float)
               else "")
            + (f", at least one clock per beat ({la.info.in_beats} input, {la.info.out_beats} "
               f"output beats a vector)" if la.info.in_beats > 1 or la.info.out_beats > 1
               else "") + ".",
            *([f"- Consecutive vectors overlap: the next vector enters while the lanes finish "
               f"this one (lane depth T = {la.regmap.lane_depth}), at most two are inside, and "
               f"a vector's results move to the output "
               + ("buffer" if la.info.out_beats > 1 else "payload")
               + " one clock after its last lane result"
               + ("; the next vector's beats fill the input buffer meanwhile"
                  if la.info.in_beats > 1 else "") + "."] if la.folded else []),
            f"- Commit: {la.commit_clocks} clock(s) from the CTRL write into an idle layer until "
            f"STATUS bit 0 reads 0; "
            + ("a vector whose last beat is transferred on or before the edge of the CTRL write "
               "is computed with the old set, the layer takes no beat while the commit is "
               "pending (a partial vector waits in the fill buffer), and every vector whose "
               "last beat comes later sees the new set"
               if la.info.in_beats > 1 else
               "a vector accepted on or before the edge of the CTRL write is computed with the "
               "old set, the layer takes no vector while the commit is pending, and every later "
               "vector sees the new set")
            + ". With vectors inside, the copy first waits "
            "until they no longer need the weights (at most the latency while `o_stream.ready` "
            "is high; a stalled output holds it longer).", ""]
    return out


def network_commit_clocks(core) -> int:
    """Clocks from the CTRL write of a network's commit into an idle network until its STATUS
    reads 0: the slowest layer's commit plus one clock to raise it and one to see it end."""
    return max(la.commit_clocks for la in core.layers) + 2


def _c_example(core, top: str) -> list[str]:
    """A short C function that checks the ID, loads one level, one bias and one connection
    word (the core's own values, so it leaves a fresh core as it was) and commits."""
    P = _md(top).upper()
    la, rm = _layer_maps(core)[0]
    # the header's macro prefix of the layer (regmap.to_c_header names them so)
    lp = sanitise(f"{top}_{la.spec.name}").upper() if hasattr(core, "layers") else P
    s = la.spec
    body = [f"    if (base[0x{ADDR_ID:X}] != {P}_ID) return -1;  /* word 0 is the ID register */"]
    if "LEVELS" in rm.regions:
        body.append(f"    base[{lp}_LEVELS + 0] = 0x{rm.level_word(s.levels[0]):X}u;  "
                    f"/* level 0 = {s.levels[0]} */")
    if "BIAS" in rm.regions:
        body.append(f"    base[{lp}_BIAS + 0] = (uint32_t)({s.bias[0]});  "
                    f"/* output 0's bias, two's complement */")
    if any(layer.spec.arch.single_copy for layer in _layers(core)):
        body += [f"    base[{P}_CTRL] = 0x{CTRL_PAUSE:X}u;  /* pause: single-copy connection "
                 f"words are written while the core is empty */",
                 f"    while (!(base[{P}_STATUS] & 0x{STATUS_SAFE:X}u)) {{}}  /* paused and "
                 f"empty */"]
    if "CONN" in rm.regions:
        addr, j, c = sorted(rm.conn_addresses())[0]
        sign, index = s.signs[j][c], s.indices[j][c]
        what = (f"weight {rm.conn_value(sign, index)}" if rm.conn_signed else
                f"sign {sign} | index {index} << 1")
        body.append(f"    base[{lp}_CONN + {addr - rm.regions['CONN'].base}] = "
                    f"0x{rm.conn_word(sign, index):X}u;  /* output {j}, connection {c}: "
                    f"{what} */")
    if len(body) == 1:
        body.append("    /* tunable=none: nothing to write, the weights are wired in */")
    return ["```c", "#include <stdint.h>", f'#include "{_md(top)}_regs.h"', "",
            "/* base: the configuration port, one 32-bit word per address */",
            "int load_and_commit(volatile uint32_t *base) {", *body,
            f"    base[{P}_CTRL] = {P}_CTRL_COMMIT;  /* 0x{CTRL_COMMIT:X}: swap the shadow set "
            f"in (and resume) */",
            f"    while (base[{P}_STATUS] & 1u) {{}}  /* pending until the new set is active */",
            "    return 0;", "}", "```", ""]


def _has_beats(core) -> bool:
    """Whether any stream of ``core`` (its ports or, in a network, a link between two layers)
    carries a vector in more than one transfer."""
    return any(la.info.in_beats > 1 or la.info.out_beats > 1 for la in _layers(core))


def _link_beats(core) -> bool:
    """Whether a link between two layers of a network carries a vector in several beats."""
    return any(la.info.out_beats > 1 for la in _layers(core)[:-1])


def _signedness(signed: bool) -> str:
    return ", two's complement" if signed else ", unsigned"


def _stream_rows(info) -> list[str]:
    """The ports table's rows of the two streams: payloads one beat wide."""
    rows = []
    for port, d, b, beats, w, signed, sym, what in (
            ("i_stream", "in", info.in_beat_size, info.in_beats, info.in_width, info.in_signed,
             "i", "input"),
            ("o_stream", "out", info.out_beat_size, info.out_beats, info.out_width,
             info.out_signed, "j", "output")):
        if beats == 1:
            meaning = (f"one {what} vector: element `{sym}` is bits `[{w}*{sym} +: {w}]`"
                       + _signedness(signed))
        else:
            meaning = (f"one {what} beat of {b} elements, {beats} beats a vector (see Beats): "
                       f"element `{sym}` of beat `k` is vector element `{b}*k + {sym}`, at bits "
                       f"`[{w}*{sym} +: {w}]`" + _signedness(signed))
        rows.append(f"| `{port}__payload` | {d} | {b * w} | {meaning} |")
        if port == "i_stream":
            rows.append("| `i_stream__valid`, `i_stream__ready` | in, out | 1 | the "
                        + ("vector" if beats == 1 else "beat") + " transfers on a rising edge "
                        "where both are high; hold valid and payload until then |")
        else:
            rows.append("| `o_stream__valid`, `o_stream__ready` | out, in | 1 | as above; the "
                        "payload holds while valid is high and ready low |")
    return rows


def _stream_text(core) -> list[str]:
    info = core.info
    tail = ("Nothing is dropped or duplicated: each input vector gives exactly one output "
            "vector, in order. The configuration port is independent of the streams and may be "
            "used at any time.")
    if info.in_beats == 1 and info.out_beats == 1:
        return ["Every transfer carries one whole vector (one beat per vector, all elements "
                "side by side); there are no partial beats and no first/last flags. " + tail]
    sides = [f"{what} in {n} beats of {b} elements"
             for what, n, b in (("an input vector goes", info.in_beats, info.in_beat_size),
                                ("an output vector leaves", info.out_beats, info.out_beat_size))
             if n > 1]
    return [f"The streams carry vectors in beats, one beat per transfer: {' and '.join(sides)}"
            f" (a side not named carries the whole vector in one transfer). There are no "
            f"first/last flags: the core counts beats (see Beats). " + tail]


def _beats_section(core) -> list[str]:
    """How a core whose streams (or, in a network, links) carry beats takes and gives them."""
    if not _has_beats(core):
        return []
    info = core.info
    net = hasattr(core, "layers")
    ib, ob = info.in_beats, info.out_beats
    out = ["## Beats", "",
           "| stream | elements a beat (B) | beats a vector | beat `k` carries elements | "
           "element `i` of a beat |", "|---|---|---|---|---|"]
    for port, b, n, w in (("i_stream", info.in_beat_size, ib, info.in_width),
                          ("o_stream", info.out_beat_size, ob, info.out_width)):
        carries = f"`{b}*k .. {b}*k + {b - 1}`" if n > 1 else "all (`k` = 0)"
        out.append(f"| `{port}` | {b} | {n} | {carries} | payload bits `[{w}*i +: {w}]` |")
    out += ["",
            "- Order: beat 0 of a vector first, then beat 1, and so on; beats may follow one "
            "another on consecutive clocks or with gaps (valid low) anywhere, inside a vector "
            "or between vectors. There are no first/last flags: the core "
            "counts beats from reset, so the first beat after a reset, or after a vector's last "
            "beat, is beat 0 of the next vector. A reset drops a partial vector (input beats "
            "taken so far, output beats not sent yet): after it, start again at beat 0."]
    if ib > 1:
        out.append(
            f"- Input: the {ib} beats of a vector go into a fill buffer, at most one per clock "
            f"while `i_stream.ready` is high. The lanes take the whole vector from it on the "
            f"clock after its last beat at the earliest; until they have, the fill buffer is "
            f"full and `i_stream.ready` is low. Then the next vector's beats stream in while "
            f"this one is computed (double buffered). `i_stream.ready` is also low while a "
            f"commit is pending.")
    else:
        out.append("- Input: one transfer carries the whole vector.")
    if ob > 1:
        out.append(
            f"- Output: each result vector waits in an output buffer while its {ob} beats leave "
            f"in order, one per clock while `o_stream.ready` is high (valid stays high and the "
            f"payload holds while ready is low); the next result moves in after the last beat.")
    else:
        out.append("- Output: one transfer carries the whole vector.")
    out += [
        f"- Latency ({info.latency} clocks, `latency_cycles` in `manifest.json`): the rising edge "
        f"that transfers an input vector's last beat and the one that transfers its output's "
        f"first beat are {info.latency} edges apart, into an idle core with `o_stream.ready` "
        f"held high"
        + (f"; the output's last beat leaves {ob - 1} clock(s) after its first" if ob > 1
           else "") + ".",
        f"- Rate: one vector every {info.cycles_per_vector} clock(s) at full rate "
        f"(`cycles_per_vector` in `manifest.json`: the interval between vectors in a long "
        f"stream whose beats are offered back to back, `o_stream.ready` high), never fewer "
        f"than the beats of a vector on either side ({ib} in, {ob} out; at most one beat a "
        f"clock each way).",
        "- Weight sets: a vector is computed with the weight set that is active when its last "
        "beat is taken. No beat is taken while a commit is pending (STATUS bit 0 reads 1, "
        "`i_stream.ready` is low), and the commit lands only after every vector whose last beat "
        "was taken has passed the lanes. So a vector whose last beat transfers on or before "
        "the edge of the CTRL write is computed with the old set; a vector still partial at "
        "that edge keeps the beats already taken, takes the rest once the commit has landed, "
        "and is computed with the new set."]
    if net:
        out += ["- In this network each layer's output beat is the next layer's input beat; "
                "the network's own commit holds `i_stream.ready` low until it has landed, and "
                "a vector partly inside the first layer waits as above. The links:", "",
                "| layer | input: elements a beat | beats a vector | output: elements a beat "
                "| beats a vector |", "|---|---|---|---|---|"]
        out += [f"| `{_md(la.spec.name)}` | {la.info.in_beat_size} | {la.info.in_beats} | "
                f"{la.info.out_beat_size} | {la.info.out_beats} |" for la in core.layers]
    out.append("")
    return out


def datasheet_html(markdown: str, title: str) -> str:
    """The datasheet as a standalone HTML page: the Markdown converted by markdown-it-py
    (CommonMark with tables; raw HTML in the text is escaped, never passed through)."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;"
        "padding:.2em .5em;text-align:left}code,pre{background:#f4f4f4}"
        "pre{padding:.5em;overflow-x:auto}</style>", "</head>", "<body>", body, "</body>",
        "</html>", ""])


def datasheet(core, top: str, *, version: str, spec_sha256: str,
              clock_mhz: float = 100.0) -> str:
    """Markdown datasheet of ``core`` (a Layer or a Network) exported as module ``top``."""
    info = core.info
    rows = connection_rows(core)
    lines = [f"# `{_md(top)}` datasheet", "",
             f"Generated by lognet {version} from the spec with SHA-256 `{spec_sha256}`; true for "
             f"this core only. The files beside it: `{_md(top)}.v` (Verilog), `regmap.json`, "
             f"`regmap.md`, `{_md(top)}_regs.h` (C header), `connections.csv`, `manifest.json`, "
             f"`spec.json`, `{_md(top)}.core` (FuseSoC) and this sheet as `datasheet.html`.", "",
             "## Ports", "",
             "| port | dir | bits | meaning |", "|---|---|---|---|",
             "| `clk` | in | 1 | clock: everything happens on its rising edge |",
             "| `rst` | in | 1 | synchronous reset, active high: clears the datapath and a pending "
             "commit" + (", drops a vector whose beats are partly in or out" if _has_beats(core)
                         else "") + ", keeps every weight |",
             *_stream_rows(info),
             f"| `cfg__addr` | in | {info.addr_width} | configuration word address |",
             "| `cfg__w_data`, `cfg__w_en` | in | 32, 1 | a write: one word per clock, always "
             "accepted; a read strobed in any later clock returns it, a commit written in any "
             "later clock takes it |",
             "| `cfg__r_en` | in | 1 | a read strobe |",
             f"| `cfg__r_data` | out | 32 | read data: `r_en` high in clock c puts the word "
             f"on `r_data` from clock c + {READ_LATENCY} on (read latency {READ_LATENCY}; it "
             f"comes from registers), held until the next read's data; reads may be strobed "
             f"in consecutive clocks |", "",
             *_stream_text(core), "",
             f"Throughput at {clock_mhz:g} MHz: {clock_mhz * 1e6 / info.cycles_per_vector:,.0f} "
             f"vectors/s; latency {info.latency} clocks (defined under "
             + ("Beats" if _has_beats(core) else "Timing")
             + ((", the sum of the layers'" + (" plus, per link carried in n beats, n - 1"
                                                 if _link_beats(core) else ""))
                if hasattr(core, "layers") else "") + ").", "",
             *_beats_section(core),
             "## Number formats in Q notation", "",
             "`sQi.f` is a signed two's-complement number with `i` integer bits besides the sign "
             "and `f` fraction bits (`1 + i + f` bits); `uQi.f` is unsigned (`i + f` bits). The "
             "stored integer `n` stands for the real `n x 2^-f`. `i` may be negative: `uQ-1.9` "
             "has 8 bits whose real values lie below 2^-1. Rounding and saturation say how a "
             "wider value is brought into the format: floor, half up or half to even; clip to "
             "the range (saturate) or keep the low bits (wrap).", "",
             "## Configuration", "",
             "Writes land in shadow registers and memories. Writing 1 to CTRL bit 0 commits: the "
             "core stops taking vectors" + (" (and beats)" if _has_beats(core) else "")
             + ", lets those inside finish with the old set, then swaps "
             "the whole shadow set in at once, so every vector is computed with one complete "
             "weight set. Wait until STATUS bit 0 reads 0 before writing the next set. At "
             "power-on the registers hold the weights the core was generated with; a reset keeps "
             "them (a reset during a commit's copy leaves the active set partly updated: commit "
             "again). Reading a connection word or bias of a folded core during a commit's copy "
             "returns undefined data."
             + (" Which set a vector sent in beats uses: see Beats." if _has_beats(core)
                else "")]
    if hasattr(core, "layers"):
        lines += ["", f"This is a network of {len(core.layers)} layers chained output to input. "
                  f"Its own CTRL (address 0x{ADDR_CTRL:X}) commits every layer at once, between "
                  f"two vectors: the network stops taking input, waits until no vector is inside, "
                  f"then commits each layer as described in its section; into an idle network "
                  f"this takes {network_commit_clocks(core)} clocks from the CTRL write until "
                  f"the network's STATUS bit 0 reads 0 (the slowest layer's commit + 2). A "
                  f"layer's own CTRL commits that layer alone (a vector between two layers may "
                  f"then meet the new set of one and the old of the other: use the network's).",
                  "", "Network header registers:", "",
                  "| word address | name | access | content |", "|---|---|---|---|"]
        for h in core.regmap.header():
            content = f"`0x{h['value']:08X}`" if "value" in h else h["doc"]
            lines.append(f"| `0x{h['offset']:X}` | {h['name']} | {h['access']} | "
                         f"{cell(content)} |")
        lines += ["", "| layer | base address |", "|---|---|"]
        lines += [f"| `{_md(la.spec.name)}` | `0x{rm.base:X}` |" for la, rm in _layer_maps(core)]
    lines.append("")
    for la, rm in _layer_maps(core):
        lines += _layer_section(la, rm)
    lines += ["## Connection addresses", ""]
    if not rows:
        lines.append("No connection word is writable in this core.")
    elif len(rows) > TABLE_LIMIT:
        lines.append(f"{len(rows)} connection words: see `connections.csv` (columns: layer, "
                     f"address, output, connection, input, sign, index).")
    else:
        lines += ["`connections.csv` holds the same table.", "",
                  "| layer | address | output | connection | input | sign | index |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| `{_md(r[0])}` | `0x{r[1]:X}` | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} |"
                  for r in rows]
    lines += ["", "## Driving it from C", ""] + _c_example(core, top)
    return "\n".join(lines)
