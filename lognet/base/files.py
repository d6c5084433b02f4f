"""Writing outputs whole or not at all: one file through a temporary name and a rename, one
folder built beside its final place and renamed into it.

    with atomic_folder("out/", force=False) as tmp:
        (tmp / "a.json").write_text(...)
    # out/ now holds a.json; had the block raised, out/ would be as it was before

Every verb that writes a folder (``lognet fit``, ``generate``, ``synth``, ``build``, ``flow``)
goes through :func:`atomic_folder`, so an interrupted or failed run never leaves half a folder.
Each such folder carries a :data:`MARKER` file, and ``--force`` replaces only a folder that has
one (or is empty): a folder of the user's own files is refused, never deleted. Temporaries are
named after the process that writes them, so the next run removes those of a killed one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_folder", "atomic_write_bytes", "atomic_write_text", "check_out_folder",
           "load_npy", "usual_file_mode"]


#: a file in every folder :func:`atomic_folder` writes: ``--force`` replaces only such folders
MARKER = ".lognet"
#: part of the name of every temporary file or folder, followed by the writer's process id, so
#: a later run can remove what a killed one left (:func:`_clean_stale`)
_TMP_TAG = ".lognet-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_file_mode() -> int:
    """The mode a new file gets from ``open()``: 0666 less the umask (``mkstemp`` makes
    0600; files written through a temporary copy are given this one)."""
    return 0o666 & ~_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(parent: Path, name: str) -> None:
    """Remove temporaries of ``name`` in ``parent`` whose writing process is gone (a run killed
    with SIGKILL cannot clean up after itself)."""
    prefix = f".{name}{_TMP_TAG}"
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for p in entries:
        if not p.name.startswith(prefix):
            continue
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with suppress(OSError):
                    p.unlink()


def _tmp_prefix(name: str) -> str:
    return f".{name}{_TMP_TAG}{os.getpid()}-"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written.
    The file gets the usual mode (0666 less the umask)."""
    path = Path(path)
    parent = path.absolute().parent
    _clean_stale(parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), dir=parent)
    except FileNotFoundError:
        raise InputError(f"{path}: its folder does not exist; create it first") from None
    except NotADirectoryError:
        raise InputError(f"{path}: a file stands where its folder should be") from None
    except PermissionError:
        raise InputError(f"{path}: cannot write in {parent} (permission denied)") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, usual_file_mode())  # mkstemp makes 0600
        if path.is_dir():
            raise InputError(f"{path} is a folder; give a file name")
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


def _foreign(folder: Path) -> list[str]:
    """What in ``folder`` lognet did not write: everything, unless the folder carries lognet's
    :data:`MARKER`, which lists the names lognet put there; then the names it does not list."""
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return ["(unreadable)"]
    marker = folder / MARKER
    if not names:
        return []
    if not marker.is_file() or marker.is_symlink() or marker.stat().st_size > 1 << 20:
        return names
    listed = set(marker.read_text(errors="replace").splitlines()[1:])
    return [n for n in names if n != MARKER and n not in listed]


def check_out_folder(out: str | os.PathLike, force: bool) -> Path:
    """``out`` as a Path, or InputError when it exists (and ``force`` is not given), is a file,
    or holds anything but lognet's own output (``--force`` never replaces a folder of the
    user's). Call it before any long work so a run does not fail at its very end."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; choose another output folder")
    if out.is_symlink():
        raise InputError(f"{out} is a symbolic link; give the folder itself")
    if out.exists() and not force:
        raise InputError(f"{out} already exists; choose another folder or pass --force")
    if out.exists():
        foreign = _foreign(out)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more"
                                              if len(foreign) > 3 else "")
            raise InputError(f"{out} holds files lognet did not write ({shown}); --force "
                             f"replaces only lognet's own output folders: choose another "
                             f"folder")
    for p in out.absolute().parents:
        if p.exists() and not p.is_dir():
            raise InputError(f"{out}: {p} is a file, not a folder; choose another output folder")
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def atomic_folder(out: str | os.PathLike, *, force: bool = False):
    """Yield a fresh temporary folder beside ``out``; when the block ends normally it replaces
    ``out`` (which must not exist unless ``force``, and then only if lognet wrote it), when it
    raises it is removed. The swap is one atomic exchange where the system has one, so a kill
    at any moment leaves the old folder or the new, never neither."""
    shown = check_out_folder(out, force)
    out = Path(os.path.abspath(shown))  # "." and ".." resolved: the folder has a real name
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{shown}: a file stands where its folder should be") from None
    except PermissionError:
        raise InputError(f"{shown}: cannot create {parent} (permission denied)") from None
    _clean_stale(parent, out.name)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(out.name), dir=parent))
    except PermissionError:
        raise InputError(f"{shown}: cannot write in {parent} (permission denied)") from None
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual mode
    try:
        yield tmp
        names = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
        (tmp / MARKER).write_text("written by lognet; `--force` may replace this folder if it "
                                  "holds only these:\n" + "".join(f"{n}\n" for n in names))
        if out.exists():
            check_out_folder(out, force)  # still lognet's (it may have changed meanwhile)
            if _exchange(tmp, out):
                shutil.rmtree(tmp)  # now the old output
                return
            old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(out.name), dir=parent))
            try:
                os.replace(out, old / "x")
                os.replace(tmp, out)
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
