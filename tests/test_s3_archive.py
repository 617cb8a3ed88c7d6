"""An archive home whose second copy lives in a real SeaweedFS bucket: ingest, audit and repair
across local disk and S3, with the dangan process killed mid-upload and the server stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from archive.catalogue import Catalogue
from archive.config import Fonds, StorageConfig, init_home, load_settings
from archive.reindex import rebuild
from preservation.audit import AuditOptions, audit

from .conftest import Home, dangan_process, make_image, make_scan_batch, new_home
from .test_ingest import ingest

pytest_plugins = ["tests.s3server"]

CLASS_ARGS = ("--category", "WS", "--year", "2024", "--retention", "D10", "--carrier", "纸质",
              "--author", "社区", "--date", "20240102")  # fmt: skip
PAGE = "data/original/扫描件001.tif"


class S3Home(Home):
    """A home whose second location is the test's SeaweedFS server."""

    def __init__(self, path: Path, server):
        super().__init__(path)
        self.server = server

    def s3(self):
        return self.locations()[1]


@pytest.fixture
def s3_home(tmp_path, s3_server):
    bucket = s3_server.new_bucket(object_lock=True)
    path = tmp_path / "home"
    storage = (
        StorageConfig("local", "fs", {"path": "store"}),
        StorageConfig("offsite", "s3", {"endpoint_url": s3_server.endpoint_url, "bucket": bucket}),
    )
    new_home(path, storage=storage).close()
    home = S3Home(path, s3_server)
    yield home
    home.close()
    if s3_server.process is None:
        s3_server.start()


def test_every_item_gets_a_verified_s3_copy_under_object_lock(s3_home, tmp_path):
    home = s3_home
    result = ingest(home, make_scan_batch(tmp_path / "b", 2))
    assert result.exit_code == 0, result.to_json()
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
        codes = [r.archival_code for r in cat.list()]
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


# --- a hung server (SIGSTOP: connections accepted, nothing answers) ---------------------------------------


def s3_waits(home: S3Home, **limits: float) -> None:
    """Set the S3 location's wait limits in dangan.toml (options of its [[storage]] entry)."""
    config = home.path / "dangan.toml"
    out = []
    for line in config.read_text(encoding="utf-8").splitlines():
        out.append(line)
        if line.startswith("bucket = "):
            out += [f"{k} = {v}" for k, v in limits.items()]
    config.write_text("\n".join(out) + "\n", encoding="utf-8")
    home.settings = load_settings(home.path)


@contextmanager
def frozen(server):
    """The S3 server stopped by SIGSTOP for the block, and always let go again."""
    server.freeze()
    try:
        yield
    finally:
        server.thaw()


def test_audit_of_a_hung_server_keeps_to_its_budget_and_says_unreadable(s3_home, tmp_path):
    """The default waits are long; --max-seconds must still bound the run, probe included, and never look clean."""
    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 2))
    with frozen(home.server):
        started = time.monotonic()
        options = AuditOptions(max_seconds=4, location="offsite", all=True)
        report = audit(home.settings, home.catalogue, home.locations(), options)
        elapsed = time.monotonic() - started
    assert elapsed < 12, elapsed
    assert [(p.location, p.archival_code, str(p.kind)) for p in report.problems] == [("offsite", None, "unreadable")]
    assert "无法访问 S3 存储位置 offsite" in report.problems[0].detail
    assert report.exit_code == 4 and report.remaining == 2 and report.checked_copies == 0
    assert report.object_lock["offsite"] == "unknown"


def test_audit_command_against_a_hung_server_exits_4_and_names_it(s3_home, tmp_path):
    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 2))
    home.catalogue.close()
    with frozen(home.server):
        started = time.monotonic()
        proc = dangan_process(home.path, "audit", "--max-seconds", "3", "--location", "offsite", stdout=subprocess.PIPE)
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        elapsed = time.monotonic() - started
    text = out.decode()
    assert proc.returncode == 4 and elapsed < 15, (proc.returncode, elapsed, text)
    assert "未修复 BC-3-2 无法读取 (整个位置) @ offsite" in text and "无法访问 S3 存储位置 offsite" in text


def test_audit_all_of_a_hung_server_ends_within_its_configured_waits(s3_home, tmp_path):
    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 3))
    s3_waits(home, connect_timeout=1, read_timeout=1, max_attempts=1)
    with frozen(home.server):
        started = time.monotonic()
        report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, repair=True))
        elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert [(p.location, str(p.kind)) for p in report.problems] == [("offsite", "unreadable")]
    assert report.exit_code == 4 and report.checked_copies == 3  # the local copies were still checked
    home.reopen()
    assert audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True)).problems == []


def test_ingest_against_a_hung_server_waits_once_not_per_request(s3_home, tmp_path):
    home = s3_home
    s3_waits(home, connect_timeout=2, read_timeout=2, max_attempts=1)
    with frozen(home.server):
        started = time.monotonic()
        result = ingest(home, make_scan_batch(tmp_path / "b", 3))
        elapsed = time.monotonic() - started
    assert [r.status for r in result.items] == ["incomplete"] * 3 and result.exit_code == 4
    assert elapsed < 9, elapsed  # one wait of 2 s (each request alone: recovery + 3 items, twice that)
    again = ingest(home, make_scan_batch(tmp_path / "b", 3))
    assert [r.status for r in again.items] == ["duplicate"] * 3
    assert sorted(home.s3().list_keys()) == [f"J012/J012-WS·2023-D30-000{n}" for n in (1, 2, 3)]


