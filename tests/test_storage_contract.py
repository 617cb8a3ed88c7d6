"""One contract for every storage backend: a local directory and a real SeaweedFS S3 bucket are
held to the same behaviour through the :class:`~archive.storage.base.Location` API alone.

What only one backend has (the S3 commit marker and versions, the local folder's links and
FIFOs) is tested beside it, in ``test_s3_location.py`` and ``test_storage_fs.py``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from archive.errors import AIPExistsError, LockedError, RecordExistsError, StorageError
from archive.storage import TYPES, FsLocation, Location, ObjectLock
from archive.storage.s3 import S3Location

pytest_plugins = ["tests.s3server"]  # the s3_server fixture

KEY = "J012/J012-WS·2024-Y-0001"
FILES = {
    "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    "data/original/关于社区换届选举的通知.pdf": "通知正文".encode() * 500,
    "data/original/照片/活动现场·01.jpg": bytes(range(256)) * 300,
    "metadata/item.xml": "<item><题名>换届选举</题名></item>".encode(),
}
LISTING = sorted((rel, len(data)) for rel, data in FILES.items())


def fs_location(tmp_path: Path, request: pytest.FixtureRequest) -> Location:
    return FsLocation("local", tmp_path / "store")


def s3_location(tmp_path: Path, request: pytest.FixtureRequest) -> Location:
    server = request.getfixturevalue("s3_server")  # started only when an S3 case runs
    return S3Location("offsite", endpoint_url=server.endpoint_url, bucket=server.new_bucket(), prefix="dangan")


BUILDERS: dict[str, Callable[[Path, pytest.FixtureRequest], Location]] = {"fs": fs_location, "s3": s3_location}


def test_every_registered_storage_type_is_held_to_the_contract():
    assert set(BUILDERS) == set(TYPES)


@pytest.fixture(params=sorted(BUILDERS))
def loc(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    location = BUILDERS[request.param](tmp_path, request)
    location.prepare()
    return location


def commit(loc: Location, key: str = KEY, files: dict[str, bytes] = FILES, **kwargs) -> None:
    with loc.staging() as work:
        for rel, data in files.items():
            target = work.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        loc.commit(key, work, **kwargs)


def held(loc: Location, key: str = KEY) -> dict[str, bytes]:
    return {rel: loc.read(key, rel) for rel, _ in loc.list_files(key)}


# --- whole AIPs -----------------------------------------------------------------------------


def test_a_committed_aip_is_listed_and_read_back_whole(loc: Location) -> None:
    assert not loc.exists(KEY) and list(loc.list_keys()) == []
    commit(loc)
    assert loc.exists(KEY)
    assert list(loc.list_keys()) == [KEY]
    assert list(loc.list_files(KEY)) == LISTING
    assert held(loc) == FILES
    for rel, data in FILES.items():
        with loc.open(KEY, rel) as f:
            assert b"".join(iter(lambda f=f: f.read(1000), b"")) == data  # streamed in small reads
    with loc.reader(KEY) as copy:
        assert copy.present() and copy.files() == LISTING
        with copy.open("metadata/item.xml") as f:
            assert f.read() == FILES["metadata/item.xml"]
    assert loc.describe().startswith(loc.name)


def test_keys_are_listed_in_key_order(loc: Location) -> None:
    keys = ["J012/J012-WS·2024-Y-0002", "J012/J012-WS·2023-D30-0001", "J012-A/甲-0001"]
    for key in keys:
        commit(loc, key, {"bagit.txt": key.encode()})
    assert list(loc.list_keys()) == sorted(keys)


def test_a_second_commit_of_a_key_is_refused_and_changes_nothing(loc: Location) -> None:
    commit(loc)
    with pytest.raises(AIPExistsError):
        commit(loc, files={"bagit.txt": b"other"})
    assert held(loc) == FILES


def test_missing_keys_and_files_and_bad_paths_raise_storage_error(loc: Location) -> None:
    commit(loc)
    with pytest.raises(StorageError) as info:
        loc.open(KEY, "data/original/没有.pdf")
    assert KEY in str(info.value)
    with pytest.raises(StorageError):
        loc.read("J012/没有", "bagit.txt")
    with pytest.raises(StorageError):
        loc.open("J012/../x", "bagit.txt")
    with pytest.raises(StorageError):
        loc.open(KEY, "../bagit.txt")
    with loc.reader("J012/没有") as copy:
        assert not copy.present() and copy.files() == []


def test_commit_from_another_location_copies_the_aip_whole(loc: Location, tmp_path: Path) -> None:
    source = FsLocation("source", tmp_path / "source")
    source.prepare()
    commit(source)
    loc.commit_from(KEY, source, KEY)
    assert held(loc) == FILES
    with pytest.raises(AIPExistsError):
        loc.commit_from(KEY, source, KEY)


# --- staging and recovery ----------------------------------------------------------------------


def test_staging_is_private_empty_and_removed(loc: Location) -> None:
    with loc.staging() as one, loc.staging() as two:
        assert one != two and one.is_dir() and list(one.iterdir()) == []
        (one / "x").write_bytes(b"x")
    assert not one.exists() and not two.exists()


def test_a_failed_commit_leaves_nothing_and_recovery_spares_committed_aips(loc: Location) -> None:
    commit(loc)
    with pytest.raises(RuntimeError), loc.staging() as work:
        (work / "bagit.txt").write_bytes(b"half")
        raise RuntimeError("writer dies before its commit")
    assert list(loc.list_keys()) == [KEY]
    assert isinstance(loc.recover(), list)
    assert loc.recover() == []  # nothing left for a second pass
    assert held(loc) == FILES


# --- repair of one file -------------------------------------------------------------------------


def test_replace_and_remove_one_file_of_a_committed_aip(loc: Location) -> None:
    commit(loc)
    rel = "data/original/关于社区换届选举的通知.pdf"
    loc.replace_file(KEY, rel, io.BytesIO(b"good copy"))
    assert loc.read(KEY, rel) == b"good copy"
    loc.remove_file(KEY, "metadata/item.xml")
    assert "metadata/item.xml" not in dict(loc.list_files(KEY))
    with pytest.raises(StorageError):
        loc.read(KEY, "metadata/item.xml")
    loc.remove_file(KEY, "metadata/item.xml")  # already gone: what repair wanted is true
    for repair in (lambda: loc.replace_file("J012/没有", rel, io.BytesIO(b"x")),
                   lambda: loc.remove_file("J012/没有", "bagit.txt")):  # fmt: skip
        with pytest.raises(StorageError):
            repair()
    assert not loc.exists("J012/没有")
    assert loc.exists(KEY)


# --- deletion and records -------------------------------------------------------------------------


def test_delete_removes_the_aip_but_keeps_its_records(loc: Location) -> None:
    commit(loc)
    loc.append_record(KEY, "20240101T000000Z-销毁.json", b'{"event": "destruction"}')
    loc.delete(KEY)
    assert not loc.exists(KEY) and list(loc.list_keys()) == []
    assert list(loc.list_records(KEY)) == ["20240101T000000Z-销毁.json"]
    assert list(loc.record_keys()) == [KEY]
    with pytest.raises(StorageError):
        loc.delete(KEY)
    commit(loc, files={"bagit.txt": b"again"})  # the key can be used afresh
    assert held(loc) == {"bagit.txt": b"again"}


def test_records_are_append_only(loc: Location) -> None:
    loc.append_record(KEY, "b-审计.xml", b"<premis>2</premis>")
    loc.append_record(KEY, "a-审计.xml", b"<premis>1</premis>")
    with pytest.raises(RecordExistsError):
        loc.append_record(KEY, "a-审计.xml", b"<premis>overwrite</premis>")
    other = "J012/J012-WS·2024-Y-0002"
    errors = loc.append_records([(KEY, "c-审计.xml", b"<premis>3</premis>"), (KEY, "b-审计.xml", b"x"),
                                 (other, "d.xml", b"<premis>d</premis>")])  # fmt: skip
    assert [type(e) for e in errors] == [type(None), RecordExistsError, type(None)]
    assert loc.read_record(KEY, "a-审计.xml") == b"<premis>1</premis>"
    assert loc.read_record(KEY, "b-审计.xml") == b"<premis>2</premis>"
    assert list(loc.list_records(KEY)) == ["a-审计.xml", "b-审计.xml", "c-审计.xml"]
    assert list(loc.record_keys()) == [KEY, other]
    assert not loc.exists(KEY)  # records alone are not an AIP
    with pytest.raises(StorageError):
        loc.read_record(KEY, "没有.xml")


# --- write-once retention -------------------------------------------------------------------------


def test_an_aip_under_object_lock_cannot_be_deleted(loc: Location) -> None:
    if loc.object_lock() is ObjectLock.not_applicable:
        pytest.skip("a plain directory has no Object Lock: its protection is the operator's business")
    assert loc.object_lock() is ObjectLock.enforced and loc.lock_mode == "GOVERNANCE"
    commit(loc, retain_until=date.today() + timedelta(days=2))
    with pytest.raises(LockedError):
        loc.delete(KEY)
    assert loc.exists(KEY) and held(loc) == FILES
