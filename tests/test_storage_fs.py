"""The local storage location read and written the way an audit does: through its open folders, and in batches."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import archive.storage.fs as fs
from archive.errors import AIPExistsError, RecordExistsError, StorageError
from archive.storage.fs import FsLocation

from .conftest import REPO, staging_leftovers

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


# What every location does (reading back, refusals, repair, records) is in test_storage_contract.py.


def test_an_unmounted_location_is_unreachable_not_empty(tmp_path: Path) -> None:
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
        with pytest.raises(StorageError, match="不是普通文件"):
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


# --- links in place of an AIP, leftovers under a key, OS errors as StorageError ---------


@pytest.fixture
def copy2(tmp_path: Path) -> FsLocation:
    location = FsLocation("copy2", tmp_path / "copy2")
    location.prepare()
    (location.root / "J012").mkdir()
    return location


def held(location: FsLocation, key: str = KEY) -> dict[str, bytes]:
    """What a location holds under ``key``, read as an audit reads it."""
    with location.reader(key) as copy:
        return {rel: location.read(key, rel) for rel, _size in copy.files()}


def test_a_link_in_place_of_an_aip_or_its_fonds_folder_is_no_copy(loc: FsLocation, copy2: FsLocation) -> None:
    """A link to another location's copy must not pass for a copy: two "copies" would be one."""
    (copy2.root / KEY).symlink_to(loc.root / KEY, target_is_directory=True)
    other = FsLocation("copy3", copy2.root.parent / "copy3")
    other.prepare()
    (other.root / "J012").symlink_to(loc.root / "J012", target_is_directory=True)
    for linked in (copy2, other):
        assert not linked.exists(KEY) and list(linked.list_keys()) == []
        with linked.reader(KEY) as copy:
            assert not copy.present() and copy.files() == []
        with pytest.raises(StorageError):
            linked.open(KEY, "bagit.txt")
    assert loc.exists(KEY) and list(loc.list_keys()) == [KEY]


def _no_bagit(bag: Path) -> None:
    (bag / "bagit.txt").unlink()


def _emptied(bag: Path) -> None:
    for rel in FILES:
        (bag / rel).unlink()


def _bagit_link(bag: Path) -> None:
    (bag / "bagit.txt").unlink()
    (bag / "bagit.txt").symlink_to(bag.parents[2] / "store" / KEY / "bagit.txt")


LEFTOVERS = {"bagit.txt missing": _no_bagit, "emptied": _emptied, "bagit.txt a link": _bagit_link}


@pytest.mark.parametrize("leftover", ["bagit.txt missing", "bagit.txt a link"])
def test_a_folder_holding_files_is_never_replaced(loc: FsLocation, copy2: FsLocation, leftover: str) -> None:
    # it may be an archived AIP that lost its bagit.txt: its files are kept for a person to look at
    bag = copy2.root / KEY
    copy2.commit_from(KEY, loc, KEY)
    LEFTOVERS[leftover](bag)
    before = {p.relative_to(bag).as_posix() for p in bag.rglob("*")}
    with pytest.raises(AIPExistsError):
        copy2.commit_from(KEY, loc, KEY)
    assert {p.relative_to(bag).as_posix() for p in bag.rglob("*")} == before


@pytest.mark.parametrize("leftover", ["emptied", "empty folder", "link to a copy", "plain file"])
def test_commit_replaces_what_is_not_a_whole_aip(loc: FsLocation, copy2: FsLocation, leftover: str) -> None:
    bag = copy2.root / KEY
    if leftover in LEFTOVERS:
        copy2.commit_from(KEY, loc, KEY)
        LEFTOVERS[leftover](bag)
    elif leftover == "empty folder":
        bag.mkdir()
    elif leftover == "link to a copy":
        bag.symlink_to(loc.root / KEY, target_is_directory=True)
    else:
        bag.write_bytes(b"not an AIP")
    assert not copy2.exists(KEY)
    copy2.commit_from(KEY, loc, KEY)
    assert copy2.exists(KEY) and not bag.is_symlink()
    assert held(copy2) == FILES
    assert held(loc) == FILES  # what a link pointed at is never touched
    assert staging_leftovers(copy2.root) == []  # the old folder is out of sight and removed


