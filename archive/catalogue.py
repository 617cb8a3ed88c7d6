"""目录数据库 (catalogue): an SQLite cache of what the AIPs in storage say.

Everything here can be rebuilt from the AIPs alone (:func:`archive.aipread.read_aip`
feeds :meth:`Catalogue.index`). Writes go through one connection inside
``BEGIN IMMEDIATE``: that is where 件号 are allocated, so two ingest processes on one
home never take the same number and never leave a gap.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.errors import StorageError
from archive.model import FileEntry, Item, ItemMetadata
from archive.premis import Event
from archive.sqlitefile import is_damage, set_aside, write_failure

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    archival_code TEXT PRIMARY KEY,
    aip_key TEXT NOT NULL UNIQUE,
    fonds_code TEXT NOT NULL,
    fonds_name TEXT NOT NULL,
    category TEXT NOT NULL,
    year INTEGER NOT NULL,
    retention TEXT NOT NULL,
    org_code TEXT NOT NULL DEFAULT '',
    item_number INTEGER NOT NULL,
    title TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    doc_number TEXT NOT NULL DEFAULT '',
    classification TEXT NOT NULL DEFAULT '',
    page_count INTEGER,
    carrier TEXT NOT NULL DEFAULT '',
    remarks TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'archived',
    content_digest TEXT NOT NULL,
    payload_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    UNIQUE (fonds_code, category, year, retention, org_code, item_number)
);
CREATE INDEX IF NOT EXISTS items_digest ON items (content_digest);
CREATE INDEX IF NOT EXISTS items_class ON items (fonds_code, year, category, retention);
CREATE TABLE IF NOT EXISTS files (
    archival_code TEXT NOT NULL REFERENCES items (archival_code),
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER,
    sha256 TEXT NOT NULL,
    sm3 TEXT NOT NULL,
    puid TEXT,
    format_name TEXT,
    pages INTEGER,
    PRIMARY KEY (archival_code, path)
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    archival_code TEXT NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome_detail TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_item ON events (archival_code, time);
CREATE TABLE IF NOT EXISTS copies (
    archival_code TEXT NOT NULL,
    location TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    sm3_verified_at TEXT NOT NULL,
    PRIMARY KEY (archival_code, location)
);
CREATE INDEX IF NOT EXISTS copies_due ON copies (verified_at);
"""

ITEM_COLUMNS = (
    "archival_code", "fonds_code", "fonds_name", "category", "year", "retention", "org_code", "item_number",
    "title", "author", "date", "doc_number", "classification", "page_count", "carrier", "remarks",
)  # fmt: skip


@dataclass
class IndexedAIP:
    """What the catalogue keeps of one AIP, as read from storage."""

    key: str
    item: Item
    tag_files: dict[str, dict[str, Any]]  # tag path -> {"size", "sha256", "sm3"}
    events: list[Event]
    ingested_at: str
    status: str = "archived"
    copies: dict[str, Copy] = field(default_factory=dict)  # location name -> what is known of that copy


@dataclass
class Copy:
    """副本: one location's copy of an AIP and when it was last proven intact."""

    location: str
    stored_at: str
    verified_at: str
    sm3_verified_at: str

    @classmethod
    def fresh(cls, location: str, when: str) -> Copy:
        """A primary copy just written, its payload read back with SHA-256 only (SM3 not yet re-read)."""
        return cls(location, when, when, "")


@dataclass(frozen=True)
class ListFilter:
    """Filters of ``dangan list``: 全宗, 年度, 门类, 保管期限."""

    fonds: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    category: str | None = None
    retention: str | None = None


