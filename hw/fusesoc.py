"""The FuseSoC package of a generated core: a CAPI2 ``.core`` file beside the Verilog.

``lognet generate`` writes ``<top>.core`` into the output folder, so the folder is an IP package
that FuseSoC finds with ``--cores-root``::

    fusesoc --cores-root OUT run --target lint lognet:core:<top>:<version>

Targets (Edalize's flow API): ``default`` (the Verilog, for a core of the integrator's that
depends on this one), ``lint`` (Verilator ``--lint-only``) and ``sim`` (Icarus elaborates and
runs the core alone; an integrator's testbench core depends on this one and brings its own
stimulus). The C header and
the documents are listed in filesets of their own that no target compiles.
"""

from __future__ import annotations

import re

import yaml

from lognet.base.names import sanitise

__all__ = ["LINT_OPTIONS", "core_file", "vlnv"]

#: VLNV vendor and library of every generated core
VENDOR, LIBRARY = "lognet", "core"
#: Verilator options of the lint target. Amaranth's Verilog leans on Verilog's implicit width
#: extension and leaves default-less ``casez`` decodes (both legal, and equal in every
#: simulator): ``-Wno-lint -Wno-style`` turn those warnings off, as the project's own Verilator
#: builds do; every other warning and every error still fails the target.
LINT_OPTIONS = ("-Wno-lint", "-Wno-style")


def _version(version: str) -> str:
    """``version`` as a VLNV version field: its leading dotted digits (``0.1.0.dev3`` -> ``0.1.0``),
    ``0`` when it has none (an uninstalled tool reports ``unknown``)."""
    m = re.match(r"\d+(\.\d+)*", version)
    return m.group(0) if m else "0"


def vlnv(top: str, version: str) -> str:
    """The core's VLNV, ``lognet:core:<top>:<version>``, every part in FuseSoC's alphabet."""
    return f"{VENDOR}:{LIBRARY}:{sanitise(top)}:{_version(version)}"


def core_file(top: str, version: str, *, verilog: str, header: str, docs: list[str],
              description: str) -> str:
    """The CAPI2 text of the core ``top`` whose Verilog is the file ``verilog`` (names relative
    to the ``.core`` file), with the C ``header`` and the ``docs`` as filesets of their own."""
    name = sanitise(top)
    rtl = {"files": [verilog], "file_type": "verilogSource"}
    body = {
        "name": vlnv(top, version),
        "description": description,
        "filesets": {
            "rtl": rtl,
            "sw": {"files": [{header: {"is_include_file": True}}], "file_type": "cSource"},
            "doc": {"files": list(docs), "file_type": "user"},
        },
        "targets": {
            "default": {"filesets": ["rtl"], "toplevel": name},
            "lint": {"description": "Verilator lint of the core", "filesets": ["rtl"],
                     "toplevel": name, "flow": "lint",
                     "flow_options": {"tool": "verilator",
                                      "verilator_options": list(LINT_OPTIONS)}},
            "sim": {"description": "Icarus elaborates and runs the core alone (no stimulus)",
                    "filesets": ["rtl"], "toplevel": name, "flow": "sim",
                    "flow_options": {"tool": "icarus"}},
        },
    }
    # FuseSoC reads the first line as the format tag; the rest is YAML
    return "CAPI=2:\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
