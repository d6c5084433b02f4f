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
import math
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import InputError

__all__ = ["MAX_ARRAY_VALUES", "atomic_folder", "atomic_write_bytes", "atomic_write_text",
           "check_array_dims", "check_npy", "check_npz", "check_out_file", "check_out_folder",
           "load_npy",
           "usual_file_mode"]


#: a file in every folder :func:`atomic_folder` writes: ``--force`` replaces only such folders
MARKER = ".lognet"
#: part of the name of every temporary file or folder, followed by the writer's process id, so
#: a later run can remove what a killed one left (:func:`_clean_stale`)
_TMP_TAG = ".lognet-tmp-"

#: the most values one array read from a user's file may hold (2 GiB as float64): every
#: .npy / .npz header and ONNX initializer declaring more is refused before anything is
#: allocated
MAX_ARRAY_VALUES = 1 << 28
#: a .npz whose arrays expand to more than this many times its size on disk is refused (no
#: real weights or inputs compress so far; a zip bomb does) ...
MAX_NPZ_EXPANSION = 200
#: ... when they expand to more than this many bytes (a small archive may expand freely)
_NPZ_EXPANSION_FREE = 1 << 26


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
    _refuse_special(path)
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


def _special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a folder (following a
    symbolic link): "a character device", "a named pipe", ...; None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, kind in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def _refuse_special(path: Path) -> None:
    kind = _special_kind(path)
    if kind:
        raise InputError(f"{path} is {kind}, not a regular file; lognet writes an output "
                         f"through a temporary file renamed over it, which would replace it: "
                         f"give a file name")


def check_out_file(path: str | os.PathLike, *, replace: bool = True) -> Path:
    """``path`` as a Path, or InputError when a file cannot be written there: it is a folder
    or a device, pipe or socket, a file stands where a folder of its path should be, the folder
    does not exist, or nothing can be created in it (tried with a temporary file, removed at
    once); with ``replace=False`` also when a file exists there already (the command line's
    policy: an existing file is replaced only with ``--force``). Call it before any long work
    so a run does not fail at its very end."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name")
    _refuse_special(path)
    if not replace and (path.exists() or path.is_symlink()):
        raise InputError(f"{path} exists; give --force to replace it, or another file name")
    parent = path.absolute().parent
    for p in (parent, *parent.parents):
        if p.exists() and not p.is_dir():
            raise InputError(f"{path}: {p} is a file, not a folder; choose another path")
    if not parent.exists():
        raise InputError(f"folder {parent} does not exist; create it first")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path.name), dir=parent)
    except OSError as e:
        raise InputError(f"{path}: cannot write in {parent} ({e.strerror or e}); choose "
                         f"another path") from None
    os.close(fd)
    os.unlink(tmp)
    return path


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
    check_npy(p, f"{p} ({what})")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as e:
        raise InputError(f"{p}: not a plain .npy array ({str(e).splitlines()[0]})") from None
    except (OSError, EOFError):
        raise InputError(f"{p}: not a readable .npy file ({what})") from None


def _shape_text(shape) -> str:
    text = str(tuple(shape))
    return text if len(text) <= 60 else text[:57] + "..."


def _npy_header(f, where: str):
    """The shape and dtype in the header of the .npy stream ``f`` (at its start), read with
    NumPy's own header parser, nothing of the data read."""
    import numpy as np

    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            raise InputError(f"{where}: .npy format version {version[0]}.{version[1]}, which "
                             f"holds no plain numeric array; save it with numpy.save")
    except (ValueError, EOFError) as e:
        raise InputError(f"{where}: not a plain .npy array (its header: "
                         f"{str(e).splitlines()[0][:80]})") from None
    return shape, dtype


def check_array_dims(dims, where: str, *, damaged: str, smaller: str) -> int:
    """The number of values an array header declares (``dims``), refused with one line when a
    dimension is negative (``damaged``: what that means and the fix) or the values are more
    than :data:`MAX_ARRAY_VALUES` (``smaller``: what to give instead)."""
    dims = [int(d) for d in dims]
    if any(d < 0 for d in dims):
        raise InputError(f"{where}: its header declares the shape {_shape_text(dims)}; "
                         f"{damaged}")
    values = math.prod(dims)
    if values > MAX_ARRAY_VALUES:
        raise InputError(f"{where}: declares an array of shape {_shape_text(dims)} "
                         f"({values:,} values), more than the {MAX_ARRAY_VALUES:,} values "
                         f"lognet reads in one array; {smaller}")
    return values


def _check_npy_size(shape, dtype, data_bytes: int, where: str) -> None:
    """Refuse an array header that declares more than :data:`MAX_ARRAY_VALUES` values, or more
    data than its file holds (``data_bytes`` after the header)."""
    if dtype.hasobject:
        return  # pickled objects: np.load refuses them without reading (allow_pickle=False)
    values = check_array_dims(shape, where, damaged="not a plain .npy array",
                              smaller="give a smaller array")
    need = values * dtype.itemsize
    if need > data_bytes:
        raise InputError(f"{where}: declares shape {_shape_text(shape)} ({need:,} bytes of "
                         f"data) but holds only {data_bytes:,}; the file is cut short: save it "
                         f"again")


def check_npy(path: str | os.PathLike, where: str | None = None) -> None:
    """Check a .npy file's header before it is loaded: at most :data:`MAX_ARRAY_VALUES`
    values, and as much data in the file as the header declares (InputError otherwise)."""
    where = where or str(path)
    with open(path, "rb") as f:
        shape, dtype = _npy_header(f, where)
        _check_npy_size(shape, dtype, os.fstat(f.fileno()).st_size - f.tell(), where)


def check_npz(path: str | os.PathLike) -> None:
    """Check a .npz archive before any array of it is read: a zip archive that holds arrays,
    each member's header (:func:`check_npy`'s rules, against the member's declared size), and
    no more expansion than :data:`MAX_NPZ_EXPANSION` (a zip bomb is refused from its directory,
    nothing decompressed but the headers)."""
    import numpy as np

    p = Path(path)
    with open(p, "rb") as f:
        if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):  # a member first, or empty
            raise InputError(f"{p}: not a readable .npz file (not a zip archive)")
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
            if not infos:
                raise InputError(f"{p}: an empty archive, it holds no arrays; save arrays into "
                                 f"it with numpy.savez({p.name!r}, name=array)")
            disk = os.path.getsize(p)
            total = sum(i.file_size for i in infos)
            if total > _NPZ_EXPANSION_FREE and total > MAX_NPZ_EXPANSION * disk:
                raise InputError(f"{p}: its arrays expand to {total:,} bytes from {disk:,} on "
                                 f"disk, more than {MAX_NPZ_EXPANSION} times (no real weights "
                                 f"or inputs compress so far); save the arrays with "
                                 f"numpy.savez, uncompressed")
            for info in infos:
                where = f"{p}: array {info.filename.removesuffix('.npy')!r}"
                with z.open(info) as m:
                    magic = m.read(len(np.lib.format.MAGIC_PREFIX))
                    if magic != np.lib.format.MAGIC_PREFIX:
                        if info.file_size > MAX_ARRAY_VALUES:  # np.load reads it as bytes
                            raise InputError(f"{where}: {info.file_size:,} bytes that are no "
                                             f".npy array; save plain numeric arrays")
                        continue
                    m.seek(0)
                    shape, dtype = _npy_header(m, where)
                    _check_npy_size(shape, dtype, info.file_size - m.tell(), where)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            zlib.error, EOFError, OSError) as e:
        raise InputError(f"{p}: not a readable .npz file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:60] if str(e) else 'damaged'})") from None


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
