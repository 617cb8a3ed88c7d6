"""存储位置 (storage location): the narrow interface every backend implements.

An AIP is addressed by a key ``<全宗号>/<档号>``. A location must make an AIP
visible atomically: :meth:`Location.list_keys` never shows a partial one.

Beside each AIP a location keeps *records*: small append-only files (PREMIS events
of audits and repairs, a destruction tombstone) that are never rewritten and never
part of the AIP's own bag, so the bag stays exactly as ingested.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

COPY_CHUNK = 1 << 20


def aip_key(fonds_code: str, archival_code: str) -> str:
    """The storage key of an item's AIP."""
    return f"{fonds_code}/{archival_code}"


class ObjectLock(StrEnum):
    """What a location can promise about write-once retention (对象锁定 / WORM)."""

    enforced = "enforced"  # the server refuses deletion before the retention date
    unsupported = "unsupported"  # the server has no Object Lock, or the bucket was made without it
    not_applicable = "not_applicable"  # a plain directory: protection is the operator's business


class Location(ABC):
    """One place that holds AIPs: a local directory or an S3 bucket."""

    name: str

    @abstractmethod
    def describe(self) -> str:
        """One line for people: name, type and where."""

    @abstractmethod
    def prepare(self) -> None:
        """Create the location's directory or bucket (``dangan init``); harmless when it exists."""

    # --- whole AIPs -------------------------------------------------------------------

    @abstractmethod
    def staging(self) -> AbstractContextManager[Path]:
        """A private, empty local working directory for building one AIP; removed on exit."""

    @abstractmethod
    def commit(self, key: str, staged: Path, retain_until: date | None = None) -> None:
        """Make the bag in ``staged`` visible as ``key``, all at once.

        ``retain_until`` asks for Object Lock retention until that day where the
        location enforces it; other locations ignore it.

        Raises:
            AIPExistsError: an AIP with that key is already there.
            StorageError: the write failed; nothing under ``key`` is visible.
        """

    def commit_from(self, key: str, source: Location, source_key: str, retain_until: date | None = None) -> None:
        """Copy a committed AIP from another location, as one atomic commit here.

        Locations that can stream straight from the source override this; the
        default builds the copy in local staging first.
        """
        with self.staging() as work:
            for relpath, _size in source.list_files(source_key):
                target = work.joinpath(*relpath.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                with source.open(source_key, relpath) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, COPY_CHUNK)
            self.commit(key, work, retain_until)

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a whole AIP is visible under ``key``."""

    @abstractmethod
    def list_keys(self) -> Iterator[str]:
        """Every whole AIP in the location, in key order."""

    @abstractmethod
    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        """The files of a committed AIP as they are now: bag-relative POSIX path and size."""

    @abstractmethod
    def open(self, key: str, relpath: str) -> BinaryIO:
        """A streaming reader over one file of an AIP.

        Raises:
            StorageError: the file is missing or the location cannot be read.
        """

    def read(self, key: str, relpath: str) -> bytes:
        """A whole (small) file of an AIP."""
        with self.open(key, relpath) as f:
            return f.read()

    @abstractmethod
    def recover(self) -> list[str]:
        """Clean up what crashed writers left behind; return what was removed."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a committed AIP's content (销毁); its records stay.

        Raises:
            LockedError: a version is under Object Lock retention; nothing was removed.
        """

    # --- repair of one file in a committed AIP -----------------------------------------

    @abstractmethod
    def replace_file(self, key: str, relpath: str, source: BinaryIO) -> None:
        """Put a good copy of one file of a committed AIP in place, atomically (修复)."""

    @abstractmethod
    def remove_file(self, key: str, relpath: str) -> None:
        """Take away a file that does not belong to a committed AIP (修复: extra file)."""

    # --- append-only records beside the AIP ---------------------------------------------

    @abstractmethod
    def append_record(self, key: str, name: str, data: bytes) -> None:
        """Store a new record for ``key`` durably; an existing record is never overwritten.

        Raises:
            RecordExistsError: a record with that name exists.
        """

    @abstractmethod
    def list_records(self, key: str) -> Iterator[str]:
        """Names of the records kept for ``key``, in name order."""

    @abstractmethod
    def read_record(self, key: str, name: str) -> bytes:
        """One record's bytes."""

    @abstractmethod
    def record_keys(self) -> Iterator[str]:
        """Every key that has records (a destroyed AIP keeps its records)."""

    # --- write-once retention ----------------------------------------------------------

    def object_lock(self) -> ObjectLock:
        """Whether this location enforces Object Lock retention."""
        return ObjectLock.not_applicable