def test_s3_wait_limits_are_checked_and_kept_in_a_new_home(tmp_path):
    from archive.errors import ConfigError
    from archive.storage.s3 import S3Location

    base = {"endpoint_url": "http://127.0.0.1:9", "bucket": "b"}
    loc = S3Location.from_options("x", {**base, "read_timeout": 1.5, "max_attempts": 3})
    assert (loc.limits.read_timeout, loc.limits.max_attempts, loc.limits.connect_timeout) == (1.5, 3, 5)
    assert loc.client.meta.config.read_timeout == 1.5
    loc.limit_waits(2)
    assert loc.client.meta.config.read_timeout <= 0.5 and loc.client.meta.config.connect_timeout <= 0.5
    for bad in ({"read_timeout": 0}, {"max_attempts": 1.5}, {"connect_timeout": "5"}, {"max_attempts": True}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            S3Location.from_options("x", {**base, **bad})
    town = StorageConfig("town", "s3", {**base, "read_timeout": 7})
    init_home(tmp_path / "h", Fonds("J012", "振兴社区居民委员会"), storage=(StorageConfig("local", "fs"), town))
    assert load_settings(tmp_path / "h").storage[1].options["read_timeout"] == 7


# --- repair after a dead writer ---------------------------------------------------------------------------


def big_item(root: Path) -> Path:
    make_image(root / "件.tif", size=(2400, 3400), pages=3, seed=5)  # ~24 MB: multipart, seconds to upload
    return root


def pending_notes(s3) -> list[str]:
    answer = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=f"{s3.prefix}pending/")
    return [o["Key"] for o in answer.get("Contents", [])]


def repaired_whole(home: S3Home) -> None:
    """The next audit --repair rebuilds the S3 copy, and a later audit finds nothing."""
    home.reopen()
    report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, repair=True))
    found = [(p.location, str(p.kind), p.repaired) for p in report.problems]
    assert found == [("offsite", "missing_copy", True)], [p.to_json() for p in report.problems]
    assert report.exit_code == 0 and pending_notes(home.s3()) == []
    assert audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True)).problems == []


def test_server_killed_during_ingest_then_audit_repair_rebuilds_the_copy(s3_home, tmp_path):
    home = s3_home
    home.catalogue.close()
    proc = dangan_process(home.path, "ingest", str(big_item(tmp_path / "b")), *CLASS_ARGS, stdout=subprocess.DEVNULL)
    try:
        uploading = _wait(lambda: pending_notes(home.s3()) != [])
    finally:
        home.server.stop()
    assert proc.wait(timeout=120) == 4
    assert uploading, "the kill point (an upload in progress) was not reached"
    home.server.start()
    assert pending_notes(home.s3()) != []  # the dead writer's note is still there
    repaired_whole(home)


def test_audit_repair_killed_mid_rebuild_is_finished_by_the_next(s3_home, tmp_path):
    home = s3_home
    ingest(home, big_item(tmp_path / "b"))
    s3 = home.s3()
    s3.client.delete_object(Bucket=s3.bucket, Key=f"{s3.prefix}committed/J012/J012-WS·2023-D30-0001")
    home.catalogue.close()
    proc = dangan_process(home.path, "audit", "--all", "--repair", stdout=subprocess.DEVNULL)
    try:
        rebuilding = _wait(lambda: pending_notes(s3) != [])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert rebuilding, "the kill point (a rebuild in progress) was not reached"
    repaired_whole(home)


def test_a_rebuild_blocked_by_a_live_writer_says_why(s3_home, tmp_path):
    from archive.storage.s3 import _writer_note

    home = s3_home
    ingest(home, make_scan_batch(tmp_path / "b", 1))
    s3 = home.s3()
    key = "J012/J012-WS·2023-D30-0001"
    s3.client.delete_object(Bucket=s3.bucket, Key=s3._marker(key))
    s3._create(s3._pending(key), _writer_note("commit", None))  # this process: a writer still at work
    report = audit(home.settings, home.catalogue, home.locations(), AuditOptions(all=True, repair=True))
    [problem] = report.problems
    assert (str(problem.kind), problem.repaired) == ("missing_copy", False)
    assert "修复失败" in problem.detail and "另一进程正在写入" in problem.detail
    assert report.exit_code == 1


def test_init_says_which_object_lock_mode_a_location_has(tmp_path, s3_server):
    from click.testing import CliRunner

    from dangan.cli import main

    spec = f"town=s3:{s3_server.endpoint_url}/{s3_server.new_bucket()}/J012"
    args = ["--home", str(tmp_path / "h"), "init", "--fonds-code", "J012", "--fonds-name", "振兴社区居民委员会"]
    result = CliRunner().invoke(main, [*args, "--storage", "local=store", "--storage", spec], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "GOVERNANCE 模式" in result.stdout and 'lock_mode = "COMPLIANCE"' in result.stdout


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
    assert by_source[longest].status == "archived", result.to_json()
    refused = by_source["深层文件夹"]
    assert refused.status == "rejected" and [f.code for f in refused.errors] == ["GD-4-7"]
    assert "S3" in refused.errors[0].message
    key = f"J012/{by_source[longest].archival_code}"
    assert f"data/original/{longest}" in dict(s3_home.s3().list_files(key))
