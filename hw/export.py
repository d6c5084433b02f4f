"""Verilog export, register-map documents and the manifest: what ``lognet generate`` writes.

The output folder is written whole or not at all: everything goes into a temporary folder beside
the target, which is renamed into place at the end. The same spec gives byte-identical files
(no source locations, no dates, no absolute paths).
"""

from __future__ import annotations

import hashlib
import json
import math
import os

from amaranth.back import verilog
from amaranth.hdl import Shape

from lognet.base.errors import InputError
from lognet.base.files import atomic_folder, check_out_folder
from lognet.base.names import sanitise
from lognet.model.spec import LayerSpec, NetworkSpec
from lognet.model.specjson import dumps_spec

from . import regmap as rmap
from .datasheet import connections_csv, datasheet, datasheet_html
from .fusesoc import core_file
from .layer import Layer
from .network import Network

__all__ = ["MAX_CLOCK_MHZ", "build_core", "generate", "manifest", "to_verilog", "top_name"]

#: the highest clock ``generate`` states a throughput for (1 THz: far above any FPGA or ASIC)
MAX_CLOCK_MHZ = 1e6


def build_core(spec: LayerSpec | NetworkSpec, *, readback: bool = True) -> Layer | Network:
    """The Amaranth Component for a layer or a network."""
    if isinstance(spec, LayerSpec):
        return Layer(spec, readback=readback)
    return Network(spec, readback=readback)


def top_name(spec: LayerSpec | NetworkSpec) -> str:
    """Sanitised Verilog module name of the top: ``lognet_<name>``."""
    return f"lognet_{sanitise(spec.name)}"


def to_verilog(core, name: str) -> str:
    """Verilog text of ``core`` with module ``name`` (Amaranth's Yosys-based backend)."""
    return verilog.convert(core, name=name, emit_src=False)


def _ports(core) -> list[dict]:
    out = []
    for path, member, _ in core.signature.flatten(core):
        pname = "__".join(str(p) for p in path)
        width = Shape.cast(member.shape).width
        out.append({"name": pname, "dir": "in" if member.flow.name == "In" else "out",
                    "width": int(width)})
    return [{"name": "clk", "dir": "in", "width": 1}, {"name": "rst", "dir": "in", "width": 1},
            *out]


def _beats(info) -> dict:
    """The stream beats of a core or layer: elements per transfer and transfers per vector on
    each side (``in_beat`` is ``n_in`` and ``in_beats_per_vector`` 1 for whole vectors; the
    spec's ``arch.in_beat`` writes 0 for that)."""
    return {"in_beat": info.in_beat_size, "in_beats_per_vector": info.in_beats,
            "out_beat": info.out_beat_size, "out_beats_per_vector": info.out_beats}


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lognet")
    except PackageNotFoundError:
        return "unknown"


def manifest(spec: LayerSpec | NetworkSpec, core, clock_mhz: float = 100.0, *,
             version: str | None = None) -> dict:
    """Ports, widths, stream beats, timing and provenance of a generated core. ``version`` is
    the generating tool's version (the CLI passes its own; default: the installed lognet
    distribution's). ``latency_cycles`` counts edges from an input vector's (last beat's)
    transfer to its output's (first beat's); see docs/interfaces.md."""

    layers = [core] if isinstance(core, Layer) else core.layers
    per_layer = []
    for layer in layers:
        s = layer.spec
        per_layer.append({
            "name": s.name, "n_in": s.n_in, "n_out": s.n_out, "K": s.K, "connections": s.n_conn,
            "arch": s.arch.to_json(),
            "formats": {"input": s.in_fmt.describe(), "level": s.level_fmt.describe(),
                        "bias": s.bias_fmt.describe(), "output": s.out_fmt.describe()},
            "acc_width": s.acc_width, "index_bits": s.index_bits, **_beats(layer.info),
            "latency_cycles": layer.info.latency,
            "cycles_per_vector": layer.info.cycles_per_vector,
            "lane_utilisation": round(layer.utilisation, 6),
            "lane_schedule_utilisation": round(layer.schedule_utilisation, 6),
        })
    return {
        "lognet_version": version if version is not None else _installed_version(),
        "top": top_name(spec),
        "spec_sha256": hashlib.sha256(dumps_spec(spec).encode()).hexdigest(),
        "ports": _ports(core),
        "addr_width": core.info.addr_width,
        **_beats(core.info),
        "latency_cycles": core.info.latency,
        "cycles_per_vector": core.info.cycles_per_vector,
        "clock_mhz": clock_mhz,
        "throughput_vectors_per_s": clock_mhz * 1e6 / core.info.cycles_per_vector,
        "layers": per_layer,
        "read_latency_cycles": rmap.READ_LATENCY,
        "interface": "datasheet.md (streams: amaranth.lib.stream; cfg: addr/w_data/w_en/"
                     f"r_en/r_data, read latency {rmap.READ_LATENCY})",
    }


