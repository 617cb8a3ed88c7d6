"""The catalogue's SQLite file: opening it, one write transaction at a time, and every statement
run with SQLite's errors turned into the archive's own (no caller ever sees ``sqlite3``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from archive.errors import CatalogueDamagedError, StorageError
from archive.i18n import _
from archive.sqlitefile import is_damage, set_aside, write_failure

from .schema import SCHEMA

WHAT = "目录数据库"  # how messages name the catalogue file


class Connection:
    """One SQLite connection to the catalogue file of an archive home."""

    def __init__(self, path: Path, *, create: bool = True, replace_damaged: bool = False):
        """Open (or with ``create`` make) the catalogue at ``path``.

        The catalogue is a cache of the store: a missing one (``create=False``) or a damaged
        one raises :class:`StorageError` saying to run ``dangan reindex``, which opens it with
        ``replace_damaged``: a damaged file is then moved aside and a new one started.
        """
        self.path = path
        if not create and not path.exists():
            raise StorageError(
                _("目录数据库不存在, 请运行 dangan reindex 从存储重建"),
                path=str(path),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect(path, check=replace_damaged)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise StorageError(_("目录数据库无法打开: {reason}").format(reason=exc), path=str(path)) from exc
            if not replace_damaged:
                raise CatalogueDamagedError(_damaged(exc), path=str(path)) from exc
            set_aside(path)
            self._conn = self._connect(path, check=False)

    @staticmethod
    def _connect(path: Path, *, check: bool) -> sqlite3.Connection:
        """A connection with the schema in place; ``check`` also reads every page (a rebuild's cost, not a query's)."""
        conn = sqlite3.connect(path, timeout=120, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
            if check and conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
                damage = sqlite3.DatabaseError("quick_check found damage")
                damage.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # type: ignore[attr-defined]
                raise damage
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self._conn.close()

    @property
    def in_transaction(self) -> bool:
        """Whether a write transaction is open (after a failed write: whether anything was left half-done)."""
        return self._conn.in_transaction

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction, taken at once so allocation is serialised across processes.

        A full disk or an I/O error on the catalogue file is a :class:`StorageError` naming it (the
        transaction is rolled back: nothing is half-written).
        """
        with self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL)
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and fetch all it returns, SQLite's errors turned into the archive's."""
        with self._errors():
            return self._conn.execute(sql, args).fetchall()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as the archive's: a file that cannot be written (full disk, I/O error) and
        a damaged file (found after opening: the catalogue is a cache, reindex rebuilds it); any
        other error is a bug and stays as it is."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            failure = self._failure(exc)
            if failure is None:
                raise
            raise failure from exc

    def _failure(self, exc: sqlite3.DatabaseError) -> StorageError | None:
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        failure = write_failure(exc, WHAT, self.path)
        if failure is not None:
            return failure
        if is_damage(exc):
            return CatalogueDamagedError(_damaged(exc))
        return None


def _damaged(exc: Exception) -> str:
    return _("目录数据库已损坏, 请运行 dangan reindex 从存储重建: {reason}").format(reason=exc)
