"""A storage location on a local or mounted file system.

An AIP is built in ``.staging/<id>/`` inside the location (same file system), then
renamed to ``<全宗号>/<档号>/``: the rename is atomic, so a crash leaves either the
whole AIP or none. Each staging directory is guarded by an flock'ed lock file; a
directory whose lock nobody holds belongs to a dead process and is removed by
:meth:`FsLocation.recover`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from archive.errors import AIPExistsError, StorageError
from archive.fixity import fsync_dir
from archive.storage.base import Location

STAGING = ".staging"


class FsLocation(Location):
    """存储位置 (本地目录): AIPs as plain directories, one per item."""

    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root

    def describe(self) -> str:
        return f"{self.name} (fs: {self.root})"

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise StorageError(f"非法的 AIP 键 (invalid AIP key): {key!r}")
        return self.root.joinpath(*parts)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        area = self.root / STAGING
        area.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        lock_path = area / f"{token}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            work = area / token
            work.mkdir()
            try:
                yield work
            finally:
                shutil.rmtree(work, ignore_errors=True)
                lock_path.unlink(missing_ok=True)

    def commit(self, key: str, staged: Path) -> None:
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
        if not self.root.is_dir():
            return
        for fonds in sorted(self.root.iterdir()):
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

    def bag_path(self, key: str) -> Path:
        """The directory of a committed AIP (local locations only)."""
        return self._path(key)

    def recover(self) -> list[str]:
        area = self.root / STAGING
        removed: list[str] = []
        if not area.is_dir():
            return removed
        for entry in sorted(area.iterdir()):
            if entry.suffix == ".lock" or not self._abandoned(area, entry.name):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            (area / f"{entry.name}.lock").unlink(missing_ok=True)
            removed.append(entry.name)
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