def test_a_whole_aip_is_never_replaced(loc: FsLocation, copy2: FsLocation) -> None:
    bag = copy2.root / KEY
    bag.mkdir()
    (bag / "bagit.txt").write_bytes(b"BagIt-Version: 0.97\n")
    with pytest.raises(AIPExistsError):
        copy2.commit_from(KEY, loc, KEY)
    assert held(copy2) == {"bagit.txt": b"BagIt-Version: 0.97\n"}
    assert staging_leftovers(copy2.root) == []


KILL_BETWEEN_RENAMES = """
import os, signal, sys
from pathlib import Path
from archive.storage.fs import FsLocation

real = os.rename

def rename(src, dst, *args, **kwargs):
    real(src, dst, *args, **kwargs)
    if Path(dst).name == "replaced":  # the leftover is out of sight, the new AIP not yet in
        os.kill(os.getpid(), signal.SIGKILL)

os.rename = rename
source, target, key = sys.argv[1:]
FsLocation("copy2", Path(target)).commit_from(key, FsLocation("local", Path(source)), key)
"""


def test_a_kill_between_the_two_renames_leaves_nothing_at_the_key(loc: FsLocation, copy2: FsLocation) -> None:
    bag = copy2.root / KEY
    (bag / "data" / "original").mkdir(parents=True)  # folders left, no file: nothing to keep
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", KILL_BETWEEN_RENAMES, str(loc.root), str(copy2.root), KEY]
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert not os.path.lexists(bag)  # neither the old folder nor a partial new one
    assert list(copy2.list_keys()) == []
    assert len(copy2.recover()) == 2  # the new bag's staging and the one holding the leftover
    assert staging_leftovers(copy2.root) == []
    copy2.commit_from(KEY, loc, KEY)
    assert held(copy2) == FILES


