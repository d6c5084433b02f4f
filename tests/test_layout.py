"""The rooms' import rules, read from the source (README "How the code is laid out").

model/ knows no HDL, hw/ no simulator, board or front door, boards/ no cocotb; lognet.base (the
neutral helpers) imports nothing else of lognet; no folder has an import cycle, counting imports
inside functions too; the register map and the host driver load without Amaranth.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> import package, as pyproject.toml maps them
FOLDERS = {"lognet/base": "lognet.base", "lognet": "lognet", "model": "lognet.model",
           "hw": "lognet.hw", "sim": "lognet.sim", "boards": "lognet.boards"}
#: third-party packages a room must not import (model/ knows no HDL, only sim/ runs cocotb)
FORBIDDEN = {"base": ("amaranth", "cocotb"), "model": ("amaranth", "cocotb"),
             "hw": ("cocotb",), "boards": ("cocotb",), "front": ("cocotb",)}
#: what each room may import of lognet (itself included)
ALLOWED = {
    "base": {"base"},
    "model": {"base", "model"},
    "hw": {"base", "model", "hw"},
    "boards": {"base", "model", "hw", "boards"},
    "sim": {"base", "model", "hw", "boards", "sim"},
    "front": {"base", "model", "hw", "boards", "sim", "front"},
}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, pkg in FOLDERS.items():
        for p in sorted((ROOT / folder).rglob("*.py")):
            rel = p.relative_to(ROOT / folder).with_suffix("").parts
            if folder == "lognet" and rel[0] == "base":
                continue  # lognet/base is its own room
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            mods[".".join((pkg, *parts))] = p
    return mods


MODULES = _modules()


def room(module: str) -> str:
    for pkg, name in (("lognet.base", "base"), ("lognet.model", "model"), ("lognet.hw", "hw"),
                      ("lognet.sim", "sim"), ("lognet.boards", "boards")):
        if module == pkg or module.startswith(pkg + "."):
            return name
    return "front"


def imports(module: str) -> set[str]:
    """Every module ``module`` imports (at the top or inside a function), as full names."""
    path = MODULES[module]
    pkg = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            found.add(target)
            for a in node.names:  # ``from pkg import submodule``
                if f"{target}.{a.name}" in MODULES:
                    found.add(f"{target}.{a.name}")
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) == "__import__")):
            found.add(node.args[0].value)  # importlib.import_module("x") / __import__("x")
    return found


def violations() -> list[str]:
    bad = []
    for mod in MODULES:
        for imp in imports(mod):
            top = imp.split(".")[0]
            if any(top == f or top.startswith(f + "_") for f in FORBIDDEN.get(room(mod), ())):
                bad.append(f"{mod} imports {imp}")
            if imp != "lognet" and not imp.startswith("lognet."):
                continue
            if room(imp) not in ALLOWED[room(mod)]:
                bad.append(f"{mod} imports {imp}")
    return bad


def test_the_rooms_import_only_what_they_may():
    assert violations() == []


def test_no_import_cycle_inside_a_folder():
    graph = {m: {i for i in imports(m) if i in MODULES and room(i) == room(m) and i != m}
             for m in MODULES}
    cycles = []
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join(path[path.index(n):] + [n]))
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_checker_sees_a_bad_import(tmp_path, monkeypatch):
    """The rule test is not vacuous: a model module importing hw, and a pair of modules that
    import each other, are both caught."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from lognet.hw.layer import Layer\nfrom . import b\nimport amaranth.hdl\n")
    b.write_text("import importlib\ndef f():\n    from . import a\n"
                 "    importlib.import_module('cocotb_tools.runner')\n")
    monkeypatch.setitem(MODULES, "lognet.model.a", a)
    monkeypatch.setitem(MODULES, "lognet.model.b", b)
    assert sorted(violations()) == ["lognet.model.a imports amaranth.hdl",
                                    "lognet.model.a imports lognet.hw.layer",
                                    "lognet.model.b imports cocotb_tools.runner"]
    with pytest.raises(AssertionError, match="lognet.model.a -> lognet.model.b"):
        test_no_import_cycle_inside_a_folder()


@pytest.mark.parametrize("module", ["lognet.hw.regmap", "lognet.hw.arch", "lognet.hw.plan",
                                    "lognet.boards.host",
                                    "lognet.boards.protocol", "lognet.model.specjson"])
def test_loads_without_amaranth(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if 'amaranth' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
