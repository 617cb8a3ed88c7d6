"""S3 存储位置 against a real SeaweedFS server: atomic commits, crash recovery, Object Lock, fixity on the wire."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from archive.errors import AIPExistsError, ConfigError, LockedError, StorageError
from archive.storage.base import ObjectLock
from archive.storage.fs import FsLocation
from archive.storage.s3 import PART_SIZE, S3Location, _Digest

if TYPE_CHECKING:
    from tests.s3server import WeedServer

pytest_plugins = ["tests.s3server"]  # the s3_server and s3_location fixtures

REPO = Path(__file__).resolve().parents[1]
KEY = "J012/J012-WS·2024-Y-0001"
FILES = {
    "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    "data/original/关于社区换届选举的通知.pdf": "通知正文".encode() * 500,
    "data/original/照片/活动现场·01.jpg": os.urandom(70_000),
    "metadata/item.xml": "<item><题名>换届选举</题名></item>".encode(),
}


def make_bag(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        target = root.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def write_random(path: Path, size: int) -> Path:
    """A file of ``size`` random bytes, written in blocks (never whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start in range(0, size, 1 << 20):
            f.write(os.urandom(min(1 << 20, size - start)))
    return path


def commit(loc: S3Location, key: str = KEY, files: dict[str, bytes] = FILES, **kwargs) -> None:
    with loc.staging() as work:
        loc.commit(key, make_bag(work, files), **kwargs)


def versions(loc: S3Location, sub: str) -> list[tuple[str, str]]:
    """(object name, version id) of every version and delete marker under ``prefix/sub``."""
    found = []
    pages = loc.client.get_paginator("list_object_versions").paginate(Bucket=loc.bucket, Prefix=loc.prefix + sub)
    for page in pages:
        found += [(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    return found


def uploads(loc: S3Location) -> list[str]:
    return [u["Key"] for u in loc.client.list_multipart_uploads(Bucket=loc.bucket).get("Uploads", [])]


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# --- round trip -------------------------------------------------------------------------


# What every location does (round trip, key order, refusals, repair, records) is in
# test_storage_contract.py; here is what only the S3 layout has.


def test_commit_marker_lists_each_files_sha256(s3_location: S3Location) -> None:
    commit(s3_location)
    marker = s3_location.commit_marker(KEY)
    assert {f["path"]: f["sha256"] for f in marker["files"]} == {
        rel: hashlib.sha256(data).hexdigest() for rel, data in FILES.items()
    }
    assert s3_location.describe().endswith(f"/{s3_location.bucket}/dangan)")


def test_prefix_respected(s3_location: S3Location, s3_server: WeedServer) -> None:
    keys = ["J012/J012-WS·2024-Y-0002", "J012-A/甲-0001"]
    for key in keys:
        commit(s3_location, key, {"bagit.txt": key.encode()})
    other = S3Location("other", endpoint_url=s3_server.endpoint_url, bucket=s3_location.bucket, prefix="elsewhere")
    assert list(other.list_keys()) == []
    assert not other.exists(keys[0])


def test_second_commit_of_a_key_adds_no_version(s3_location: S3Location) -> None:
    commit(s3_location)
    before = versions(s3_location, "aips/")
    with pytest.raises(AIPExistsError):
        commit(s3_location, files={"bagit.txt": b"other"})
    assert versions(s3_location, "aips/") == before
    assert versions(s3_location, "pending/") == []


def test_missing_file_is_said_and_an_empty_bag_never_committed(s3_location: S3Location) -> None:
    commit(s3_location)
    with pytest.raises(StorageError, match="不存在"):
        s3_location.open(KEY, "data/original/没有.pdf")
    with pytest.raises(StorageError):
        with s3_location.staging() as work:
            s3_location.commit(KEY + "-2", work)  # an empty bag is never committed


def test_inventory_lists_committed_copies_only_in_key_order(s3_location: S3Location) -> None:
    keys = ["J012/J012-WS·2024-Y-0002", "J012/J012-WS·2023-D30-0001", "J012/J012-WS·2023-D30-0001X"]
    for key in keys:
        commit(s3_location, key)
    s3_location.client.put_object(  # a dead writer's leftover: an object with no marker
        Bucket=s3_location.bucket, Key="dangan/aips/J012/未提交/bagit.txt", Body=b"x"
    )
    asked = [*keys[:2], "J012/未提交", "J012/没有"]  # the third AIP is committed but not asked for
    files = sorted((rel, len(data)) for rel, data in FILES.items())
    assert list(s3_location.inventory(asked)) == [(key, files) for key in sorted(keys[:2])]
    assert list(s3_location.inventory([])) == []


# --- crash safety -----------------------------------------------------------------------

CHILD = """
import sys, time
from pathlib import Path
from archive.storage.s3 import S3Location

endpoint, bucket, staged, key = sys.argv[1:5]
loc = S3Location("offsite", endpoint_url=endpoint, bucket=bucket, prefix="dangan")

def stall(**kwargs):
    print("PART", flush=True)  # one part is on the server: the parent kills us now
    time.sleep(120)

loc.client.meta.events.register("after-call.s3.UploadPart", stall)
loc.commit(key, Path(staged))
print("COMMITTED", flush=True)
"""


def kill_mid_upload(loc: S3Location, staged: Path, key: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-c", CHILD, loc.endpoint_url, loc.bucket, str(staged), key]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "PART", f"child did not reach a multipart upload: {line!r}"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)  # reaped, so its pid is really gone


def test_killed_writer_is_invisible_and_recover_cleans_up(s3_location: S3Location, tmp_path: Path) -> None:
    staged = make_bag(tmp_path / "bag", {"bagit.txt": b"BagIt-Version: 1.0\n", "data/说明.txt": "说明".encode()})
    write_random(staged / "data" / "扫描件" / "大文件.tif", 2 * PART_SIZE + 123)
    kill_mid_upload(s3_location, staged, KEY)

    assert not s3_location.exists(KEY)
    assert KEY not in list(s3_location.list_keys())
    assert uploads(s3_location), "the kill should have left an unfinished multipart upload"
    assert versions(s3_location, f"aips/{KEY}/"), "the kill should have left uploaded objects"

    removed = s3_location.recover()
    assert f"pending/{KEY}" in removed
    assert f"aips/{KEY}/bagit.txt" in removed
    assert any(r.startswith("upload ") for r in removed)
    assert versions(s3_location, "aips/") == []
    assert versions(s3_location, "pending/") == []
    assert uploads(s3_location) == []

    s3_location.commit(KEY, staged)
    assert s3_location.exists(KEY)
    assert s3_location.read(KEY, "data/说明.txt") == "说明".encode()
    assert s3_location.recover() == []


def test_recover_spares_live_writers_and_committed_aips(s3_location: S3Location) -> None:
    commit(s3_location)
    # A note from a writer that died after its marker: recover drops the note, never the AIP.
    dead = subprocess.Popen(["true"])
    dead.wait()
    note = json.dumps({"op": "commit", "host": socket.gethostname(), "pid": dead.pid, "started": 0})
    s3_location.client.put_object(Bucket=s3_location.bucket, Key=f"dangan/pending/{KEY}", Body=note.encode())
    # A live writer (this process) holding another key.
    live_key = "J012/J012-WS·2024-Y-0002"
    s3_location._begin(live_key, "commit", None)
    # An orphan multipart upload with no writer note at all.
    s3_location.client.create_multipart_upload(Bucket=s3_location.bucket, Key="dangan/aips/J099/x/y")

    removed = s3_location.recover()
    assert removed == [f"pending/{KEY}"]
    assert s3_location.exists(KEY) and s3_location.read(KEY, "bagit.txt") == FILES["bagit.txt"]
    assert [k for k, _ in versions(s3_location, "pending/")] == [f"dangan/pending/{live_key}"]
    assert uploads(s3_location) == ["dangan/aips/J099/x/y"]  # younger than the stated age

    assert s3_location.recover(stale_after=timedelta(0)) == ["upload aips/J099/x/y"]
    assert uploads(s3_location) == []
    with pytest.raises(StorageError, match="另一进程"):
        commit(s3_location, live_key)  # the live writer's key stays locked


def test_recover_hides_locked_leftovers_of_a_writer_that_died_before_its_marker(s3_location: S3Location) -> None:
    client, bucket = s3_location.client, s3_location.bucket
    dead = subprocess.Popen(["true"])
    dead.wait()
    note = json.dumps({"op": "commit", "host": socket.gethostname(), "pid": dead.pid, "started": 0})
    client.put_object(Bucket=bucket, Key=f"dangan/pending/{KEY}", Body=note.encode())
    until = datetime.now(UTC) + timedelta(days=1)
    obj = f"dangan/aips/{KEY}/bagit.txt"
    client.put_object(Bucket=bucket, Key=obj, Body=b"old", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)

    removed = s3_location.recover()
    assert f"aips/{KEY}/bagit.txt (已锁定, 仅隐藏 locked, hidden)" in removed
    assert f"pending/{KEY}" in removed
    assert list(s3_location.list_files(KEY)) == []
    commit(s3_location)
    assert s3_location.read(KEY, "bagit.txt") == FILES["bagit.txt"]
    assert dict(s3_location.list_files(KEY)) == {rel: len(data) for rel, data in FILES.items()}


def test_server_stopped_is_reported_quickly_and_data_survives_restart(
    s3_location: S3Location, s3_server: WeedServer
) -> None:
    commit(s3_location)
    s3_server.stop()
    try:
        started = time.monotonic()
        for call in (
            lambda: list(s3_location.list_keys()),
            lambda: s3_location.exists(KEY),
            lambda: s3_location.read(KEY, "bagit.txt"),
            lambda: commit(s3_location, "J012/J012-WS·2024-Y-0009"),
        ):
            with pytest.raises(StorageError, match="无法访问") as info:
                call()
            assert s3_location.endpoint_url in str(info.value)
        assert time.monotonic() - started < 10
    finally:
        s3_server.start()
    assert list(s3_location.list_keys()) == [KEY]
    for rel, data in FILES.items():
        assert s3_location.read(KEY, rel) == data


# --- streaming from another location ---------------------------------------------------------


def test_commit_from_fs_location_streams_and_verifies(
    s3_location: S3Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = FsLocation("local", tmp_path / "store")
    fs.prepare()
    with fs.staging() as work:
        make_bag(work, FILES)
        write_random(work / "data" / "original" / "扫描件.tif", PART_SIZE + PART_SIZE // 2)
        fs.commit(KEY, work)

    def no_staging(self: S3Location):
        raise AssertionError("commit_from must not stage on local disk")

    monkeypatch.setattr(S3Location, "staging", no_staging)
    s3_location.commit_from(KEY, fs, KEY)

    local = {rel: size for rel, size in fs.list_files(KEY)}
    assert dict(s3_location.list_files(KEY)) == local
    marker = {f["path"]: f["sha256"] for f in s3_location.commit_marker(KEY)["files"]}
    for rel in local:
        with fs.open(KEY, rel) as f:
            assert marker[rel] == hashlib.sha256(f.read()).hexdigest()
        with s3_location.open(KEY, rel) as f:
            assert hashlib.sha256(f.read()).hexdigest() == marker[rel]
    with pytest.raises(AIPExistsError):
        s3_location.commit_from(KEY, fs, KEY)


class FailingReader(io.RawIOBase):
    """A source file whose disk fails after the first mebibyte."""

    def __init__(self, inner):
        self.inner, self.given = inner, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.given >= 1 << 20:
            raise OSError("simulated disk failure")
        data = self.inner.read(min(len(buffer), 1 << 16))
        buffer[: len(data)] = data
        self.given += len(data)
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


class FailingSource(FsLocation):
    def open(self, key: str, relpath: str):
        inner = super().open(key, relpath)
        return io.BufferedReader(FailingReader(inner)) if relpath.endswith(".tif") else inner


def test_failed_commit_from_leaves_nothing_behind(s3_location: S3Location, tmp_path: Path) -> None:
    fs = FailingSource("local", tmp_path / "store")
    fs.prepare()
    with fs.staging() as work:
        make_bag(work, FILES)
        write_random(work / "data" / "扫描件.tif", PART_SIZE + 1)
        fs.commit(KEY, work)
    with pytest.raises(StorageError, match="simulated disk failure"):
        s3_location.commit_from(KEY, fs, KEY)
    assert not s3_location.exists(KEY)
    assert versions(s3_location, "") == []
    assert uploads(s3_location) == []


# --- Object Lock (对象锁定) ---------------------------------------------------------------


def test_locked_aip_cannot_be_deleted_by_us_or_directly(s3_location: S3Location) -> None:
    assert s3_location.object_lock() is ObjectLock.enforced
    commit(s3_location, retain_until=date.today() + timedelta(days=2))
    before = versions(s3_location, "")

    with pytest.raises(LockedError, match="对象锁定"):
        s3_location.delete(KEY)
    assert versions(s3_location, "") == before
    assert s3_location.exists(KEY)

    client, bucket = s3_location.client, s3_location.bucket
    for obj, version in before:
        retention = client.get_object_retention(Bucket=bucket, Key=obj, VersionId=version)["Retention"]
        assert retention["Mode"] == "GOVERNANCE"
        assert retention["RetainUntilDate"] > datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(ClientError) as info:
            client.delete_object(Bucket=bucket, Key=obj, VersionId=version)
        assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert versions(s3_location, "") == before
    assert s3_location.read(KEY, "bagit.txt") == FILES["bagit.txt"]


def test_unlocked_delete_removes_every_version(s3_location: S3Location) -> None:
    commit(s3_location)
    s3_location.replace_file(KEY, "bagit.txt", io.BytesIO(FILES["bagit.txt"]))  # a second version
    s3_location.append_record(KEY, "20240101T000000Z-销毁.json", b'{"event": "destruction"}')
    assert len([v for v in versions(s3_location, f"aips/{KEY}/") if v[0].endswith("bagit.txt")]) == 2

    s3_location.delete(KEY)
    assert not s3_location.exists(KEY)
    assert list(s3_location.list_keys()) == []
    assert versions(s3_location, "aips/") == []
    assert versions(s3_location, "committed/") == []
    assert versions(s3_location, "pending/") == []
    assert versions(s3_location, "records/") != []


def test_bucket_without_lock_is_unsupported_and_commits_without_retention(s3_server: WeedServer) -> None:
    bucket = s3_server.new_bucket(object_lock=False)
    loc = S3Location("plain", endpoint_url=s3_server.endpoint_url, bucket=bucket)
    assert loc.object_lock() is ObjectLock.unsupported
    commit(loc, retain_until=date.today() + timedelta(days=2))
    assert loc.commit_marker(KEY)["retain_until"] is None
    loc.delete(KEY)
    assert not loc.exists(KEY)
    assert versions(loc, "") == []


def test_ensure_bucket_creates_with_lock_and_reports_existing_state(s3_server: WeedServer) -> None:
    fresh = S3Location("new", endpoint_url=s3_server.endpoint_url, bucket=f"dangan-{os.getpid()}-{time.time_ns()}")
    assert fresh.ensure_bucket(object_lock=True) is ObjectLock.enforced
    assert fresh.ensure_bucket(object_lock=True) is ObjectLock.enforced  # harmless when it exists
    plain = S3Location("old", endpoint_url=s3_server.endpoint_url, bucket=s3_server.new_bucket(object_lock=False))
    assert plain.ensure_bucket(object_lock=True) is ObjectLock.unsupported


# --- repair and records -------------------------------------------------------------------


def test_a_repaired_file_keeps_the_aips_retention(s3_location: S3Location) -> None:
    commit(s3_location, retain_until=date.today() + timedelta(days=3))
    rel = "data/original/关于社区换届选举的通知.pdf"
    s3_location.replace_file(KEY, rel, io.BytesIO(b"good copy"))
    assert s3_location.read(KEY, rel) == b"good copy"
    obj = f"dangan/aips/{KEY}/{rel}"
    current = s3_location.client.head_object(Bucket=s3_location.bucket, Key=obj)["VersionId"]
    retention = s3_location.client.get_object_retention(Bucket=s3_location.bucket, Key=obj, VersionId=current)
    assert retention["Retention"]["RetainUntilDate"].astimezone(UTC).date() == date.today() + timedelta(days=3)

    s3_location.remove_file(KEY, "metadata/item.xml")  # under lock: a delete marker, the version kept
    assert "metadata/item.xml" not in dict(s3_location.list_files(KEY))
    kept = [v for v in versions(s3_location, f"aips/{KEY}/metadata/") if v[0].endswith("item.xml")]
    assert len(kept) == 2  # the locked version, and the delete marker that hides it


# --- what the server checks --------------------------------------------------------------


def test_server_refuses_a_wrong_sha256_on_put_and_on_parts(s3_location: S3Location) -> None:
    client, bucket = s3_location.client, s3_location.bucket
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="x", Body=b"archive bytes", ChecksumSHA256=b64sha(b"other bytes"))
    assert info.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        client.head_object(Bucket=bucket, Key="x")

    upload = client.create_multipart_upload(Bucket=bucket, Key="y", ChecksumAlgorithm="SHA256")
    part = os.urandom(1 << 20)
    with pytest.raises(ClientError) as info:
        client.upload_part(
            Bucket=bucket, Key="y", UploadId=upload["UploadId"], PartNumber=1, Body=part, ChecksumSHA256=b64sha(b"x")
        )
    assert info.value.response["Error"]["Code"] == "BadDigest"
    client.abort_multipart_upload(Bucket=bucket, Key="y", UploadId=upload["UploadId"])


def test_server_honours_if_none_match(s3_location: S3Location) -> None:
    client, bucket = s3_location.client, s3_location.bucket
    client.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_our_digest_matches_the_servers_composite_checksum_and_nothing_else(
    s3_location: S3Location, tmp_path: Path
) -> None:
    big = write_random(tmp_path / "bag" / "data" / "big.bin", 2 * PART_SIZE + 5)
    s3_location.commit(KEY, tmp_path / "bag")
    head = s3_location.client.head_object(
        Bucket=s3_location.bucket, Key=f"dangan/aips/{KEY}/data/big.bin", ChecksumMode="ENABLED"
    )
    reported = head["ChecksumSHA256"]
    assert reported.endswith("-3")  # three parts, each checked by the server
    assert _Digest.of_file(big, PART_SIZE).matches(reported)
    with open(big, "r+b") as f:
        f.seek(PART_SIZE + 7)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    assert not _Digest.of_file(big, PART_SIZE).matches(reported)
    assert not _Digest.of_file(big, PART_SIZE * 2).matches(reported)


# --- configuration ---------------------------------------------------------------------


def test_from_options_reads_toml_options_but_never_credentials() -> None:
    loc = S3Location.from_options(
        "offsite", {"endpoint_url": "http://127.0.0.1:9", "bucket": "archive", "prefix": "/j012/", "region": "cn-1"}
    )
    assert (loc.bucket, loc.prefix, loc.region) == ("archive", "j012/", "cn-1")
    assert loc.describe() == "offsite (s3: http://127.0.0.1:9/archive/j012)"
    with pytest.raises(ConfigError, match="密钥"):
        S3Location.from_options("x", {"endpoint_url": "http://h", "bucket": "b", "aws_secret_access_key": "s"})
    with pytest.raises(ConfigError):
        S3Location.from_options("x", {"endpoint_url": "http://h"})
    with pytest.raises(ConfigError):
        S3Location.from_options("x", {"endpoint_url": "http://h", "bucket": "b", "colour": "red"})


def test_timestamps_are_parsed_without_dateutil_and_agree_with_botocore() -> None:
    from botocore.utils import parse_timestamp

    from archive.storage.s3client import parse_time as _parse_time

    for text in ("2025-11-22T07:16:08.123Z", "2025-11-22T07:16:08Z", "Sat, 22 Nov 2025 07:16:08 GMT", "1763795768"):
        assert _parse_time(text) == parse_timestamp(text)
        assert _parse_time(text).utcoffset() is not None


def test_compliance_mode_locks_every_version_in_that_mode(s3_server: WeedServer) -> None:
    loc = S3Location.from_options(
        "town", {"endpoint_url": s3_server.endpoint_url, "bucket": s3_server.new_bucket(), "lock_mode": "compliance"}
    )
    assert loc.lock_mode == "COMPLIANCE" and loc.object_lock() is ObjectLock.enforced
    commit(loc, retain_until=date.today() + timedelta(days=2))
    for obj, version in versions(loc, ""):
        retention = loc.client.get_object_retention(Bucket=loc.bucket, Key=obj, VersionId=version)["Retention"]
        assert retention["Mode"] == "COMPLIANCE"


def test_an_unknown_lock_mode_is_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="lock_mode"):
        S3Location.from_options("town", {"endpoint_url": "http://127.0.0.1:9", "bucket": "b", "lock_mode": "strict"})
