"""A local location that fails, holds a link, or holds half a copy: ingest and audit go on and report it.

What the reviewer did with chmod (tests run as root, where chmod stops nothing) is done
here with a file where a folder belongs or a system call made to fail; what must hold
is the same: no traceback, the item "incomplete" or the repair "failed", the rest of
the run going on, and the copy completed once the location takes writes again.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
from pathlib import Path

import pytest

import archive.storage.fs as fs
from archive.premis import REPAIR
from archive.storage import open_locations
from preservation.audit import AuditOptions, audit

from .conftest import make_scan_batch, staging_leftovers
from .test_ingest import ingest

CLASS = ("--category", "WS", "--year", "2023", "--retention", "D30", "--carrier", "纸质", "--author", "居委会",
         "--date", "20230301")  # fmt: skip
FIRST, SECOND = "J012-WS·2023-D30-0001", "J012-WS·2023-D30-0002"
PAGE = "data/original/扫描件001.tif"
ALL = AuditOptions(all=True)
REPAIR_ALL = AuditOptions(all=True, repair=True)


@pytest.fixture
def archived(home, tmp_path):
    """Two D30 items, each in the primary ``store`` and in ``copy2``."""
    assert ingest(home, make_scan_batch(tmp_path / "b1", 2)).exit_code == 0
    return home


def run(home, options=ALL):
    return audit(home.settings, home.catalogue, open_locations(home.settings), options)


def copy_dir(home, code: str = FIRST, folder: str = "copy2") -> Path:
    return home.path / folder / "J012" / code


def found(report) -> list[tuple[str, str | None, str | None, str]]:
    return sorted((p.location, p.archival_code, p.path, str(p.kind)) for p in report.problems)


# --- ingest with a replica that refuses writes ------------------------------------------


def block_fonds_folder(home) -> Path:
    """copy2/J012 made a plain file: every commit into copy2 fails."""
    fonds = home.path / "copy2" / "J012"
    shutil.rmtree(fonds, ignore_errors=True)
    fonds.write_bytes(b"")
    return fonds


def refuse_writes(home, monkeypatch: pytest.MonkeyPatch) -> None:
    """As chmod 555 on copy2 and copy2/.staging does for a user other than root: no file can be made there."""
    blocked = str(home.path / "copy2")

    def no_write(path, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax+") and str(path).startswith(blocked):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fs, "open", no_write, raising=False)


@pytest.mark.parametrize("blocked", ["fonds folder a file", "permission denied"])
def test_ingest_with_a_replica_that_refuses_writes_is_incomplete_then_completed(
    home, cli, tmp_path, monkeypatch, blocked
):
    if blocked == "fonds folder a file":
        fonds = block_fonds_folder(home)
    else:
        refuse_writes(home, monkeypatch)
    code, _, data = cli("ingest", str(make_scan_batch(tmp_path / "b1", 1)), *CLASS, "--json")
    assert code == 4, data
    (item,) = data["items"]
    assert item["status"] == "incomplete" and item["archival_code"] == FIRST
    assert "copy2" in item["errors"][0]["message"]
    assert copy_dir(home, folder="store").is_dir()  # committed to the primary
    assert sorted(home.catalogue.copies(FIRST)) == ["local"]
    empty = tmp_path / "empty"
    empty.mkdir()
    cli("ingest", str(empty), *CLASS)  # a later run still fails to write the copy, and says nothing breaks
    assert sorted(home.catalogue.copies(FIRST)) == ["local"]
    if blocked == "fonds folder a file":
        fonds.unlink()
    else:
        monkeypatch.undo()
    cli("ingest", str(empty), *CLASS)  # the location takes writes again: the copy is written and verified
    assert sorted(home.catalogue.copies(FIRST)) == ["copy2", "local"]
    assert (copy_dir(home) / PAGE).is_file()
    assert staging_leftovers(home.path / "copy2") == []
    assert run(home).problems == []


# --- audit --repair with a location that fails --------------------------------------------


def fail_replace(home, monkeypatch: pytest.MonkeyPatch) -> None:
    """Putting a repaired file in place fails with an I/O error in copy2."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if kwargs.get("dst_dir_fd") is not None or str(dst).startswith(str(home.path / "copy2")):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(fs.os, "replace", replace)


