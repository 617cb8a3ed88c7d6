"""A storage location on a local or mounted file system.

An AIP is built in ``.staging/<id>/`` inside the location (same file system), then
renamed to ``<全宗号>/<档号>/``: the rename is atomic, so a crash leaves either the
whole AIP or none. Each staging directory has a lock file its process holds
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
from pathlib import Path
from typing import BinaryIO

from archive.errors import AIPExistsError, StorageError
from archive.fixity import fsync_dir
from archive.storage.base import Location

STAGING = ".staging"
GUARD = ".guard"


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
    def _guard(self, mode: int) -> Iterator[Path]:
        """Creators hold the staging area's guard shared while they set up; recovery holds it exclusive."""
        area = self.root / STAGING
        area.mkdir(parents=True, exist_ok=True)
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