def test_a_failed_rename_puts_the_leftover_back(
    loc: FsLocation, copy2: FsLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = copy2.root / KEY
    (bag / "data" / "original").mkdir(parents=True)
    real = os.rename

    def rename(src: Path, dst: Path) -> None:
        if Path(dst) == bag and Path(src).name != "replaced":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(src, dst)

    monkeypatch.setattr(fs.os, "rename", rename)
    with pytest.raises(StorageError, match=r"copy2.*EIO") as caught:
        copy2.commit_from(KEY, loc, KEY)
    assert not isinstance(caught.value, AIPExistsError)
    assert str(bag) in str(caught.value)
    assert (bag / "data" / "original").is_dir()
    assert staging_leftovers(copy2.root) == []


def _fonds_is_a_file(loc: FsLocation, copy2: FsLocation) -> None:
    (copy2.root / "J012").rmdir()
    (copy2.root / "J012").write_bytes(b"")
    copy2.commit_from(KEY, loc, KEY)


def _fonds_is_a_link(loc: FsLocation, copy2: FsLocation) -> None:
    (copy2.root / "J012").rmdir()
    (copy2.root / "J012").symlink_to(copy2.root.parent / "elsewhere", target_is_directory=True)
    (copy2.root.parent / "elsewhere").mkdir()
    copy2.commit_from(KEY, loc, KEY)


def _staging_is_a_file(loc: FsLocation, copy2: FsLocation) -> None:
    (copy2.root / ".staging").write_bytes(b"")
    copy2.commit_from(KEY, loc, KEY)


def _recover_over_a_file(loc: FsLocation, copy2: FsLocation) -> None:
    (copy2.root / ".staging").write_bytes(b"")
    copy2.recover()


def _records_is_a_file(loc: FsLocation, copy2: FsLocation) -> None:
    (copy2.root / ".records").write_bytes(b"")
    copy2.append_record(KEY, "a.xml", b"<premis/>")


def _source_read_fails(loc: FsLocation, copy2: FsLocation) -> None:
    class Failing(io.RawIOBase):
        def readinto(self, buffer: memoryview) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    loc.open = lambda key, relpath: Failing()  # type: ignore[method-assign]
    copy2.commit_from(KEY, loc, KEY)


def _fails(call: str, err: int):
    def raising(*args: object, **kwargs: object) -> None:
        raise OSError(err, os.strerror(err))

    return call, raising


def _replace_fails(loc: FsLocation, copy2: FsLocation) -> None:
    copy2.commit_from(KEY, loc, KEY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fs.os, *_fails("replace", errno.EIO))
        with loc.open(KEY, "bagit.txt") as good:
            copy2.replace_file(KEY, "bagit.txt", good)


def _unlink_fails(loc: FsLocation, copy2: FsLocation) -> None:
    copy2.commit_from(KEY, loc, KEY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fs.os, *_fails("unlink", errno.EACCES))
        copy2.remove_file(KEY, "metadata/item.xml")


def _delete_fails(loc: FsLocation, copy2: FsLocation) -> None:
    copy2.commit_from(KEY, loc, KEY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fs.os, *_fails("rename", errno.EACCES))
        copy2.delete(KEY)


def _listing_fails(loc: FsLocation, copy2: FsLocation) -> None:
    copy2.commit_from(KEY, loc, KEY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fs.os, *_fails("scandir", errno.EACCES))
        list(copy2.list_keys())


OS_FAILURES = {  # how the failure is provoked, what the message must name, whether a commit was refused
    "fonds folder a file": (_fonds_is_a_file, "J012", True),
    "fonds folder a link": (_fonds_is_a_link, "J012", True),
    "staging a file": (_staging_is_a_file, ".staging", True),
    "recover over a file": (_recover_over_a_file, ".staging", False),
    "records a file": (_records_is_a_file, ".records", False),
    "source unreadable": (_source_read_fails, "local:J012", True),
    "replace fails": (_replace_fails, "EIO", False),
    "unlink fails": (_unlink_fails, "EACCES", False),
    "delete fails": (_delete_fails, "EACCES", False),
    "listing fails": (_listing_fails, "EACCES", False),
}


@pytest.mark.parametrize("case", OS_FAILURES)
def test_os_errors_become_storage_errors_naming_location_and_path(
    loc: FsLocation, copy2: FsLocation, case: str
) -> None:
    """Callers handle StorageError as an unreachable location; a bare OSError ended the run with a traceback."""
    provoke, named, refused_commit = OS_FAILURES[case]
    with pytest.raises(StorageError) as caught:
        provoke(loc, copy2)
    assert not isinstance(caught.value, (AIPExistsError, RecordExistsError))
    assert named in str(caught.value)
    assert "copy2" in str(caught.value) or case == "source unreadable"
    if refused_commit:
        assert not copy2.exists(KEY) and not (copy2.root.parent / "elsewhere" / KEY).exists()
        assert staging_leftovers(copy2.root) == []


def test_repair_writes_never_go_through_a_link(loc: FsLocation, tmp_path: Path) -> None:
    bag = loc.root / KEY
    outside = tmp_path / "outside"
    outside.mkdir()
    (bag / "data/original/通知.pdf").unlink()
    (bag / "data/original").rmdir()
    (bag / "data/original").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match="不会跟随"):
        loc.replace_file(KEY, "data/original/通知.pdf", io.BytesIO(b"good"))
    assert list(outside.iterdir()) == []
    loc.remove_file(KEY, "data/original")  # the link itself, as an extra entry
    assert outside.is_dir() and not os.path.lexists(bag / "data/original")
    loc.replace_file(KEY, "data/original/通知.pdf", io.BytesIO(b"good"))
    assert (bag / "data/original/通知.pdf").read_bytes() == b"good"
    with pytest.raises(StorageError, match="没有该 AIP"):  # never a partial AIP made under a new key
        loc.replace_file("J012/没有", "bagit.txt", io.BytesIO(b"x"))
    assert not (loc.root / "J012/没有").exists()
