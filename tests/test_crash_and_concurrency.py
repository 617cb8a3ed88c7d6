"""Crash safety and concurrency with real processes: SIGKILL mid-ingest, two ingests at once.

After any kill the store holds whole AIPs only; the next run cleans up, archives what
is missing, duplicates nothing, and the 件号 run 0001…N without a gap.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from archive.bagcheck import validate_bag
from archive.catalogue import Catalogue
from archive.reindex import rebuild
from archive.storage import open_locations
from preservation.audit import AuditOptions, audit

from .conftest import dangan_process, make_image, staging_leftovers

pytestmark = pytest.mark.slow

CLASS_ARGS = (
    "--category",
    "WS",
    "--year",
    "2024",
    "--retention",
    "D10",
    "--carrier",
    "纸质",
    "--author",
    "社区",
    "--date",
    "20240102",
)


def make_batch(root: Path, count: int, seed: int) -> Path:
    """Items big enough that an ingest takes a while: multi-page 300 dpi TIFFs."""
    for n in range(count):
        make_image(root / f"件{seed}-{n:02d}.tif", size=(1200, 1700), pages=3, seed=seed * 100 + n)
    return root


def committed(store: Path) -> list[Path]:
    return sorted(p for p in store.glob("J012/*") if p.is_dir())


def wait_for(predicate, timeout: float = 60) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.001)
    return False


def staging_busy(store: Path) -> bool:
    return any(p.is_dir() for p in staging_leftovers(store))


def assert_only_whole_aips(store: Path) -> None:
    for bag in committed(store):
        report = validate_bag(bag)
        assert report.valid, (bag, report.errors)


def kill_when(home: Path, batch: Path, predicate) -> None:
    proc = dangan_process(home, "ingest", str(batch), *CLASS_ARGS, "--json", stdout=open(os.devnull, "wb"))
    try:
        reached = wait_for(predicate)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert reached, "the ingest finished before the kill point was reached"


def test_sigkill_at_several_points_loses_nothing_and_duplicates_nothing(home, tmp_path):
    batch = make_batch(tmp_path / "batch", 10, seed=1)
    store = home.store
    home.catalogue.close()
    points = [
        lambda: staging_busy(store),  # mid-copy of the first item
        lambda: len(committed(store)) >= 1,  # right after a commit
        lambda: len(committed(store)) >= 3 and staging_busy(store),  # mid-batch, mid-item
        lambda: staging_busy(home.path / "copy2"),  # mid-replication to the second location
        lambda: len(committed(store)) >= 6,
    ]
    for point in points:
        kill_when(home.path, batch, point)
        assert_only_whole_aips(store)
        assert_only_whole_aips(home.path / "copy2")
    final = dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, "--json", stdout=open(os.devnull, "wb"))
    assert final.wait() == 0
    names = [p.name for p in committed(store)]
    assert names == [f"J012-WS·2024-D10-{n:04d}" for n in range(1, 11)]
    assert not staging_leftovers(store), "abandoned staging left behind"
    assert not staging_leftovers(home.path / "copy2")
    assert [p.name for p in committed(home.path / "copy2")] == names, "a required copy is missing"
    assert_only_whole_aips(store)
    cat = Catalogue(home.settings.catalogue_path)
    try:
        assert len(cat.list()) == 10
        before = cat.dump()
        rebuild(home.settings, cat)
        assert cat.dump() == before, "catalogue disagrees with storage"
        report = audit(home.settings, cat, open_locations(home.settings), AuditOptions(all=True))
        assert report.problems == [] and report.checked_copies == 20
    finally:
        cat.close()


def test_two_processes_allocate_gap_free_unique_numbers(home, tmp_path):
    a = make_batch(tmp_path / "a", 6, seed=2)
    b = make_batch(tmp_path / "b", 6, seed=3)
    home.catalogue.close()
    procs = [
        dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, stdout=open(os.devnull, "wb")) for batch in (a, b)
    ]
    assert [p.wait() for p in procs] == [0, 0]
    names = [p.name for p in committed(home.store)]
    assert names == [f"J012-WS·2024-D10-{n:04d}" for n in range(1, 13)]
    cat = Catalogue(home.settings.catalogue_path)
    try:
        numbers = sorted(r.item_number for r in cat.list())
        assert numbers == list(range(1, 13))
    finally:
        cat.close()


def test_audit_repair_killed_mid_rebuild_leaves_staging_the_next_repair_clears(home, tmp_path):
    """A repair killed while it stages a copy leaves debris in that location's staging; the next repair,
    not only the next ingest, clears it (and finishes the rebuild)."""
    copy2 = home.path / "copy2"
    batch = make_batch(tmp_path / "batch", 6, seed=4)
    home.catalogue.close()
    assert dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, stdout=open(os.devnull, "wb")).wait() == 0
    for bag in committed(copy2):
        shutil.rmtree(bag)
    proc = dangan_process(home.path, "audit", "--all", "--repair", stdout=open(os.devnull, "wb"))
    try:
        reached = wait_for(lambda: any(f.is_file() for p in staging_leftovers(copy2) for f in p.rglob("*")))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert reached, "the repair finished before the kill point was reached"
    assert staging_leftovers(copy2)
    cat = Catalogue(home.settings.catalogue_path)
    try:
        report = audit(home.settings, cat, open_locations(home.settings), AuditOptions(all=True, repair=True))
        assert report.exit_code == 0 and all(p.repaired for p in report.problems)
        assert not staging_leftovers(copy2), "a killed repair's staging is left behind"
        assert [p.name for p in committed(copy2)] == [p.name for p in committed(home.store)]
    finally:
        cat.close()
