"""An archive home whose second copy lives in a real SeaweedFS bucket: ingest, audit and repair
across local disk and S3, with the dangan process killed mid-upload and the server stopped.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from archive.audit import AuditOptions, audit
from archive.catalogue import Catalogue
from archive.config import Fonds, StorageConfig, init_home, load_settings
from archive.reindex import rebuild
from archive.storage import open_locations, prepare_locations

from .conftest import dangan_process, make_image, make_scan_batch
from .test_ingest import ingest

pytest_plugins = ["tests.s3server"]

CLASS_ARGS = ("--category", "WS", "--year", "2024", "--retention", "D10", "--carrier", "纸质",
              "--author", "社区", "--date", "20240102")  # fmt: skip
PAGE = "data/original/扫描件001.tif"


class S3Home:
    def __init__(self, path: Path, server):
        self.path, self.server = path, server
        self.settings = load_settings(path)
        self.catalogue = Catalogue(self.settings.catalogue_path)

    def locations(self):
        return open_locations(self.settings)

    def s3(self):
        return self.locations()[1]

    def reopen(self) -> None:
        self.catalogue.close()
        self.catalogue = Catalogue(self.settings.catalogue_path)


@pytest.fixture
def s3_home(tmp_path, s3_server):
    bucket = s3_server.new_bucket(object_lock=True)
    path = tmp_path / "home"
    storage = (
        StorageConfig("local", "fs", {"path": "store"}),
        StorageConfig("offsite", "s3", {"endpoint_url": s3_server.endpoint_url, "bucket": bucket}),
    )
    init_home(path, Fonds("J012", "振兴社区居民委员会"), storage=storage, ingest={"ocr": "off"})
    prepare_locations(load_settings(path))
    home = S3Home(path, s3_server)
    yield home
    home.catalogue.close()
    if s3_server.process is None:
        s3_server.start()


def test_every_item_gets_a_verified_s3_copy_under_object_lock(s3_home, tmp_path):
    home = s3_home
    result = ingest(home, make_scan_batch(tmp_path / "b", 2))
    assert result.exit_code == 0, result.to_dict()
    assert sorted(home.s3().list_keys()) == ["J012/J012-WS·2023-D30-0001", "J012/J012-WS·2023-D30-0002"]
    assert str(home.s3().object_lock()) == "enforced"
    report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True))
    assert report.problems == [] and report.checked_copies == 4
    from archive.errors import LockedError

    with pytest.raises(LockedError):
        home.s3().delete("J012/J012-WS·2023-D30-0001")
    assert home.s3().exists("J012/J012-WS·2023-D30-0001")


def test_damage_in_s3_found_and_repaired_from_local(s3_home, tmp_path):
    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 1))
    s3 = home.s3()
    client = s3.client
    key = f"{s3.prefix}aips/J012/J012-WS·2023-D30-0001/{PAGE}"
    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=s3.bucket, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))  # a silent overwrite
    extra = f"{s3.prefix}aips/J012/J012-WS·2023-D30-0001/data/original/x.txt"
    client.put_object(Bucket=s3.bucket, Key=extra, Body=b"x")
    found = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True))
    assert sorted((p.location, p.path, str(p.kind)) for p in found.problems) == [
        ("offsite", "data/original/x.txt", "extra"),
        ("offsite", PAGE, "corrupt"),
    ]
    fixed = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, repair=True))
    assert all(p.repaired for p in fixed.problems) and fixed.exit_code == 0
    assert audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True)).problems == []


def test_audit_listing_the_bucket_whole_still_finds_every_damage(s3_home, tmp_path, monkeypatch):
    """A run that lists the bucket in one pass (every S3 copy due) reports what a copy-by-copy look would."""
    from archive.storage.s3 import S3Location

    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 3))
    listed = []
    inventory = S3Location.inventory
    monkeypatch.setattr(S3Location, "inventory", lambda self, keys: listed.append(len(keys)) or inventory(self, keys))
    s3 = home.s3()
    aips = f"{s3.prefix}aips/J012"
    page = next(p for p, _ in s3.list_files("J012/J012-WS·2023-D30-0002") if p.startswith("data/"))
    s3.client.delete_object(Bucket=s3.bucket, Key=f"{s3.prefix}committed/J012/J012-WS·2023-D30-0001")
    s3.client.delete_object(Bucket=s3.bucket, Key=f"{aips}/J012-WS·2023-D30-0002/{page}")
    s3.client.put_object(Bucket=s3.bucket, Key=f"{aips}/J012-WS·2023-D30-0003/metadata/x.xml", Body=b"<x/>")
    found = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True))
    assert listed == [3]
    assert sorted((p.archival_code, p.path, str(p.kind)) for p in found.problems) == [
        ("J012-WS·2023-D30-0001", None, "missing_copy"),
        ("J012-WS·2023-D30-0002", page, "missing"),
        ("J012-WS·2023-D30-0003", "metadata/x.xml", "extra"),
    ]
    assert all(p.location == "offsite" for p in found.problems)
    bounded = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, max_bytes=1 << 40))
    assert listed == [3] and len(bounded.problems) == 3  # a bounded run lists copy by copy, and agrees


def test_server_stopped_during_ingest_then_completed(s3_home, tmp_path):
    home = s3_home
    home.server.stop()
    result = ingest(home, make_scan_batch(tmp_path / "b", 2))
    assert [r.status for r in result.items] == ["incomplete", "incomplete"]
    assert result.exit_code == 4
    assert {f.code for r in result.items for f in r.errors} == {"BC-4-8"}
    home.server.start()
    again = ingest(home, make_scan_batch(tmp_path / "b", 2))  # same files: duplicates now, copies completed first
    assert [r.status for r in again.items] == ["duplicate", "duplicate"]
    assert sorted(home.s3().list_keys()) == ["J012/J012-WS·2023-D30-0001", "J012/J012-WS·2023-D30-0002"]
    report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True))
    assert report.problems == [] and report.checked_copies == 4


def test_server_stopped_during_audit_is_unreadable_not_damage(s3_home, tmp_path):
    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 2))
    home.server.stop()
    started = time.monotonic()
    report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, repair=True))
    assert time.monotonic() - started < 60
    assert [(p.location, p.archival_code, str(p.kind)) for p in report.problems] == [("offsite", None, "unreadable")]
    assert report.exit_code == 4
    assert report.checked_copies >= 2  # the local copies were still checked
    home.server.start()
    assert audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True)).problems == []


def test_sigkill_mid_upload_and_server_stop_lose_nothing(s3_home, tmp_path):
    """Kill the dangan process while it uploads big scans; stop the server mid-upload; then finish."""
    home = s3_home
    batch = tmp_path / "batch"
    for n in range(4):
        make_image(batch / f"件{n}.tif", size=(2400, 3400), pages=3, seed=n)  # ~24 MB each, multipart-sized
    home.catalogue.close()
    proc = dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, "--json", stdout=open(os.devnull, "wb"))
    s3 = home.s3()
    try:
        uploading = _wait(lambda: any(True for _ in s3.client.list_objects_v2(
            Bucket=s3.bucket, Prefix=f"{s3.prefix}pending/").get("Contents", [])))  # fmt: skip
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert uploading, "the kill point (an upload in progress) was not reached"
    visible = list(s3.list_keys())
    second = dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, "--json", stdout=open(os.devnull, "wb"))
    try:
        reached = _wait(lambda: len(list(home.s3().list_keys())) > len(visible))
    finally:
        home.server.stop()  # mid-run: the next upload fails
    second.wait(timeout=300)
    home.server.start()
    final = dangan_process(home.path, "ingest", str(batch), *CLASS_ARGS, "--json", stdout=open(os.devnull, "wb"))
    assert final.wait(timeout=600) == 0
    assert reached
    cat = Catalogue(home.settings.catalogue_path)
    try:
        codes = [r["archival_code"] for r in cat.list()]
        assert codes == [f"J012-WS·2024-D10-{n:04d}" for n in range(1, 5)]
        assert sorted(s3.list_keys()) == [f"J012/{c}" for c in codes]
        report = audit(home.settings, cat, home.locations(), AuditOptions(all=True))
        assert report.problems == [] and report.checked_copies == 8
        before = cat.dump()
        rebuild(home.settings, cat)
        after = cat.dump()
        for table in before:
            assert set(after[table]) == set(before[table]), (table, set(after[table]) ^ set(before[table]))
    finally:
        cat.close()


def _wait(predicate, timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except Exception:  # the server may be between states; keep polling
            pass
        time.sleep(0.05)
    return False


def test_long_names_fit_s3_keys_and_a_path_no_key_could_hold_is_refused(s3_home, tmp_path):
    batch = tmp_path / "b"
    longest = "abcde" + "档案" * 41 + ".tif"  # 255 bytes: legal on ext4, and its object key fits
    make_image(batch / longest, seed=1)
    deep = batch / "深层文件夹"
    for level in range(5):  # five folders of 198 bytes: a path no 1024-byte object key holds
        deep = deep / ("档" * 65 + str(level))
    make_image(deep / "扫描件.tif", seed=2)
    result = ingest(s3_home, batch)
    by_source = {r.source: r for r in result.items}
    assert by_source[longest].status == "archived", result.to_dict()
    refused = by_source["深层文件夹"]
    assert refused.status == "rejected" and [f.code for f in refused.errors] == ["GD-4-7"]
    assert "S3" in refused.errors[0].message
    key = f"J012/{by_source[longest].archival_code}"
    assert f"data/original/{longest}" in dict(s3_home.s3().list_files(key))
