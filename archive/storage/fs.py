"""A storage location on a local or mounted file system.

An AIP is built in ``.staging/<id>/`` inside the location (same file system), then
renamed to ``<全宗号>/<档号>/``: the rename is atomic, so a crash leaves either the
whole AIP or none. Records (audit and repair events, tombstones) live in
``.records/<全宗号>/<档号>/``, each written once under a new name by a hard link, which
fails rather than overwrite (an audit's batch of them is made durable with one flush
before the links and one after). An AIP's files are read through open folder
descriptors, and no link inside an AIP is ever followed. Each staging directory has a
lock file its process holds (flock, released by the kernel when the process dies); a
directory whose lock nobody holds belongs to a dead process and is removed by
:meth:`FsLocation.recover`. A guard file keeps recovery from looking while another
process is half-way through setting up its staging directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import BinaryIO

from archive.errors import AIPExistsError, RecordExistsError, StorageError
from archive.fixity import fsync_dir, sync_filesystem, write_durably
from archive.storage.base import COPY_CHUNK, CopyReader, Location

STAGING = ".staging"
GUARD = ".guard"
RECORDS = ".records"


class FsLocation(Location):
    """存储位置 (本地目录): AIPs as plain directories, one per item."""

    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root

    def describe(self) -> str:
        return f"{self.name} (fs: {self.root})"

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _reachable(self) -> Path:
        """The root, which must exist: a missing root is an unmounted disk, never an empty location."""
        if not self.root.is_dir():
            raise StorageError(
                f"存储位置 {self.name} 不可访问: {self.root} 不存在, 磁盘是否已挂载? "
                "(location unreachable: directory missing, disk not mounted?)"
            )
        return self.root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise StorageError(f"非法的 AIP 键 (invalid AIP key): {key!r}")
        return self._reachable().joinpath(*parts)

    @contextmanager
    def _guard(self, mode: int) -> Iterator[Path]:
        """Creators hold the staging area's guard shared while they set up; recovery holds it exclusive."""
        area = self._reachable() / STAGING
        area.mkdir(exist_ok=True)
        with open(area / GUARD, "a") as guard:
            fcntl.flock(guard, mode)
            yield area

    @contextmanager
    def staging(self) -> Iterator[Path]:
        token = uuid.uuid4().hex
        with self._guard(fcntl.LOCK_SH) as area:
            lock = open(area / f"{token}.lock", "w")
            fcntl.flock(lock, fcntl.LOCK_EX)
            work = area / token
            work.mkdir()
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)
            (area / f"{token}.lock").unlink(missing_ok=True)
            lock.close()

    def commit(self, key: str, staged: Path, retain_until: date | None = None) -> None:
        target = self._path(key)
        if target.exists():
            raise AIPExistsError(f"AIP 已存在 (AIP exists): {key}")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staged, target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise AIPExistsError(f"AIP 已存在 (AIP exists): {key}") from exc
            raise StorageError(f"无法写入存储位置 {self.name} (cannot commit): {exc}", path=key) from exc
        fsync_dir(target.parent)

    def exists(self, key: str) -> bool:
        return (self._path(key) / "bagit.txt").is_file()

    def list_keys(self) -> Iterator[str]:
        for fonds in sorted(self._reachable().iterdir()):
            if fonds.name.startswith(".") or not fonds.is_dir():
                continue
            for aip in sorted(fonds.iterdir()):
                if (aip / "bagit.txt").is_file():
                    yield f"{fonds.name}/{aip.name}"

    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        with self.reader(key) as copy:
            yield from copy.files()

    def open(self, key: str, relpath: str) -> BinaryIO:
        with self.reader(key) as copy:
            return copy.open(relpath)

    def reader(self, key: str) -> CopyReader:
        return _FsReader(self, key)

    def delete(self, key: str) -> None:
        target = self._path(key)
        if not (target / "bagit.txt").is_file():
            raise StorageError(f"存储位置 {self.name} 中没有该 AIP (no such AIP)", path=key)
        # Out of sight in one rename; a crash during the removal leaves only staging debris.
        with self.staging() as work:
            os.rename(target, work / "deleted")
            fsync_dir(target.parent)

    def replace_file(self, key: str, relpath: str, source: BinaryIO) -> None:
        target = self._file(key, relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.staging() as work:
            tmp = work / "part"
            with open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, COPY_CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        fsync_dir(target.parent)

    def remove_file(self, key: str, relpath: str) -> None:
        target = self._file(key, relpath)
        target.unlink(missing_ok=True)
        fsync_dir(target.parent)

    def _file(self, key: str, relpath: str) -> Path:
        base = self._path(key)
        target = base.joinpath(*relpath.split("/"))
        if ".." in relpath.split("/") or base not in target.parents:
            raise StorageError(f"路径越出 AIP (path escapes the AIP): {relpath}", path=key)
        return target

    # --- records ------------------------------------------------------------------------

    def _records(self, key: str) -> Path:
        return self.root / RECORDS / self._path(key).relative_to(self.root)

    def _record_path(self, key: str, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise StorageError(f"非法的记录名 (invalid record name): {name!r}", path=key)
        return self._records(key) / name

    def append_record(self, key: str, name: str, data: bytes) -> None:
        if not write_durably(self._record_path(key, name), data, replace=False):
            raise RecordExistsError(f"记录已存在, 不可覆盖 (record exists): {name}", path=key)

    def append_records(self, records: Sequence[tuple[str, str, bytes]]) -> list[StorageError | None]:
        """Each record written to a temporary name, one flush, every name linked, one more flush.

        The same order as :meth:`append_record` (the bytes durable before the name, the
        name durable before this returns), but two flushes for the batch where one record
        at a time costs two each.
        """
        errors: list[StorageError | None] = [None] * len(records)
        staged: list[tuple[int, Path, Path]] = []
        for i, (key, name, data) in enumerate(records):
            try:
                path = self._record_path(key, name)
                tmp = path.with_name(f".{name}.tmp")
                _write_new(tmp, data)
                staged.append((i, tmp, path))
            except StorageError as exc:
                errors[i] = exc
            except OSError as exc:
                errors[i] = StorageError(f"无法写入记录 (cannot write record): {exc.strerror}", path=f"{key}/{name}")
        try:
            self._flush([tmp for _i, tmp, _path in staged])
            linked = [path for i, tmp, path in staged if self._link(tmp, path, errors, i)]
            self._flush(sorted({p.parent for p in linked}, key=str), folders=True)
        except OSError as exc:
            for i, _tmp, _path in staged:
                errors[i] = errors[i] or StorageError(f"无法写入记录 (cannot write records): {exc}", path=self.name)
        finally:
            for _i, tmp, _path in staged:
                tmp.unlink(missing_ok=True)
        return errors

    def _link(self, tmp: Path, path: Path, errors: list[StorageError | None], i: int) -> bool:
        """Give a staged record its name (a hard link refuses to replace); note a failure in ``errors``."""
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            errors[i] = RecordExistsError(f"记录已存在, 不可覆盖 (record exists): {path.name}", path=str(path.parent))
        except OSError as exc:
            errors[i] = StorageError(f"无法写入记录 (cannot write record): {exc.strerror}", path=str(path))
        return False

    def _flush(self, paths: list[Path], *, folders: bool = False) -> None:
        """Make ``paths`` (files, or folders and their new entries) durable: one syncfs, else an fsync each."""
        if not paths or sync_filesystem(self.root):
            return
        if folders:  # with the folders above them, up to the root: this batch may have made any of them
            for folder in sorted({a for p in paths for a in (p, *p.parents) if a.is_relative_to(self.root)}):
                fsync_dir(folder)
            return
        for p in paths:
            with open(p, "rb") as f:
                os.fsync(f.fileno())

    def list_records(self, key: str) -> Iterator[str]:
        folder = self._records(key)
        if folder.is_dir():
            yield from sorted(e.name for e in folder.iterdir() if not e.name.startswith("."))

    def read_record(self, key: str, name: str) -> bytes:
        try:
            return (self._records(key) / name).read_bytes()
        except OSError as exc:
            raise StorageError(f"无法读取记录 (cannot read record): {exc.strerror}", path=f"{key}/{name}") from exc

    def record_keys(self) -> Iterator[str]:
        base = self._reachable() / RECORDS
        if not base.is_dir():
            return
        for fonds in sorted(base.iterdir()):
            for aip in sorted(fonds.iterdir()) if fonds.is_dir() else ():
                yield f"{fonds.name}/{aip.name}"

    def bag_path(self, key: str) -> Path:
        """The directory of a committed AIP (local locations only)."""
        return self._path(key)

    def recover(self) -> list[str]:
        removed: list[str] = []
        with self._guard(fcntl.LOCK_EX) as area:
            tokens = {e.name.removesuffix(".lock") for e in area.iterdir() if e.name != GUARD}
            for token in sorted(tokens):
                if self._abandoned(area, token):
                    shutil.rmtree(area / token, ignore_errors=True)
                    (area / f"{token}.lock").unlink(missing_ok=True)
                    removed.append(token)
        return removed

    @staticmethod
    def _abandoned(area: Path, token: str) -> bool:
        lock_path = area / f"{token}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone put in a bag must not hang the audit (it is then refused as not a file)
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class _FsReader(CopyReader):
    """A local copy read through its open folders.

    Each file is opened relative to its folder's descriptor and no link is ever followed
    inside the AIP, so what is read is the AIP's own file, with one system call per file
    instead of resolving its whole path (twice) every time.
    """

    def __init__(self, location: FsLocation, key: str):
        super().__init__(location, key)
        self.fs = location
        self.folders: dict[str, int] = {}  # bag-relative folder ("" for the AIP itself) -> open descriptor

    def _top(self) -> int | None:
        """The AIP's own folder, or None when there is none (StorageError when the location is unreachable)."""
        if "" not in self.folders:
            try:
                self.folders[""] = os.open(self.fs._path(self.key), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                raise StorageError(f"无法读取 (cannot read): {exc.strerror}", path=self.key) from exc
        return self.folders[""]

    def present(self) -> bool:
        top = self._top()
        if top is None:
            return False
        try:
            return stat.S_ISREG(os.stat("bagit.txt", dir_fd=top, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"无法读取 (cannot read): {exc.strerror}", path=self.key) from exc

    def files(self) -> list[tuple[str, int]]:
        """Every entry that is not a folder (a link or a device is listed too: it does not belong in a bag)."""
        if self._top() is None:
            return []
        found: list[tuple[str, int]] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                entries = list(os.scandir(self.folders[folder]))
            except OSError:
                continue  # as os.walk does: an unreadable folder lists nothing, so its files are missing
            for e in entries:
                rel = f"{folder}/{e.name}" if folder else e.name
                try:
                    if e.is_dir(follow_symlinks=False):
                        self.folders[rel] = os.open(e.name, _FOLDER, dir_fd=self.folders[folder])
                        pending.append(rel)
                    else:
                        found.append((rel, e.stat(follow_symlinks=False).st_size))
                except OSError:
                    continue  # gone since the folder was read, or unreadable: as os.walk, not listed
        return sorted(found)

    def open(self, relpath: str) -> BinaryIO:
        parts = relpath.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"路径越出 AIP (path escapes the AIP): {relpath}", path=self.key)
        try:
            fd = os.open(parts[-1], _FILE, dir_fd=self._folder(parts[:-1]))
        except OSError as exc:
            raise StorageError(f"无法读取 (cannot read): {exc.strerror}", path=f"{self.key}/{relpath}") from exc
        f = open(fd, "rb", buffering=0)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            f.close()
            raise StorageError("不是普通文件 (not a regular file)", path=f"{self.key}/{relpath}")
        return f

    def _folder(self, parts: list[str]) -> int:
        """The descriptor of a folder inside the AIP, opened one level at a time without following links."""
        rel = "/".join(parts)
        if rel in self.folders:
            return self.folders[rel]
        top = self._top()
        if top is None:
            raise FileNotFoundError(errno.ENOENT, "AIP 不存在 (no such AIP)", self.key)
        fd, done = top, ""
        for part in parts:
            done = f"{done}/{part}" if done else part
            if done not in self.folders:
                opened = os.open(part, _FOLDER, dir_fd=fd)
                if self.folders.setdefault(done, opened) != opened:
                    os.close(opened)  # another thread opened it first
            fd = self.folders[done]
        return fd

    def close(self) -> None:
        for fd in self.folders.values():
            os.close(fd)
        self.folders.clear()


def _write_new(path: Path, data: bytes) -> None:
    """Write a new file (never an existing one), making its folder when it is the first."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
