"""A storage location on a local or mounted file system.

An AIP is built in ``.staging/<id>/`` inside the location (same file system), then
renamed to ``<全宗号>/<档号>/``: the rename is atomic, so a crash leaves either the
whole AIP or none. Records (audit and repair events, tombstones) live in
``.records/<全宗号>/<档号>/``, each written once under a new name by a hard link, which
fails rather than overwrite (an audit's batch of them is made durable with one flush
before the links and one after). An AIP's files are read through open folder
descriptors, and no link is ever followed from the location's root down: a link in
place of a fonds folder, an AIP or a file in it is a foreign entry, never a copy. Each
staging directory has a lock file its process holds (flock, released by the kernel
when the process dies); a directory whose lock nobody holds belongs to a dead process
and is removed by :meth:`FsLocation.recover`. A guard file keeps recovery from looking
while another process is half-way through setting up its staging directory.

Commits take the location's commit lock (``.commit.lock`` in the root), so what stands
at a key is judged and acted on in one step. Something there that is not a whole AIP
(no ``bagit.txt``, an empty leftover, a link) is renamed into a staging directory and
the new AIP renamed in: a kill between the two renames leaves nothing at the key (the
old folder in staging, removed by recovery), never a partial AIP, and a whole AIP is
never moved. Every OSError becomes a :class:`StorageError` naming the location.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from archive.errors import AIPExistsError, RecordExistsError, StorageError
from archive.fixity import fsync_dir, sync_filesystem, write_durably
from archive.i18n import _
from archive.storage._fsread import FOLDER, FsReader
from archive.storage.base import Location, bag_parts, copy_stream, os_failure

STAGING = ".staging"
GUARD = ".guard"
RECORDS = ".records"
COMMIT_LOCK = ".commit.lock"
#: what opening a folder without following links says when no real folder is there
NO_FOLDER = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class FsLocation(Location):
    """存储位置 (本地目录): AIPs as plain directories, one per item."""

    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root

    @classmethod
    def from_options(cls, name: str, options: dict[str, Any], *, home: Path | None = None) -> FsLocation:
        """``path`` (default: the location's name), relative to the archive home unless absolute."""
        path = Path(str(options.get("path", name)))
        return cls(name, path if path.is_absolute() or home is None else home / path)

    @classmethod
    def spec_options(cls, where: str, spec: str) -> dict[str, Any]:
        """``NAME=PATH``: any text is a path."""
        return {"path": where}

    def describe(self) -> str:
        return f"{self.name} (fs: {self.root})"

    def prepare(self) -> None:
        with self._failing("create", self.root):
            self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _failing(self, action: str, where: object) -> Iterator[None]:
        """Turn an OSError in the block into a StorageError (see :func:`os_failure`)."""
        try:
            yield
        except OSError as exc:
            raise os_failure(self.name, action, where, exc) from exc

    def _reachable(self) -> Path:
        """The root, which must exist: a missing root is an unmounted disk, never an empty location."""
        try:
            found = stat.S_ISDIR(os.stat(self.root).st_mode)  # the root itself may be a link (a mount path)
        except (FileNotFoundError, NotADirectoryError):
            found = False
        except OSError as exc:
            raise os_failure(self.name, "read", self.root, exc) from exc
        if not found:
            raise StorageError(
                _("存储位置 {name} 不可访问: {path} 不存在, 磁盘是否已挂载?").format(name=self.name, path=self.root)
            )
        return self.root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise StorageError(_("非法的 AIP 键: {key}").format(key=repr(key)))
        return self._reachable().joinpath(*parts)

    @contextmanager
    def _guard(self, mode: int) -> Iterator[Path]:
        """Creators hold the staging area's guard shared while they set up; recovery holds it exclusive."""
        area = self._reachable() / STAGING
        with self._failing("write", area / GUARD):
            area.mkdir(exist_ok=True)
            guard = open(area / GUARD, "a")
        with guard:
            with self._failing("lock", area / GUARD):
                fcntl.flock(guard, mode)
            yield area

    @contextmanager
    def staging(self) -> Iterator[Path]:
        token = uuid.uuid4().hex
        with self._guard(fcntl.LOCK_SH) as area, self._failing("write", area / token):
            lock = open(area / f"{token}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                (area / token).mkdir()
            except OSError:
                lock.close()
                with suppress(OSError):
                    (area / f"{token}.lock").unlink(missing_ok=True)
                raise
        work = area / token
        try:
            yield work
        finally:
            # What cannot be removed now is staging debris: its lock is let go, so recovery takes it.
            shutil.rmtree(work, ignore_errors=True)
            with suppress(OSError):
                (area / f"{token}.lock").unlink(missing_ok=True)
            lock.close()

    @contextmanager
    def _commit_lock(self) -> Iterator[None]:
        """One commit at a time in this location: what stands at a key is judged and acted on in one step."""
        path = self._reachable() / COMMIT_LOCK
        with self._failing("lock", path):
            lock = open(path, "a")
        with lock:
            with self._failing("lock", path):
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def commit(self, key: str, staged: Path, retain_until: date | None = None) -> None:
        target = self._path(key)
        with self._failing("commit", target), ExitStack() as later:  # later: the staging that takes a leftover
            with self._commit_lock():
                self._fonds_folder(target.parent)
                aside = None
                if _lexists(target):
                    if self.exists(key) or _holds_content(target):
                        # a whole AIP, or a folder that may be one missing its bagit.txt: never replaced
                        raise AIPExistsError(_("AIP 已存在: {key}").format(key=key))
                    # A link, a file or an empty folder: out of sight in one rename, removed with the staging.
                    aside = later.enter_context(self.staging()) / "replaced"
                    os.rename(target, aside)
                self._rename_in(key, staged, target, aside)
                fsync_dir(target.parent)

    @staticmethod
    def _rename_in(key: str, staged: Path, target: Path, aside: Path | None) -> None:
        """The new AIP in place in one rename; on failure, what was there put back when it can be."""
        try:
            os.rename(staged, target)
        except OSError as exc:
            if aside is not None:
                with suppress(OSError):
                    os.rename(aside, target)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise AIPExistsError(_("AIP 已存在: {key}").format(key=key)) from exc
            raise

    def _fonds_folder(self, fonds: Path) -> None:
        """Make the fonds folder when it is the first AIP of its fonds; refuse a link or a file there."""
        try:
            os.mkdir(fonds)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(fonds).st_mode):
                raise StorageError(
                    _("存储位置 {name} 的全宗目录是链接或文件, 不会跟随: {path}").format(name=self.name, path=fonds)
                ) from None
            return
        fsync_dir(fonds.parent)

    def exists(self, key: str) -> bool:
        with self.reader(key) as copy:
            return copy.present()

    def list_keys(self) -> Iterator[str]:
        root = self._reachable()
        keys = [
            f"{fonds}/{aip}"
            for fonds in self._subfolders(root)
            for aip in self._subfolders(root / fonds)
            if self._regular(root / fonds / aip / "bagit.txt")
        ]
        # sorted whole: folder by folder, fonds J012's AIPs would come before J012-A's ("-" sorts before "/")
        yield from sorted(keys)

    def _subfolders(self, folder: Path) -> list[str]:
        """Names of the real folders in ``folder`` (a link is never one), hidden ones left out, in order."""
        with self._failing("list", folder), os.scandir(folder) as entries:
            return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))

    def _regular(self, path: Path) -> bool:
        try:
            return stat.S_ISREG(os.lstat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise os_failure(self.name, "read", path, exc) from exc

    def _open_aip(self, key: str) -> int | None:
        """The AIP's folder, opened from the root one level at a time without following a link.

        None when no real folder is there: a link in place of the AIP or of its fonds
        folder is a foreign entry, never followed, so a link to another location's copy
        never passes for a copy of its own.
        """
        path = self._path(key)
        with self._failing("read", path):
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for part in key.split("/"):  # the fonds folder, then the AIP's
                try:
                    child = os.open(part, FOLDER, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in NO_FOLDER:
                        return None
                    raise
                finally:
                    os.close(fd)  # the folder above, done with either way
                fd = child
            return fd

    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        with self.reader(key) as copy:
            yield from copy.files()

    def open(self, key: str, relpath: str) -> BinaryIO:
        with self.reader(key) as copy:
            return copy.open(relpath)

    def reader(self, key: str) -> FsReader:
        return FsReader(self, key)

    def delete(self, key: str) -> None:
        target = self._path(key)
        if not self.exists(key):
            raise StorageError(_("存储位置 {name} 中没有该 AIP").format(name=self.name), path=key)
        # Out of sight in one rename; a crash during the removal leaves only staging debris.
        with self._failing("delete", target), self.staging() as work:
            os.rename(target, work / "deleted")
            fsync_dir(target.parent)

    def replace_file(self, key: str, relpath: str, source: BinaryIO) -> None:
        parts = bag_parts(relpath, key)
        where = self._path(key) / relpath
        with self.staging() as work, self._failing("write", where), self.reader(key) as copy:
            tmp = work / "part"
            with open(tmp, "wb") as out:
                copy_stream(source, out, _("{path} (修复来源)").format(path=relpath))
                out.flush()
                os.fsync(out.fileno())
            folder = copy.make_folder(parts[:-1])
            os.replace(tmp, parts[-1], dst_dir_fd=folder)
            os.fsync(folder)

    def remove_file(self, key: str, relpath: str) -> None:
        parts = bag_parts(relpath, key)
        with self._failing("delete", self._path(key) / relpath), self.reader(key) as copy:
            if not copy.present():
                raise StorageError(_("存储位置 {name} 中没有该 AIP").format(name=self.name), path=key)
            try:
                folder = copy.folder(parts[:-1])
            except FileNotFoundError:
                return  # its folder is gone, and the file with it
            with suppress(FileNotFoundError):
                os.unlink(parts[-1], dir_fd=folder)  # a link is removed, never followed
            os.fsync(folder)

    # --- records ------------------------------------------------------------------------

    def _records(self, key: str) -> Path:
        return self.root / RECORDS / self._path(key).relative_to(self.root)

    def _record_path(self, key: str, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise StorageError(_("非法的记录名: {name}").format(name=repr(name)), path=key)
        return self._records(key) / name

    def append_record(self, key: str, name: str, data: bytes) -> None:
        path = self._record_path(key, name)
        with self._failing("write", path):
            stored = write_durably(path, data, replace=False)
        if not stored:
            raise RecordExistsError(_("记录已存在, 不可覆盖: {name}").format(name=name), path=key)

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
                errors[i] = os_failure(self.name, "write", f"{key}/{name}", exc)
        try:
            self._flush([tmp for _i, tmp, _path in staged])
            linked = [path for i, tmp, path in staged if self._link(tmp, path, errors, i)]
            self._flush(sorted({p.parent for p in linked}, key=str), folders=True)
        except OSError as exc:
            for i, _tmp, path in staged:
                errors[i] = errors[i] or os_failure(self.name, "write", path, exc)
        finally:
            for _i, tmp, _path in staged:
                with suppress(OSError):
                    tmp.unlink(missing_ok=True)
        return errors

    def _link(self, tmp: Path, path: Path, errors: list[StorageError | None], i: int) -> bool:
        """Give a staged record its name (a hard link refuses to replace); note a failure in ``errors``."""
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            errors[i] = RecordExistsError(
                _("记录已存在, 不可覆盖: {name}").format(name=path.name), path=str(path.parent)
            )
        except OSError as exc:
            errors[i] = os_failure(self.name, "write", path, exc)
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
        with self._failing("list", folder):
            names = sorted(e.name for e in folder.iterdir() if not e.name.startswith(".")) if folder.is_dir() else []
        yield from names

    def read_record(self, key: str, name: str) -> bytes:
        path = self._record_path(key, name)
        with self._failing("read", path):
            return path.read_bytes()

    def record_keys(self) -> Iterator[str]:
        base = self._reachable() / RECORDS
        with self._failing("list", base):
            keys = [
                f"{fonds.name}/{aip.name}"
                for fonds in (sorted(base.iterdir()) if base.is_dir() else ())
                for aip in (sorted(fonds.iterdir()) if fonds.is_dir() else ())
            ]
        yield from keys

    def bag_path(self, key: str) -> Path:
        """The directory of a committed AIP (local locations only)."""
        return self._path(key)

    def recover(self) -> list[str]:
        removed: list[str] = []
        with self._guard(fcntl.LOCK_EX) as area:
            with self._failing("list", area):
                tokens = {e.name.removesuffix(".lock") for e in area.iterdir() if e.name != GUARD}
            for token in sorted(tokens):
                try:
                    if not self._abandoned(area, token):
                        continue
                    shutil.rmtree(area / token, ignore_errors=True)
                    (area / f"{token}.lock").unlink(missing_ok=True)
                except OSError:
                    continue  # what cannot be removed now waits for a later run; it is out of sight
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


def _holds_content(path: Path) -> bool:
    """A real folder (not a link) with a regular file somewhere below it (links are not followed)."""
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        return False
    return any(
        files
        for _dirpath, _dirs, files in os.walk(path)
        if any(stat.S_ISREG(os.lstat(os.path.join(_dirpath, f)).st_mode) for f in files)
    )


def _lexists(path: Path) -> bool:
    """Whether anything (a link too, even a dangling one) has that name."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


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
