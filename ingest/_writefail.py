"""What storage cannot take at 归档: names no location could hold, and whose fault an OSError met
writing an item is.

A full disk, a quota, a read-only or failing disk is the location's: every further item would
fail the same way, so the batch stops there with a storage failure (exit 4) and reports each
item. Any other OSError on a write (a name that location's file system refuses) is the one
item's: it is refused with a finding and the batch goes on. Neither is blamed on the source file.
"""

from __future__ import annotations

import errno
from pathlib import Path

from archive.aip import text_path
from archive.errors import StorageError
from archive.model import Finding
from archive.names import NAME_MAX
from archive.storage.base import os_failure
from ingest.checks import fail

STORAGE_CODE = "BC-4-8"  # a storage failure, as for a copy that could not be stored
LOCATION_WIDE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE}


class ItemUnwritable(Exception):
    """One item's files could not be written where others can: its finding."""

    def __init__(self, finding: Finding):
        self.finding = finding


def storage_finding(exc: StorageError) -> Finding:
    """A storage failure as an item's (or the batch's) finding: what failed, and that a rerun completes it."""
    message = f"存储失败, 腾出空间或修复后重新运行即可 (storage failed: fix it and run again): {exc}"
    return fail(STORAGE_CODE, message)


def unstorable(name: str, rooms: list[int]) -> str | None:
    """Why no AIP could hold the file ``name`` (a bag path), if so: a component over 255 bytes as
    UTF-8, or a path past the ``rooms`` the locations leave (S3 keys)."""
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in name.split("/")):
        # a GB18030 name of 255 bytes takes up to 382 as UTF-8, the form the bag keeps it in
        return (
            f"文件名按 UTF-8 超过 {NAME_MAX} 字节, 存储位置无法保存, 请改短后重新归档 "
            f"(the name is over {NAME_MAX} bytes in UTF-8 and cannot be stored: shorten it)"
        )
    # the longest path a file gives in its bag is its text derivative's (metadata/text is as long as
    # data/original, plus .txt)
    if rooms and len(text_path(name).encode("utf-8", "surrogateescape")) > min(rooms):
        return (
            f"文件路径过长, 超出 S3 存储位置对象键的长度限制 ({min(rooms)} 字节), 请缩短文件夹或文件名 "
            f"(the path is too long for an S3 location's object keys: shorten folder or file names)"
        )
    return None


def write_failure(exc: OSError, location: str, where: Path, name: str | None = None) -> StorageError | ItemUnwritable:
    """What to raise for ``exc``, met writing ``where`` in ``location`` (``name``: the item's file, if one)."""
    failure = os_failure(location, "write", where, exc)
    if exc.errno in LOCATION_WIDE:
        return failure
    message = (
        f"文件无法写入存储位置, 请改名后重新归档 (cannot be written to the location: rename it): {failure.message}"
    )
    return ItemUnwritable(fail("GD-4-7", message, name))