class Catalogue:
    """目录数据库: one SQLite file in the archive home."""

    def __init__(self, path: Path, *, create: bool = True, replace_damaged: bool = False):
        """Open (or with ``create`` make) the catalogue at ``path``.

        The catalogue is a cache of the store: a missing one (``create=False``) or a damaged
        one raises :class:`StorageError` saying to run ``dangan reindex``, which opens it with
        ``replace_damaged``: a damaged file is then moved aside and a new one started.
        """
        self.path = path
        if not create and not path.exists():
            raise StorageError(
                "目录数据库不存在, 请运行 dangan reindex 从存储重建 (the catalogue is missing: run dangan reindex)",
                path=str(path),
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._connect(path, check=replace_damaged)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise StorageError(f"目录数据库无法打开 (catalogue cannot be opened): {exc}", path=str(path)) from exc
            if not replace_damaged:
                raise StorageError(
                    f"目录数据库已损坏, 请运行 dangan reindex 从存储重建 (damaged: run dangan reindex): {exc}",
                    path=str(path),
                ) from exc
            set_aside(path)
            self.conn = self._connect(path, check=False)

    @staticmethod
    def _connect(path: Path, *, check: bool) -> sqlite3.Connection:
        """A connection with the schema in place; ``check`` also reads every page (a rebuild's cost, not a query's)."""
        conn = sqlite3.connect(path, timeout=120, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
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
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so allocation is serialised across processes.

        A full disk or an I/O error on the catalogue file is a :class:`StorageError` naming it (the
        transaction is rolled back: nothing is half-written).
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL)
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            failure = write_failure(exc, "目录数据库", self.path)
            if failure is None:
                raise
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise failure from exc

    # --- allocation and indexing -------------------------------------------------

    def next_item_number(self, meta: ItemMetadata) -> int:
        """The next 件号 in the item's lowest class (call inside :meth:`write`)."""
        row = self.conn.execute(
            "SELECT COALESCE(MAX(item_number), 0) FROM items WHERE fonds_code=? AND category=? AND year=?"
            " AND retention=? AND org_code=?",
            meta.class_key(),
        ).fetchone()
        return int(row[0]) + 1

    def allocate_and_commit(self, meta: ItemMetadata, commit: Callable[[int], IndexedAIP | None]) -> IndexedAIP:
        """Take the next 件号 and run ``commit(number)`` inside one write transaction.

        ``commit`` writes the AIP to storage and returns what to index, or returns
        None when that number's AIP already exists in storage (a crash left it there
        unindexed); then it must have indexed it itself and the next number is tried.
        """
        with self.write():
            number = self.next_item_number(meta)
            while (done := commit(number)) is None:
                number += 1
            self._insert(done)
            return done

    def index(self, aip: IndexedAIP) -> None:
        """Insert or replace one AIP's rows (reindex, reconcile)."""
        with self.write():
            self._insert(aip)

    def index_in_transaction(self, aip: IndexedAIP) -> None:
        """As :meth:`index`, for a caller already inside :meth:`write`."""
        self._insert(aip)

    def _insert(self, aip: IndexedAIP) -> None:
        m, item = aip.item.metadata, aip.item
        code = m.archival_code
        self._delete_item(code)
        values = [getattr(m, c) for c in ITEM_COLUMNS]
        self.conn.execute(
            f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}, aip_key, status, content_digest, payload_bytes,"
            f" file_count, ingested_at) VALUES ({', '.join('?' * (len(ITEM_COLUMNS) + 6))})",
            [*values, aip.key, aip.status, item.content_digest(), item.payload_bytes, len(item.files), aip.ingested_at],
        )
        for f in item.files:
            self.conn.execute(
                "INSERT INTO files VALUES (?, ?, 'payload', ?, ?, ?, ?, ?, ?)",
                (code, f"data/original/{f.name}", f.size, f.sha256, f.sm3, f.puid, f.format_name, f.pages),
            )
        for path, d in sorted(aip.tag_files.items()):
            self.conn.execute(
                "INSERT INTO files VALUES (?, ?, 'tag', ?, ?, ?, NULL, NULL, NULL)",
                (code, path, d.get("size"), d["sha256"], d["sm3"]),
            )
        for ev in aip.events:
            self.add_event(code, ev)
        for c in aip.copies.values():
            self.set_copy(code, c)

    def _delete_item(self, code: str | None) -> None:
        for table in ("files", "events", "copies", "items"):
            self.conn.execute(f"DELETE FROM {table} WHERE archival_code=?", (code,))

    def add_event(self, archival_code: str, ev: Event) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ev.id, archival_code, ev.type, ev.time, ev.outcome, ev.detail, ev.outcome_detail, ev.agent, ev.location),
        )

    def set_status(self, archival_code: str, status: str) -> None:
        """在档 archived / 已移交 transferred / 已销毁 destroyed (call inside :meth:`write` or alone)."""
        self.conn.execute("UPDATE items SET status=? WHERE archival_code=?", (status, archival_code))

    def set_copy(self, archival_code: str, c: Copy) -> None:
        """Record that a location holds a verified copy (call inside :meth:`write` or alone)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO copies VALUES (?, ?, ?, ?, ?)",
            (archival_code, c.location, c.stored_at, c.verified_at, c.sm3_verified_at),
        )

    def drop_copy(self, archival_code: str, location: str) -> None:
        self.conn.execute("DELETE FROM copies WHERE archival_code=? AND location=?", (archival_code, location))

    def copies(self, archival_code: str) -> dict[str, Copy]:
        rows = self.conn.execute("SELECT * FROM copies WHERE archival_code=?", (archival_code,))
        return {
            r["location"]: Copy(*(r[k] for k in ("location", "stored_at", "verified_at", "sm3_verified_at")))
            for r in rows
        }

    def replace_all(self, aips: Iterable[IndexedAIP]) -> int:
        """Replace the whole catalogue with these AIPs, in one transaction (reindex)."""
        count = 0
        with self.write():
            for table in ("files", "events", "copies", "items"):
                self.conn.execute(f"DELETE FROM {table}")
            for aip in aips:
                self._insert(aip)
                count += 1
        return count

    # --- queries -----------------------------------------------------------------

    def keys(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT aip_key FROM items")}

    def find_duplicate(self, content_digest: str) -> str | None:
        """The 档号 of an archived item with exactly this content, if any."""
        row = self.conn.execute(
            "SELECT archival_code FROM items WHERE content_digest=? AND status='archived' LIMIT 1", (content_digest,)
        ).fetchone()
        return row[0] if row else None

    def items_with_file(self, sha256: str) -> list[str]:
        """档号 of archived items that already hold a payload file with this digest."""
        rows = self.conn.execute(
            "SELECT DISTINCT f.archival_code FROM files f JOIN items i USING (archival_code)"
            " WHERE f.sha256=? AND f.kind='payload' AND i.status='archived'",
            (sha256,),
        )
        return [r[0] for r in rows]

    def get(self, archival_code: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM items WHERE archival_code=?", (archival_code,)).fetchone()

    def files(self, archival_code: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM files WHERE archival_code=? ORDER BY kind, path", (archival_code,)
        ).fetchall()

    def events(self, archival_code: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM events WHERE archival_code=? ORDER BY time, type, id", (archival_code,)
        ).fetchall()

    def list(self, flt: ListFilter = ListFilter()) -> list[sqlite3.Row]:
        where, args = ["1=1"], []
        for column, value in (("fonds_code", flt.fonds), ("category", flt.category), ("retention", flt.retention)):
            if value:
                where.append(f"{column}=?")
                args.append(value)
        if flt.year_from is not None:
            where.append("year>=?")
            args.append(flt.year_from)
        if flt.year_to is not None:
            where.append("year<=?")
            args.append(flt.year_to)
        order = "fonds_code, year, category, retention, org_code, item_number"
        sql = f"SELECT * FROM items WHERE {' AND '.join(where)} ORDER BY {order}"
        return self.conn.execute(sql, args).fetchall()

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, ordered: to compare a rebuilt catalogue with the old one."""
        order = {
            "items": "archival_code",
            "files": "archival_code, path",
            "events": "id",
            "copies": "archival_code, location",
        }
        return {t: [tuple(r) for r in self.conn.execute(f"SELECT * FROM {t} ORDER BY {o}")] for t, o in order.items()}


def row_to_metadata(row: sqlite3.Row) -> ItemMetadata:
    """The ItemMetadata a catalogue row describes."""
    return ItemMetadata(**{c: row[c] for c in ITEM_COLUMNS})


def row_to_file(row: sqlite3.Row) -> FileEntry:
    return FileEntry(
        name=row["path"].removeprefix("data/original/"), size=row["size"], sha256=row["sha256"], sm3=row["sm3"],
        puid=row["puid"], format_name=row["format_name"], pages=row["pages"],
    )  # fmt: skip