def generate(spec: LayerSpec | NetworkSpec, out_dir: str | os.PathLike, *, force: bool = False,
             clock_mhz: float = 100.0, readback: bool = True, version: str | None = None) -> dict:
    """Write ``<top>.v``, ``regmap.json``, ``regmap.md``, ``<top>_regs.h``, ``datasheet.md``,
    ``datasheet.html``, ``connections.csv``, ``<top>.core`` (FuseSoC), ``manifest.json`` and
    ``spec.json`` into ``out_dir``. Refuses an
    existing folder unless ``force`` (and then replaces only a folder lognet wrote)."""
    if not (isinstance(clock_mhz, (int, float)) and math.isfinite(clock_mhz) and clock_mhz > 0):
        raise InputError(f"clock {clock_mhz!r} MHz: give a positive number of MHz")
    if clock_mhz > MAX_CLOCK_MHZ:
        raise InputError(f"clock {clock_mhz:g} MHz: give at most {MAX_CLOCK_MHZ:g} MHz (the "
                         f"clock only scales the throughput the manifest states)")
    check_out_folder(out_dir, force)
    core = build_core(spec, readback=readback)
    name = top_name(spec)
    files = {
        f"{name}.v": to_verilog(core, name),
        "regmap.json": rmap.dumps_json(core.regmap),
        "regmap.md": rmap.to_markdown(core.regmap),
        f"{name}_regs.h": rmap.to_c_header(core.regmap, name),
        "spec.json": dumps_spec(core.spec),
    }
    man = manifest(core.spec, core, clock_mhz, version=version)
    files["datasheet.md"] = datasheet(core, name, version=man["lognet_version"],
                                      spec_sha256=man["spec_sha256"], clock_mhz=clock_mhz)
    files["datasheet.html"] = datasheet_html(files["datasheet.md"], f"{name} datasheet")
    files["connections.csv"] = connections_csv(core)
    kind = "network" if isinstance(core, Network) else "layer"
    files[f"{name}.core"] = core_file(
        name, man["lognet_version"], verilog=f"{name}.v", header=f"{name}_regs.h",
        docs=["datasheet.md", "datasheet.html", "regmap.md", "regmap.json", "connections.csv"],
        description=f"lognet {kind} core {name} (spec SHA-256 {man['spec_sha256'][:16]})")
    man["files"] = sorted(files) + ["manifest.json"]
    files["manifest.json"] = json.dumps(man, indent=1) + "\n"
    try:
        with atomic_folder(out_dir, force=force) as tmp:
            for fname, text in files.items():
                (tmp / fname).write_text(text)
    except OSError as e:  # nothing is left behind: atomic_folder removed its temporary
        raise InputError(f"{out_dir}: cannot write the output folder there "
                         f"({e.strerror or e}); choose a folder you can write") from None
    return man
