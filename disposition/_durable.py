"""Making a folder just written durable before a rename publishes it (prepare and receive)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path


def sync_folder(folder: Path) -> None:
    """Make every file written under ``folder`` durable, before a rename publishes it.

    One ``syncfs(2)`` of the file system rather than an ``fsync`` per file: each fsync forces
    a journal commit of its own (about 3.5 ms on the benchmark's disk), which for the 13,000
    files of a 1,000-件 package cost more than the copying. Where syncfs is missing or fails,
    every file and folder is fsync'ed, and an error there raises.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS is not None and _SYNCFS(fd) == 0:
            return
    finally:
        os.close(fd)
    for dirpath, _dirs, names in os.walk(folder):
        for name in [*names, "."]:
            handle = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)


def _syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs  # Linux (glibc, musl)
    except (OSError, AttributeError):
        return None


_SYNCFS = _syncfs()
