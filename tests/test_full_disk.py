"""A home on a disk that fills up mid-batch: a storage failure (exit 4) with a per-item report, never a
traceback, never blamed on the source files, nothing half-written, and the next run completes.

The disk is a real 20 MB tmpfs (root on Linux); elsewhere the tests say why they skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from archive.catalogue import Catalogue
from archive.config import Fonds, Settings, init_home, load_settings
from archive.errors import StorageError
from archive.fixity import SourceReadError, copy_and_hash
from archive.premis import Event
from archive.storage import prepare_locations
from dangan.cli import main as cli_main

from .conftest import staging_leftovers

CLASS = ("--category", "WS", "--year", "2023", "--retention", "Y", "--carrier", "纸质", "--author", "居委会",
         "--date", "20230301")  # fmt: skip


def _mount(where: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 20 MB tmpfs at ``tmp_path/disk``, unmounted afterwards."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("需要 root 与 Linux 才能挂载 tmpfs (a small real disk needs root on Linux)")
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        _mount(disk, "20m")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"无法挂载 tmpfs (cannot mount a tmpfs here): {exc}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def home_on(disk: Path) -> tuple[Path, Settings]:
    """An archive home on ``disk``, its locations and catalogue made."""
    home = disk / "home"
    init_home(home, Fonds("J012", "振兴社区居民委员会"), ingest={"ocr": "off"})
    settings = load_settings(home)
    prepare_locations(settings)
    Catalogue(settings.catalogue_path).close()
    return home, settings


def make_big_scans(root: Path, count: int) -> Path:
    """``count`` TIFF scans of about 1 MB each that do not compress (random pixels)."""
    root.mkdir(parents=True)
    for n in range(count):
        pixels = np.random.default_rng(n).integers(0, 255, (600, 580, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"p{n}.tif", dpi=(300, 300))
    return root


def ingest_json(home: Path, batch: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(cli_main, ["--home", str(home), "ingest", str(batch), *CLASS, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout.startswith("{"), result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_full_disk_is_a_storage_failure_with_a_report_and_the_next_run_completes(small_disk, tmp_path):
    home, settings = home_on(small_disk)
    batch = make_big_scans(tmp_path / "batch", 10)  # 永久: three copies of 10 MB on a 20 MB disk

    code, report = ingest_json(home, batch)
    assert code == 4, report
    statuses = [i["status"] for i in report["items"]]
    assert len(statuses) == 10 and statuses[0] == "archived", statuses
    assert "failed" in statuses and statuses[-1] == "not_attempted", statuses
    failed = next(i for i in report["items"] if i["status"] == "failed")
    (error,) = failed["errors"]
    # where the disk fills first (staging, a location, the catalogue) varies; the failure says which
    assert error["code"] == "BC-4-8" and ("[ENOSPC]" in error["message"] or "disk is full" in error["message"]), error
    assert not any(e["code"] == "GD-2-7" for i in report["items"] for e in i["errors"])  # the source is not at fault
    archived = [i["archival_code"] for i in report["items"] if i["status"] == "archived"]
    for folder in ("store", "copy2", "copy3"):
        assert staging_leftovers(home / folder) == [], folder  # nothing half-written

    # still full: what was archived is a duplicate (重复), never rejected
    code, again = ingest_json(home, batch)
    assert code == 4
    again_by_source = {i["source"]: i for i in again["items"]}
    # (unless the catalogue itself has no room left for the run's recovery: then nothing is attempted)
    expected = "not_attempted" if again["errors"] else "duplicate"
    for item in report["items"]:
        if item["status"] == "archived":
            assert again_by_source[item["source"]]["status"] == expected, again_by_source[item["source"]]
    assert again["rejected"] == 0

    subprocess.run(["mount", "-o", "remount,size=100m", str(small_disk)], check=True)
    code, last = ingest_json(home, batch)
    assert code == 0, last
    assert {i["status"] for i in last["items"]} <= {"archived", "duplicate"}
    cat = Catalogue(settings.catalogue_path, create=False)
    try:
        assert len(cat.list()) == 10 and set(archived) <= {r.archival_code for r in cat.list()}
    finally:
        cat.close()


def test_a_full_catalogue_disk_is_a_storage_error_naming_the_catalogue(small_disk):
    cat = Catalogue(small_disk / "catalogue.sqlite")
    try:
        with pytest.raises(StorageError, match="目录数据库") as caught:
            for _ in range(400):  # 400 x 100 kB: twice the disk
                with cat.write():
                    cat.add_event("J012-WS·2024-D10-0001", Event("filler", os.urandom(50_000).hex(), "success"))
        assert "full" in caught.value.message
        assert not cat.in_transaction  # rolled back: nothing half-written
    finally:
        cat.close()


def test_a_copy_tells_an_unreadable_source_from_a_failing_destination(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(SourceReadError):
        copy_and_hash(tmp_path / "dir", tmp_path / "out")  # a folder cannot be read as a file
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    (tmp_path / "taken").write_bytes(b"")
    with pytest.raises(OSError) as caught:
        copy_and_hash(source, tmp_path / "taken")  # the destination refuses
    assert not isinstance(caught.value, SourceReadError)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; return it (remove it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to flush when it is closed
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass
    return filler


def test_audit_repair_on_a_full_disk_says_why_and_succeeds_once_there_is_room(small_disk, tmp_path):
    from archive.storage import open_locations
    from preservation.audit import AuditOptions, audit

    home, settings = home_on(small_disk)
    code, _ = ingest_json(home, make_big_scans(tmp_path / "batch", 1))
    assert code == 0
    (page,) = (home / "copy2" / "J012").glob("*/data/original/p0.tif")
    page.unlink()
    filler = fill(small_disk)
    os.truncate(filler, filler.stat().st_size - 400_000)  # room for the catalogue's records, not for the page
    cat = Catalogue(settings.catalogue_path)
    try:
        report = audit(settings, cat, open_locations(settings), AuditOptions(all=True, repair=True))
        # the damage stays unrepaired (exit 1, as for any location that refuses the write), and why is said
        assert report.exit_code == 1 and "[ENOSPC]" in report.repair_failed[0], report.to_json()
        filler.unlink()
        report = audit(settings, cat, open_locations(settings), AuditOptions(all=True, repair=True))
        assert report.exit_code == 0 and page.is_file(), report.to_json()
    finally:
        cat.close()


def test_an_index_that_cannot_be_written_is_reported_and_mended_by_the_next_run(home, tmp_path, monkeypatch):
    from search.errors import SearchBackendError
    from search.fts import FtsIndex
    from search.indexing import open_search

    from .conftest import make_scan_batch
    from .test_ingest import ingest

    real = FtsIndex.upsert

    def full(self, docs):
        raise SearchBackendError("检索索引读写失败: database or disk is full", path=str(self.path))

    monkeypatch.setattr(FtsIndex, "upsert", full)
    result = ingest(home, make_scan_batch(tmp_path / "batch", 2))
    assert [r.status for r in result.items] == ["archived", "archived"]  # stored and catalogued: archived
    assert result.exit_code == 4 and [f.code for f in result.errors] == ["BC-4-8"]
    assert "disk is full" in result.errors[0].message and "search.sqlite" in result.errors[0].message
    monkeypatch.setattr(FtsIndex, "upsert", real)
    again = ingest(home, make_scan_batch(tmp_path / "batch", 2))  # its recovery fills the index in
    assert again.exit_code == 0 and again.count("duplicate") == 2
    with open_search(home.settings) as index:
        assert index.codes() == {r.archival_code for r in result.items}


def test_on_a_disk_with_no_room_at_all_archived_items_are_duplicates_and_a_new_one_fails(small_disk, tmp_path):
    home, _settings = home_on(small_disk)
    batch = make_big_scans(tmp_path / "batch", 2)
    code, first = ingest_json(home, batch)
    assert code == 0, first
    Image.new("L", (50, 50), 7).save(batch / "p9.tif", dpi=(300, 300))  # a new item, sorted last
    filler = fill(small_disk)
    code, again = ingest_json(home, batch)
    assert code == 4, again
    assert [i["status"] for i in again["items"]] == ["duplicate", "duplicate", "failed"], again
    assert again["items"][2]["errors"][0]["code"] == "BC-4-8"
    filler.unlink()
    code, last = ingest_json(home, batch)
    assert code == 0 and [i["status"] for i in last["items"]] == ["duplicate", "duplicate", "archived"], last
