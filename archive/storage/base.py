"""存储位置 (storage location): the narrow interface every backend implements.

An AIP is addressed by a key ``<全宗号>/<档号>``. A location must make an AIP
visible atomically: :meth:`Location.list_keys` never shows a partial one.

Beside each AIP a location keeps *records*: small append-only files (PREMIS events
of audits and repairs, a destruction tombstone) that are never rewritten and never
part of the AIP's own bag, so the bag stays exactly as ingested.
"""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from archive.errors import StorageError
from archive.i18n import _

COPY_CHUNK = 1 << 20


def action_name(action: str) -> str:
    """What a location could not do, for :func:`os_failure`: the action as passed, in the person's language
    (looked up when said, not at import, so the language is the one in force then)."""
    return {
        "read": _("读取"),
        "write": _("写入"),
        "commit": _("提交"),
        "delete": _("删除"),
        "list": _("列出"),
        "lock": _("锁定"),
        "create": _("创建"),
    }[action]


def os_failure(location: str, action: str, where: object, exc: OSError) -> StorageError:
    """An OSError met in a location as the archive's :class:`StorageError`.

    Callers handle StorageError as they handle a location that is down (a copy
    "incomplete", a repair "failed", the rest of the batch going on), so a full disk,
    a refused write or an I/O error never ends a run with a traceback. The message
    names the location, what it could not do, the path and the system's own reason.
    """
    return StorageError(
        _("存储位置 {location} 无法{action}: {path}: {reason}").format(
            location=location, action=action_name(action), path=where, reason=_reason(exc)
        )
    )


def _reason(exc: OSError) -> str:
    """The system's words for an OSError, with the errno's name: "Permission denied [EACCES]"."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    return f"{text} [{name}]" if name else text


def copy_stream(src: BinaryIO, dst: BinaryIO, source: str) -> None:
    """Copy ``src`` into ``dst`` block by block.

    A read failure is the source's and becomes a StorageError naming ``source``; a
    write failure stays an OSError, for the caller to name its own location.
    """
    while True:
        try:
            block = src.read(COPY_CHUNK)
        except OSError as exc:
            raise StorageError(
                _("无法读取来源: {source}: {reason}").format(source=source, reason=_reason(exc))
            ) from exc
        if not block:
            return
        dst.write(block)


def stage_stream(location: str, work: Path, parts: list[str], src: BinaryIO, source: str) -> Path:
    """Write one stream as a new file at ``parts`` inside the staging folder ``work``; return its path.

    A read failure is the source's (see :func:`copy_stream`); a write failure is ``location``'s,
    as a StorageError naming the file.
    """
    target = work.joinpath(*parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as dst:
            copy_stream(src, dst, source)
    except OSError as exc:
        raise os_failure(location, "write", target, exc) from exc
    return target


def bag_parts(relpath: str, key: str) -> list[str]:
    """The parts of a bag-relative path, refused when one could leave the bag."""
    parts = relpath.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(_("路径越出 AIP: {path}").format(path=relpath), path=key)
    return parts


def aip_key(fonds_code: str, archival_code: str) -> str:
    """The storage key of an item's AIP."""
    return f"{fonds_code}/{archival_code}"


class ObjectLock(StrEnum):
    """What a location can promise about write-once retention (对象锁定 / WORM)."""

    enforced = "enforced"  # the server refuses deletion before the retention date
    unsupported = "unsupported"  # the server has no Object Lock, or the bucket was made without it
    not_applicable = "not_applicable"  # a plain directory: protection is the operator's business


