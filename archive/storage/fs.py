"""A storage location on a local or mounted file system.

An AIP is built in ``.staging/<id>/`` inside the location (same file system), then
renamed to ``<全宗号>/<档号>/``: the rename is atomic, so a crash leaves either the
whole AIP or none. Records (audit and repair events, tombstones) live in
``.records/<全宗号>/<档号>/``, each written once under a new name by a hard link, which
fails rather than overwrite. Each staging directory has a lock file its process holds
(flock, released by the kernel when the process dies); a directory whose lock nobody
holds belongs to a dead process and is removed by :meth:`FsLocation.recover`. A guard
file keeps recovery from looking while another process is half-way through setting
up its staging directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import BinaryIO

from archive.errors import AIPExistsError, RecordExistsError, StorageError
from archive.fixity import fsync_dir, write_durably
from archive.storage.base import COPY_CHUNK, Location

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
        base = self._path(key)
        for dirpath, _dirs, files in os.walk(base):
            for name in sorted(files):
                p = Path(dirpath, name)
                yield p.relative_to(base).as_posix(), p.lstat().st_size

    def open(self, key: str, relpath: str) -> BinaryIO:
        base = self._path(key)
        p = (base / relpath).resolve()
        if base.resolve() not in p.parents:
            raise StorageError(f"路径越出 AIP (path escapes the AIP): {relpath}", path=key)
        try:
            return open(p, "rb")
        except OSError as exc:
            raise StorageError(f"无法读取 (cannot read): {exc.strerror}", path=f"{key}/{relpath}") from exc

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

    def append_record(self, key: str, name: str, data: bytes) -> None:
        if "/" in name or name.startswith("."):
            raise StorageError(f"非法的记录名 (invalid record name): {name!r}", path=key)
        if not write_durably(self._records(key) / name, data, replace=False):
            raise RecordExistsError(f"记录已存在, 不可覆盖 (record exists): {name}", path=key)

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
