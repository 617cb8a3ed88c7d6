"""The local storage location read and written the way an audit does: through its open folders, and in batches."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from archive.errors import RecordExistsError, StorageError
from archive.storage.fs import FsLocation

KEY = "J012/J012-WS·2024-Y-0001"
FILES = {
    "bagit.txt": b"BagIt-Version: 1.0\n",
    "data/original/通知.pdf": "通知正文".encode() * 300,
    "metadata/item.xml": "<item><题名>换届</题名></item>".encode(),
}


@pytest.fixture
def loc(tmp_path: Path) -> FsLocation:
    location = FsLocation("local", tmp_path / "store")
    location.prepare()
    bag = location.root / KEY
    for rel, data in FILES.items():
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)
    return location


def test_reader_lists_and_reads_every_file(loc: FsLocation) -> None:
    with loc.reader(KEY) as copy:
        assert copy.present()
        assert copy.files() == sorted((rel, len(data)) for rel, data in FILES.items())
        for rel, data in FILES.items():
            with copy.open(rel) as f:
                assert f.read() == data
    assert list(loc.list_files(KEY)) == sorted((rel, len(data)) for rel, data in FILES.items())
    assert loc.read(KEY, "data/original/通知.pdf") == FILES["data/original/通知.pdf"]


def test_missing_copy_and_unreachable_location(loc: FsLocation, tmp_path: Path) -> None:
    with loc.reader("J012/没有") as copy:
        assert not copy.present() and copy.files() == []
    with pytest.raises(StorageError):
        loc.open("J012/没有", "bagit.txt")
    gone = FsLocation("usb", tmp_path / "not-mounted")
    with gone.reader(KEY) as copy, pytest.raises(StorageError, match="不可访问"):
        copy.present()


def test_links_inside_the_aip_are_listed_never_followed(loc: FsLocation, tmp_path: Path) -> None:
    bag = loc.root / KEY
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the AIP")
    (bag / "data/original/link.txt").symlink_to(secret)
    outside = tmp_path / "elsewhere"
    (outside / "more").mkdir(parents=True)
    (outside / "more" / "x.txt").write_bytes(b"x")
    (bag / "metadata").rename(tmp_path / "real-metadata")
    (bag / "metadata").symlink_to(tmp_path / "real-metadata", target_is_directory=True)
    with loc.reader(KEY) as copy:
        listed = dict(copy.files())
        assert "data/original/link.txt" in listed and "metadata" in listed  # foreign entries, seen as such
        assert "metadata/item.xml" not in listed
        for rel in ("data/original/link.txt", "metadata/item.xml", "../secret.txt", "data/../bagit.txt"):
            with pytest.raises(StorageError):
                copy.open(rel)


def test_a_fifo_is_refused_without_hanging(loc: FsLocation) -> None:
    os.mkfifo(loc.root / KEY / "data/original/pipe")
    with loc.reader(KEY) as copy:
        assert ("data/original/pipe", 0) in copy.files()
        with pytest.raises(StorageError, match="not a regular file"):
            copy.open("data/original/pipe")


def test_reader_opens_files_from_several_threads(loc: FsLocation) -> None:
    with loc.reader(KEY) as copy:
        copy.files()
        read: dict[str, bytes] = {}

        def take(rel: str) -> None:
            with copy.open(rel) as f:
                read[rel] = f.read()

        threads = [threading.Thread(target=take, args=(rel,)) for rel in FILES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert read == FILES


def test_records_in_a_batch_are_stored_and_never_overwritten(loc: FsLocation) -> None:
    other = "J012/J012-WS·2024-Y-0002"  # its records folder does not exist yet
    loc.append_record(KEY, "a.xml", b"<premis>old</premis>")
    errors = loc.append_records(
        [(KEY, "b.xml", b"<premis>b</premis>"), (KEY, "a.xml", b"<premis>new</premis>"),
         (other, "c.xml", b"<premis>c</premis>"), (KEY, ".hidden", b"x")]
    )  # fmt: skip
    assert [type(e) for e in errors] == [type(None), RecordExistsError, type(None), StorageError]
    assert list(loc.list_records(KEY)) == ["a.xml", "b.xml"]
    assert loc.read_record(KEY, "a.xml") == b"<premis>old</premis>"
    assert loc.read_record(other, "c.xml") == b"<premis>c</premis>"
    assert not [p for p in (loc.root / ".records").rglob("*") if p.name.endswith(".tmp")]
    assert loc.append_records([]) == []


def test_records_batch_without_syncfs_fsyncs_each(loc: FsLocation, monkeypatch: pytest.MonkeyPatch) -> None:
    import archive.storage.fs as fs

    monkeypatch.setattr(fs, "sync_filesystem", lambda path: False)  # a system without syncfs(2)
    synced: list[int] = []
    fsync = os.fsync
    monkeypatch.setattr(fs.os, "fsync", lambda fd: synced.append(fd) or fsync(fd))
    assert loc.append_records([(KEY, "a.xml", b"a"), ("J013/新-0001", "b.xml", b"b")]) == [None, None]
    assert loc.read_record("J013/新-0001", "b.xml") == b"b"
    assert len(synced) >= 2 + 2  # each record, each records folder (and the folders above)