class CopyReader:
    """One copy of an AIP opened for a check: whether it is there, its files, and each file's bytes.

    A check lists a copy once and then reads every file of it, so a location can keep
    what it learnt from one call for the next (a local one keeps its open folders).
    This default asks the location afresh each time. Once its files are listed, several
    threads may open files of it at once; close it when the check is done.
    """

    def __init__(self, location: Location, key: str):
        self.location, self.key = location, key

    def present(self) -> bool:
        """Whether a whole AIP is there (:meth:`Location.exists`)."""
        return self.location.exists(self.key)

    def files(self) -> list[tuple[str, int]]:
        """Its files as they are now (:meth:`Location.list_files`), in path order."""
        return sorted(self.location.list_files(self.key))

    def open(self, relpath: str) -> BinaryIO:
        """A reader over one file (:meth:`Location.open`)."""
        return self.location.open(self.key, relpath)

    def close(self) -> None:
        """Let go of what the reader holds."""

    def __enter__(self) -> CopyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Location(ABC):
    """One place that holds AIPs: a local directory or an S3 bucket."""

    name: str

    @classmethod
    @abstractmethod
    def from_options(cls, name: str, options: dict[str, Any], *, home: Path | None = None) -> Location:
        """Build the location a ``[[storage]]`` entry of this type describes (``home``: the archive home).

        Raises:
            ConfigError: an option is unknown, missing or wrong.
        """

    @classmethod
    @abstractmethod
    def spec_options(cls, where: str, spec: str) -> dict[str, Any]:
        """The ``[[storage]]`` options of ``--storage NAME=WHERE`` (``where`` without the type's prefix).

        Raises:
            UsageError: ``where`` is not a place of this type (``spec`` is the whole argument, for the message).
        """

    @abstractmethod
    def describe(self) -> str:
        """One line for people: name, type and where."""

    def bag_path_room(self) -> int | None:
        """The most UTF-8 bytes a bag-relative path may take in this location (None: no limit beyond
        each component's, see :mod:`archive.names`)."""
        return None

    @abstractmethod
    def prepare(self) -> None:
        """Create the location's directory or bucket (``dangan init``); harmless when it exists."""

    def limit_waits(self, seconds: float) -> None:
        """Let no single request wait much longer than ``seconds`` for an answer (a bounded run's budget).

        Only a location behind a network has anything to narrow; a local one ignores this.
        """
        return None

    # --- whole AIPs -------------------------------------------------------------------

    @abstractmethod
    def staging(self) -> AbstractContextManager[Path]:
        """A private, empty local working directory for building one AIP; removed on exit.

        Raises:
            StorageError: the directory could not be made (what the caller does inside is its own).
        """

    @abstractmethod
    def commit(self, key: str, staged: Path, retain_until: date | None = None) -> None:
        """Make the bag in ``staged`` visible as ``key``, all at once.

        What stands under ``key`` without being a whole AIP (a folder without its
        ``bagit.txt``, a leftover, a link) is put out of sight and replaced; a whole
        AIP never is. ``retain_until`` asks for Object Lock retention until that day
        where the location enforces it; other locations ignore it.

        Raises:
            AIPExistsError: a whole AIP with that key is already there.
            StorageError: the write failed; nothing new under ``key`` is visible.
        """

    def commit_from(self, key: str, source: Location, source_key: str, retain_until: date | None = None) -> None:
        """Copy a committed AIP from another location, as one atomic commit here.

        Locations that can stream straight from the source override this; the
        default builds the copy in local staging first.

        Raises:
            AIPExistsError: a whole AIP with that key is already here.
            StorageError: the source could not be read or this location not written.
        """
        with self.staging() as work:
            for relpath, _size in source.list_files(source_key):
                with source.open(source_key, relpath) as src:
                    label = f"{source.name}:{source_key}/{relpath}"
                    stage_stream(self.name, work, bag_parts(relpath, source_key), src, label)
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

    def reader(self, key: str) -> CopyReader:
        """The copy under ``key`` opened for a check (see :class:`CopyReader`)."""
        return CopyReader(self, key)

    def inventory(self, keys: Collection[str]) -> Iterator[tuple[str, list[tuple[str, int]]]] | None:
        """The files of many committed AIPs, listed in one pass; None where one AIP at a time is as cheap.

        A location that answers a listing request for a thousand objects as fast as for one
        (S3) offers this: a check of most of its copies then needs no request per copy to
        list it. It yields (key, files in path order) for those of ``keys`` that are
        committed, in key order, as the listing goes. What it says is as of the listing:
        a caller that finds a copy damaged should look at that copy afresh.
        """
        return None

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
        """Take away a file that does not belong to a committed AIP (修复: extra file); one already gone is no error.

        Raises:
            StorageError: no AIP is committed under ``key``, or the file could not be removed.
        """

    # --- append-only records beside the AIP ---------------------------------------------

    @abstractmethod
    def append_record(self, key: str, name: str, data: bytes) -> None:
        """Store a new record for ``key`` durably; an existing record is never overwritten.

        Raises:
            RecordExistsError: a record with that name exists.
        """

    def append_records(self, records: Sequence[tuple[str, str, bytes]]) -> list[StorageError | None]:
        """Store several new records, each (key, name, data) as :meth:`append_record` would.

        Returns, per record, None when it is stored durably, or what went wrong with it. A
        location that can make a batch durable together (one flush, not one per record)
        overrides this; the default stores them one by one.
        """
        errors: list[StorageError | None] = []
        for key, name, data in records:
            try:
                self.append_record(key, name, data)
                errors.append(None)
            except StorageError as exc:
                errors.append(exc)
        return errors

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

    #: the Object Lock mode of what this location locks (S3: GOVERNANCE or COMPLIANCE); None: no locks
    lock_mode: str | None = None

    def object_lock(self) -> ObjectLock:
        """Whether this location enforces Object Lock retention."""
        return ObjectLock.not_applicable
