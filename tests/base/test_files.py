"""Atomic outputs: whole or nothing, never the user's files deleted, ordinary permissions."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lognet.base import files
from lognet.base.errors import InputError
from lognet.base.files import (
    MARKER,
    MAX_ARRAY_VALUES,
    atomic_folder,
    atomic_write_text,
    check_npy,
    check_npz,
    check_out_file,
    check_out_folder,
    load_npy,
)


def test_a_new_folder_appears_whole_with_the_marker(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporaries left


def test_force_refuses_a_folder_of_the_users_files(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(InputError, match="holds files lognet did not write"):
        check_out_folder(mine, force=True)
    with pytest.raises(InputError, match="holds files lognet did not write"):
        with atomic_folder(mine, force=True) as tmp:
            (tmp / "x").write_text("x")
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_force_refuses_the_current_folder_of_user_files(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="did not write"):
        with atomic_folder(".", force=True):
            pass
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_force_replaces_lognets_own_folder_and_an_empty_one(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "old.txt").write_text("old")
    with atomic_folder(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_folder(empty, force=True) as tmp:
        (tmp / "n").write_text("n")
    assert sorted(p.name for p in empty.iterdir()) == [MARKER, "n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out"]


def test_a_failed_run_leaves_the_old_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(out, force=True) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path):
    # a child process makes a temporary folder and dies without cleaning up (as after SIGKILL)
    code = ("import os, sys; from lognet.base.files import atomic_folder\n"
            "with atomic_folder(sys.argv[1]) as t:\n"
            "    (t / 'part').write_text('x'); os._exit(9)\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", code, str(out)])
    assert r.returncode == 9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.lognet-tmp-")
    with atomic_folder(out) as tmp:
        (tmp / "a").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.json", "{}\n")
        with atomic_folder(tmp_path / "d") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_a_file_where_a_folder_belongs_is_one_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_out_folder(tmp_path / "afile" / "sub", force=False)
    with pytest.raises(InputError, match="a file stands where its folder should be"):
        atomic_write_text(tmp_path / "afile" / "f.json", "{}")
    with pytest.raises(InputError, match="exists and is not a folder"):
        check_out_folder(tmp_path / "afile", force=True)


def test_force_refuses_a_lognet_folder_the_user_added_to(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
    (out / "NOTES.md").write_text("mine")
    (out / "mydata").mkdir()
    with pytest.raises(InputError, match=r"holds files lognet did not write \(NOTES.md, mydata\)"):
        check_out_folder(out, force=True)
    # a copied manifest does not make a folder lognet's
    own = tmp_path / "proj"
    own.mkdir()
    (own / "manifest.json").write_text('{"lognet_version": "0.1.0"}')
    (own / "main.c").write_text("int main(){}")
    with pytest.raises(InputError, match="did not write"):
        check_out_folder(own, force=True)
    assert (own / "main.c").read_text() == "int main(){}"


def test_a_symbolic_link_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "target"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("a")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(InputError, match="is a symbolic link"):
        with atomic_folder(link, force=True):
            pass
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["link",
                                                                                "target"]


def _header(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def test_npy_headers_are_checked_before_loading(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(12).reshape(3, 4))
    check_npy(tmp_path / "ok.npy")
    np.testing.assert_array_equal(load_npy(tmp_path / "ok.npy"), np.arange(12).reshape(3, 4))
    # one value above the limit: refused from the header (nothing of the data exists)
    (tmp_path / "big.npy").write_bytes(_header((MAX_ARRAY_VALUES + 1,), "|u1"))
    with pytest.raises(InputError, match="268,435,457 values"):
        load_npy(tmp_path / "big.npy", "the inputs")
    # exactly at the limit but the data missing: refused as cut short, not allocated
    (tmp_path / "at.npy").write_bytes(_header((MAX_ARRAY_VALUES,), "|u1") + bytes(10))
    with pytest.raises(InputError, match="holds only 10; the file is cut short"):
        check_npy(tmp_path / "at.npy")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': <f8}     \n")
    with pytest.raises(InputError, match="not a plain .npy array"):
        load_npy(tmp_path / "bad.npy")


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_npz_members_are_checked_before_reading(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 64))
    np.savez_compressed(tmp_path / "ok.npz", w=w, mask=np.zeros((256, 256)))
    check_npz(tmp_path / "ok.npz")  # real weights and a compressed all-zero mask: accepted
    _zip(tmp_path / "huge.npz", {"w.npy": _header((10**6, 10**6))})
    with pytest.raises(InputError, match=r"array 'w': declares an array of shape \(1000000, "):
        check_npz(tmp_path / "huge.npz")
    _zip(tmp_path / "short.npz", {"w.npy": _header((4, 6)) + bytes(100)})
    with pytest.raises(InputError, match=r"\(192 bytes of data\) but holds only 100"):
        check_npz(tmp_path / "short.npz")
    # a member with NumPy's magic under any name is read as an array by np.load: checked too
    _zip(tmp_path / "named.npz", {"w": _header((10**6, 10**6))})
    with pytest.raises(InputError, match="268,435,456"):
        check_npz(tmp_path / "named.npz")
    np.savez(tmp_path / "none.npz")
    with pytest.raises(InputError, match="holds no arrays"):
        check_npz(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError, match="not a zip archive"):
        check_npz(tmp_path / "text.npz")


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path, monkeypatch):
    """Expansion beyond MAX_NPZ_EXPANSION is refused once the arrays are large (the free size
    lowered here so the bomb stays small)."""
    monkeypatch.setattr(files, "_NPZ_EXPANSION_FREE", 1 << 20)
    bomb = _header((1 << 18,)) + bytes(8 << 18)  # 2 MiB of zeros, deflated to a few kB
    _zip(tmp_path / "bomb.npz", {"x.npy": bomb}, zipfile.ZIP_DEFLATED)
    assert os.path.getsize(tmp_path / "bomb.npz") * files.MAX_NPZ_EXPANSION < len(bomb)
    with pytest.raises(InputError, match="more than 200 times"):
        check_npz(tmp_path / "bomb.npz")
    _zip(tmp_path / "stored.npz", {"x.npy": bomb})  # the same zeros uncompressed: accepted
    check_npz(tmp_path / "stored.npz")
    monkeypatch.setattr(files, "_NPZ_EXPANSION_FREE", 1 << 26)
    check_npz(tmp_path / "bomb.npz")  # below the free size a small archive may expand


def test_an_output_file_is_checked_before_the_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert check_out_file(tmp_path / "out.json") == tmp_path / "out.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the probe is gone
    with pytest.raises(InputError, match="is a folder; give a file name"):
        check_out_file(tmp_path)
    with pytest.raises(InputError, match="afile is a file, not a folder"):
        check_out_file(tmp_path / "afile" / "x" / "out.json")
    with pytest.raises(InputError, match="does not exist; create it first"):
        check_out_file(tmp_path / "nodir" / "out.json")
    with pytest.raises(InputError, match="cannot write in /proc"):
        check_out_file("/proc/lognet-out.json")


def test_a_device_or_pipe_is_never_replaced(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/null")
    for path, kind in (("/dev/null", "a character device"), (tmp_path / "fifo", "a named pipe"),
                       (tmp_path / "link", "a character device")):
        with pytest.raises(InputError, match=f"is {kind}, not a regular file"):
            check_out_file(path)
        with pytest.raises(InputError, match=f"is {kind}, not a regular file"):
            atomic_write_text(path, "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link"]
