"""Writing outputs whole or not at all: one file through a temporary name and a rename, one
folder built beside its final place and renamed into it.

    with atomic_folder("out/", force=False) as tmp:
        (tmp / "a.json").write_text(...)
    # out/ now holds a.json; had the block raised, out/ would be as it was before

Every verb that writes a folder (``lognet fit``, ``generate``, ``synth``, ``build``, ``flow``)
goes through :func:`atomic_folder`, so an interrupted or failed run never leaves half a folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_folder", "atomic_write_bytes", "atomic_write_text", "check_out_folder",
           "load_npy"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.absolute().parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    atomic_write_bytes(path, text.encode())


def load_npy(path: str | os.PathLike, what: str = "array"):
    """One array from a ``.npy`` file, never unpickled; InputError naming ``what`` (e.g. "the
    test inputs") when the file is missing, not a .npy file, or holds objects."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file ({what})")
    with open(p, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise InputError(f"{p}: not a .npy file ({what}); save it with numpy.save")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        raise InputError(f"{p}: not a plain .npy array ({str(e).splitlines()[0]})") from None
    except (OSError, EOFError):
        raise InputError(f"{p}: not a readable .npy file ({what})") from None


def check_out_folder(out: str | os.PathLike, force: bool) -> Path:
    """``out`` as a Path, or InputError when it exists (and ``force`` is not given) or is a
    file. Call it before any long work so a run does not fail at its very end."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; choose another output folder")
    if out.exists() and not force:
        raise InputError(f"{out} already exists; choose another folder or pass --force")
    return out


@contextmanager
def atomic_folder(out: str | os.PathLike, *, force: bool = False):
    """Yield a fresh temporary folder beside ``out``; when the block ends normally it replaces
    ``out`` (which must not exist unless ``force``), when it raises it is removed."""
    out = check_out_folder(out, force)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; give the folder the usual mode
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
