"""Reading one local copy of an AIP through open folder descriptors, never following a link."""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, BinaryIO

from archive.errors import StorageError
from archive.i18n import _
from archive.storage.base import CopyReader, bag_parts, os_failure

if TYPE_CHECKING:
    from archive.storage.fs import FsLocation

FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO someone put in a bag must not hang the audit (it is then refused as not a file)
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class FsReader(CopyReader):
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
        """The AIP's own folder, or None when no real folder is there (StorageError when it cannot be read)."""
        if "" not in self.folders:
            fd = self.fs._open_aip(self.key)
            if fd is None:
                return None
            self.folders[""] = fd
        return self.folders[""]

    def present(self) -> bool:
        """Whether a whole AIP is there: a real folder (not a link) holding ``bagit.txt`` as a regular file."""
        top = self._top()
        if top is None:
            return False
        try:
            return stat.S_ISREG(os.stat("bagit.txt", dir_fd=top, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise os_failure(self.fs.name, "read", f"{self.key}/bagit.txt", exc) from exc

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
                        self.folders[rel] = os.open(e.name, FOLDER, dir_fd=self.folders[folder])
                        pending.append(rel)
                    else:
                        found.append((rel, e.stat(follow_symlinks=False).st_size))
                except OSError:
                    continue  # gone since the folder was read, or unreadable: as os.walk, not listed
        return sorted(found)

    def open(self, relpath: str) -> BinaryIO:
        parts = bag_parts(relpath, self.key)
        try:
            fd = os.open(parts[-1], _FILE, dir_fd=self.folder(parts[:-1]))
        except OSError as exc:
            raise os_failure(self.fs.name, "read", f"{self.key}/{relpath}", exc) from exc
        f = open(fd, "rb", buffering=0)
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError as exc:
            f.close()
            raise os_failure(self.fs.name, "read", f"{self.key}/{relpath}", exc) from exc
        if not regular:
            f.close()
            raise StorageError(_("不是普通文件"), path=f"{self.key}/{relpath}")
        return f

    def folder(self, parts: list[str]) -> int:
        """The descriptor of a folder inside the AIP, opened one level at a time without following links."""
        rel = "/".join(parts)
        if rel in self.folders:
            return self.folders[rel]
        top = self._top()
        if top is None:
            raise FileNotFoundError(errno.ENOENT, _("AIP 不存在"), self.key)
        fd, done = top, ""
        for part in parts:
            done = f"{done}/{part}" if done else part
            if done not in self.folders:
                opened = os.open(part, FOLDER, dir_fd=fd)
                if self.folders.setdefault(done, opened) != opened:
                    os.close(opened)  # another thread opened it first
            fd = self.folders[done]
        return fd

    def make_folder(self, parts: list[str]) -> int:
        """A folder inside the AIP, made where it is missing, for a repair to put a file in.

        Opened one level at a time and never through a link: a link or a file where a
        folder of the AIP belongs is refused, so a repair never writes outside the AIP.
        """
        fd, done = self._top(), ""
        if fd is None:
            raise StorageError(_("存储位置 {name} 中没有该 AIP").format(name=self.fs.name), path=self.key)
        for part in parts:
            done = f"{done}/{part}" if done else part
            if done not in self.folders:
                try:
                    os.mkdir(part, dir_fd=fd)
                    os.fsync(fd)  # the new folder's name, durable before a file is put in it
                except FileExistsError:
                    pass
                try:
                    self.folders[done] = os.open(part, FOLDER, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    raise StorageError(
                        _("AIP 中该处是链接或文件而非目录, 不会跟随: {path}").format(path=done),
                        path=self.key,
                    ) from exc
            fd = self.folders[done]
        return fd

    def close(self) -> None:
        for fd in self.folders.values():
            os.close(fd)
        self.folders.clear()
