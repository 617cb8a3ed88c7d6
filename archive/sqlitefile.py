"""SQLite files the archive keeps as caches (the catalogue, the search index): telling damage from other
errors, and setting a damaged file aside for a person to look at before a new one is built."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from archive.errors import StorageError
from archive.i18n import _

SIDE_FILES = ("", "-wal", "-shm", "-journal")  # the file and SQLite's files beside it


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is damaged or is no database (not: locked, full, read-only)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python 3.11+ always sets it
        return "not a database" in str(exc) or "malformed" in str(exc)
    return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def set_aside(path: Path) -> Path:
    """Move ``path`` and its side files to ``<name>.damaged-<UTC time>[-n]``; return the new name.

    Raises OSError when they cannot be moved.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while any(Path(f"{target}{s}").exists() for s in SIDE_FILES):
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in SIDE_FILES:
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    return target


#: SQLite's result codes for a file it cannot write: disk or quota full, I/O error, read-only, cannot open
_WRITE_FAILURES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN)


def write_failure(exc: sqlite3.Error, what: str, path: Path) -> StorageError | None:
    """The StorageError for an SQLite file that could not be written (a full disk, an I/O error), naming
    ``what`` it is; None for any other error (damage, a bug)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _WRITE_FAILURES:
        return None
    return StorageError(
        _("{what}无法写入, 请检查磁盘空间与权限后重新运行: {reason}").format(what=_(what), reason=exc),
        path=str(path),
    )
