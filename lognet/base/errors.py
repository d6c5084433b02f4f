"""The error every user-facing check raises: one line that names the problem and the fix.

The CLI turns it (and :class:`~lognet.model.spec.SpecError`) into ``lognet: error: ...`` on
stderr and exit code 2, with no traceback.
"""

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input: a file, a size, an option. The message is one line."""
