"""How the bag validator sees a bag: a listing of regular files and a streaming ``open``.

:class:`BagSource` is the seam (an S3 source can list objects and stream them without
downloading the bag); :class:`DirectorySource` is the local one. It walks without following
symlinks, reports every symlink, FIFO, device and unreadable folder, and opens files component
by component with ``O_NOFOLLOW`` relative to the bag's own directory handle, so nothing outside
the root can be opened even if the tree changes underneath.
"""

from __future__ import annotations

import errno
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from archive.errors import BagError
from archive.i18n import _

__all__ = ["BagSource", "DirectorySource"]


class BagSource(ABC):
    """Read-only access to one bag, wherever it is stored.

    Attributes:
        location: where the bag is, for reports (a directory, an S3 URL ...).
    """

    location: str = ""

    @abstractmethod
    def list_files(self) -> Iterator[tuple[str, int]]:
        """Yield ``(relative POSIX path, size)`` for every regular file in the bag."""

    @abstractmethod
    def open(self, relpath: str) -> BinaryIO:
        """Open one listed file for streaming reads.

        Raises:
            BagError: when the path is unsafe or not a regular file.
            OSError: when the file cannot be read (StorageError: the same, from a storage location).
        """

    def irregular_entries(self) -> Iterator[tuple[str, str]]:
        """Yield ``(path, what)`` for entries that are not regular files.

        ``what`` is ``"symlink"``, ``"special"`` or ``"unreadable"``; object
        stores have none, so the default yields nothing.
        """
        return iter(())

    def is_dir(self, relpath: str) -> bool:
        """Whether ``relpath`` is a folder; by default, whether any file lies under it."""
        prefix = relpath.rstrip("/") + "/"
        return any(path.startswith(prefix) for path, _ in self.list_files())


class DirectorySource(BagSource):
    """A bag in a local directory; symlinks are reported, never followed.

    Args:
        path: the bag's root directory.

    Raises:
        BagError: when ``path`` is not a directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not Path(path).is_dir():
            raise BagError(_("包目录不存在或不是目录"), path=str(path))
        self.location = str(path)
        self.root = Path(path).resolve()
        self._files: list[tuple[str, int]] | None = None
        self._irregular: list[tuple[str, str]] = []

    def list_files(self) -> Iterator[tuple[str, int]]:
        """Yield every regular file, sorted, from one cached walk."""
        return iter(self._scan())

    def irregular_entries(self) -> Iterator[tuple[str, str]]:
        """Yield symlinks, special files and unreadable folders found by the walk."""
        self._scan()
        return iter(self._irregular)

    def is_dir(self, relpath: str) -> bool:
        """Whether ``relpath`` is a real folder (a symlink to one is not)."""
        try:
            return stat.S_ISDIR(os.lstat(self.root.joinpath(*_safe_parts(relpath))).st_mode)
        except OSError:
            return False

    def open(self, relpath: str) -> BinaryIO:
        """Open ``relpath`` without following any symlink on the way.

        Raises:
            BagError: unsafe path, a symlink on the way, or not a regular file.
            OSError: missing or unreadable file.
        """
        parts = _safe_parts(relpath)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for name in parts[:-1]:
            fd = _open_at(fd, name, os.O_DIRECTORY, relpath)
        fd = _open_at(fd, parts[-1], os.O_NONBLOCK, relpath)  # O_NONBLOCK: a FIFO must not hang us
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise BagError(_("不是普通文件"), path=relpath)
        return os.fdopen(fd, "rb")

    def _scan(self) -> list[tuple[str, int]]:
        if self._files is None:
            self._files = []
            stack = [(str(self.root), "")]
            while stack:  # iterative: deep trees must not hit the recursion limit
                self._scan_dir(*stack.pop(), stack)
            self._files.sort()
        return self._files

    def _scan_dir(self, directory: str, prefix: str, stack: list[tuple[str, str]]) -> None:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    self._classify(entry, prefix + entry.name, stack)
        except OSError:
            self._irregular.append((prefix.rstrip("/") or ".", "unreadable"))

    def _classify(self, entry: os.DirEntry[str], rel: str, stack: list[tuple[str, str]]) -> None:
        if entry.is_symlink():
            self._irregular.append((rel, "symlink"))
        elif entry.is_dir(follow_symlinks=False):
            stack.append((entry.path, rel + "/"))
        elif entry.is_file(follow_symlinks=False) and self._files is not None:
            self._files.append((rel, entry.stat(follow_symlinks=False).st_size))
        else:
            self._irregular.append((rel, "special"))


def _safe_parts(relpath: str) -> list[str]:
    """Split a bag-relative path, refusing anything that could leave the root."""
    parts = relpath.split("/")
    if "\x00" in relpath or any(part in ("", ".", "..") for part in parts):
        raise BagError(_("路径越出包目录"), path=relpath)
    return parts


def _open_at(dir_fd: int, name: str, flags: int, relpath: str) -> int:
    """Open ``name`` inside ``dir_fd`` with O_NOFOLLOW; always closes ``dir_fd``."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_symlink(dir_fd, name):
            raise BagError(_("拒绝跟随符号链接"), path=relpath) from exc
        raise
    finally:
        os.close(dir_fd)


def _is_symlink(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
