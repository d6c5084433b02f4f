"""Shared by the CLI tests: run the console script, and check a one-line user error."""

import subprocess
import sys

LOGNET = [sys.executable, "-m", "lognet.cli"]


def run(*args, cwd=None):
    """``lognet ARGS`` in a fresh process; the completed process (text output)."""
    return subprocess.run([*LOGNET, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_user_error(r, needle=""):
    """Exit code 2, one line ``lognet: error: ...`` containing ``needle``, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("lognet: error: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in r.stderr, r.stderr
