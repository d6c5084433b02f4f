"""Atomic outputs: whole or nothing, never the user's files deleted, ordinary permissions."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lognet.base.errors import InputError
from lognet.base.files import MARKER, atomic_folder, atomic_write_text, check_out_folder


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