@pytest.mark.parametrize("damage", ["file truncated", "copy missing"])
def test_audit_repair_goes_on_when_a_location_fails_to_write(archived, monkeypatch, damage):
    home = archived
    for code in (FIRST, SECOND):
        if damage == "file truncated":
            (page,) = (copy_dir(home, code) / "data/original").iterdir()
            page.write_bytes(b"")
        else:
            shutil.rmtree(copy_dir(home, code))
    if damage == "file truncated":
        fail_replace(home, monkeypatch)
    else:
        (home.path / "copy2" / ".staging").rename(home.path / "staging-away")
        (home.path / "copy2" / ".staging").write_bytes(b"")  # no staging directory can be made
    report = run(home, REPAIR_ALL)
    assert report.checked_copies == 4  # every copy checked, not just those before the first repair
    assert len(report.problems) == 2 and not any(p.repaired for p in report.problems)
    assert {p.location for p in report.problems} == {"copy2"} and report.exit_code == 1
    for code in (FIRST, SECOND):
        (repair,) = [e for e in home.catalogue.events(code) if e.type == REPAIR]
        assert repair.outcome == "failure" and "copy2" in repair.outcome_detail
    monkeypatch.undo()
    if damage == "copy missing":
        (home.path / "copy2" / ".staging").unlink()
    assert run(home, REPAIR_ALL).exit_code == 0
    assert run(home).problems == []


# --- a link in place of a copy, half a copy ------------------------------------------------


def test_a_link_to_another_copy_is_a_missing_copy_and_is_replaced(archived):
    home = archived
    shutil.rmtree(copy_dir(home))
    copy_dir(home).symlink_to(copy_dir(home, folder="store"), target_is_directory=True)
    assert found(run(home)) == [("copy2", FIRST, None, "missing_copy")]
    fixed = run(home, REPAIR_ALL)
    assert fixed.exit_code == 0 and fixed.problems[0].repaired
    assert copy_dir(home).is_dir() and not copy_dir(home).is_symlink()
    assert (copy_dir(home, folder="store") / PAGE).is_file()  # the copy linked to is untouched
    assert staging_leftovers(home.path / "copy2") == []
    assert run(home).problems == []


def test_a_linked_fonds_folder_holds_no_copies_and_is_never_written_through(archived):
    home = archived
    fonds = home.path / "copy2" / "J012"
    shutil.rmtree(fonds)
    fonds.symlink_to(home.path / "store" / "J012", target_is_directory=True)
    assert found(run(home)) == [("copy2", code, None, "missing_copy") for code in (FIRST, SECOND)]
    report = run(home, REPAIR_ALL)
    assert report.exit_code == 1 and not any(p.repaired for p in report.problems)
    assert fonds.is_symlink()
    assert sorted(p.name for p in (home.path / "store" / "J012").iterdir()) == [FIRST, SECOND]
    assert found(run(home, AuditOptions(all=True, location="local"))) == []


def _no_bagit(bag: Path) -> None:
    (bag / "bagit.txt").unlink()


def _left_empty(bag: Path) -> None:
    shutil.rmtree(bag)
    bag.mkdir()


def _bagit_a_link(bag: Path) -> None:
    (bag / "bagit.txt").unlink()
    (bag / "bagit.txt").symlink_to(bag.parents[2] / "store" / "J012" / bag.name / "bagit.txt")


@pytest.mark.parametrize("spoil", [_no_bagit, _bagit_a_link], ids=["no bagit.txt", "link"])
def test_a_copy_holding_files_but_no_bagit_is_reported_and_kept(archived, spoil):
    """It may be an archived AIP that lost its bagit.txt: repair never replaces a folder holding files."""
    home = archived
    spoil(copy_dir(home))
    before = sorted(p.relative_to(copy_dir(home)).as_posix() for p in copy_dir(home).rglob("*"))
    fixed = run(home, REPAIR_ALL)
    assert [(p.kind, p.repaired) for p in fixed.problems] == [("missing_copy", False)] and fixed.exit_code != 0
    assert sorted(p.relative_to(copy_dir(home)).as_posix() for p in copy_dir(home).rglob("*")) == before


@pytest.mark.parametrize("spoil", [_left_empty], ids=["empty"])
def test_half_a_copy_is_rebuilt_whole(archived, spoil):
    """A folder that is not a whole AIP was reported missing and could never be repaired ("AIP 已存在")."""
    home = archived
    spoil(copy_dir(home))
    assert found(run(home)) == [("copy2", FIRST, None, "missing_copy")]
    fixed = run(home, REPAIR_ALL)
    assert fixed.exit_code == 0 and fixed.problems[0].repaired
    assert not (copy_dir(home) / "bagit.txt").is_symlink()
    assert (copy_dir(home, folder="store") / "bagit.txt").is_file()
    assert staging_leftovers(home.path / "copy2") == []
    assert run(home).problems == []
