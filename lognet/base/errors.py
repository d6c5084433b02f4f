"""The error every user-facing check raises: one line that names the problem and the fix.

The CLI turns it (and :class:`~lognet.model.spec.SpecError`) into ``lognet: error: ...`` on
stderr and exit code 2, with no traceback.
"""

__all__ = ["InputError", "ToolFailure"]


class InputError(ValueError):
    """Bad user input: a file, a size, an option. The message is one line."""


class ToolFailure(RuntimeError):
    """An external tool (a simulator, Yosys, nextpnr) is missing or stopped with an error that
    is not a verdict on the design. The message is one line: the step, the tool's own last
    error, where the full log is. The CLI prints it and exits 1."""
