"""目录数据库 (catalogue): every statement the archive runs on it, as named methods.

Writes: 件号 allocation with the AIP's commit, indexing an AIP, status, events and copies.
Reads: items, files, events and copies as frozen rows (:mod:`archive.catalogue.rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from archive.model import ItemMetadata
from archive.premis import Event

from .connection import Connection
from .rows import Copy, EventRow, FileRow, IndexedAIP, ItemRow, KeptItem, ListFilter
from .schema import ITEM_COLUMNS

_TABLES = ("files", "events", "copies", "items")  # children first
_ITEMS = f"SELECT {', '.join(ItemRow.columns())} FROM items"
_FILES = f"SELECT {', '.join(FileRow.columns())} FROM files"
_EVENTS = f"SELECT {', '.join(EventRow.columns())} FROM events"
_CLASS = "fonds_code=? AND category=? AND year=? AND retention=? AND org_code=?"  # one 件号 sequence


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


class Catalogue(Connection):
    """目录数据库: one SQLite file in the archive home."""

    # --- 件号 allocation ------------------------------------------------------------

    def allocate_and_commit(self, meta: ItemMetadata, commit: Callable[[int], IndexedAIP | None]) -> IndexedAIP:
        """Take the next 件号 of ``meta``'s class, run ``commit(number)`` and catalogue what it returns.

        The contract, which any catalogue backend must keep:

        * **Gap-free and unique per class.** Numbers run 1, 2, 3, … within the lowest class
          (全宗, 门类, 年度, 保管期限, 机构: :meth:`ItemMetadata.class_key`), with no number
          twice and none skipped, also when several processes ingest into one home at once.
        * **How.** Reading the highest number, ``commit`` and the insert run in one write
          transaction taken at its start (SQLite ``BEGIN IMMEDIATE``: one writer per file, the
          others wait up to 120 s), so no other process can take a number in between.
        * **Commit.** ``commit`` writes the AIP to storage under that number and returns what to
          index. It returns None when storage already holds that number's AIP (a crash left it
          there uncatalogued); then it must have indexed that AIP itself
          (:meth:`index_in_transaction`) and the next number is tried.
        * **A crash between allocation and commit** rolls the transaction back: the number was
          never taken and the next run takes it again. A crash after the AIP reached storage but
          before the catalogue committed leaves that AIP, which the next run's allocation (via
          ``commit`` returning None) or recovery catalogues, so no number is lost or given twice.
        * **Another backend** (PostgreSQL) keeps it by serialising per class: a transaction that
          takes ``pg_advisory_xact_lock`` on a hash of the class key (or ``SELECT … FOR UPDATE``
          on a per-class counter row) before reading the highest number, with the unique
          constraint on (class, 件号) as the last guard.

        Raises:
            StorageError: The catalogue cannot be written (full disk, I/O error), or ``commit``'s
                own storage errors; the transaction is rolled back and no number is taken.
        """
        with self.write():
            number = self._next_free_number(meta)
            while (done := commit(number)) is None:
                number += 1
            self._insert(done)
            return done

    def _next_free_number(self, meta: ItemMetadata) -> int:
        """One past the highest 件号 of the class (inside :meth:`write`, so nobody takes it meanwhile)."""
        ((highest,),) = self._rows(f"SELECT COALESCE(MAX(item_number), 0) FROM items WHERE {_CLASS}", meta.class_key())
        return int(highest) + 1

    def holder_of_number(self, meta: ItemMetadata, other_than: str) -> str | None:
        """The 档号 of another item holding ``meta``'s 件号 in its class, if any (a receiver's clash check)."""
        found = self._rows(
            f"SELECT archival_code FROM items WHERE {_CLASS} AND item_number=? AND archival_code<>? LIMIT 1",
            (*meta.class_key(), meta.item_number, other_than),
        )
        return found[0][0] if found else None

    # --- indexing ------------------------------------------------------------------

    def index(self, aip: IndexedAIP) -> None:
        """Insert or replace one AIP's rows (reindex, reconcile)."""
        with self.write():
            self._insert(aip)

    def index_in_transaction(self, aip: IndexedAIP) -> None:
        """As :meth:`index`, for a caller already inside :meth:`write`."""
        self._insert(aip)

    def replace_all(self, aips: Iterable[IndexedAIP]) -> int:
        """Replace the whole catalogue with these AIPs, in one transaction (reindex)."""
        count = 0
        with self.write():
            for table in _TABLES:
                self._rows(f"DELETE FROM {table}")
            for aip in aips:
                self._insert(aip)
                count += 1
        return count

    def _insert(self, aip: IndexedAIP) -> None:
        m, item = aip.item.metadata, aip.item
        code = m.archival_code
        for table in _TABLES:
            self._rows(f"DELETE FROM {table} WHERE archival_code=?", (code,))
        values = [*(getattr(m, c) for c in ITEM_COLUMNS), aip.key, aip.status, item.content_digest(),
                  item.payload_bytes, len(item.files), aip.ingested_at]  # fmt: skip
        names = (*ITEM_COLUMNS, "aip_key", "status", "content_digest", "payload_bytes", "file_count", "ingested_at")
        self._rows(f"INSERT INTO items ({', '.join(names)}) VALUES ({_marks(values)})", values)
        for f in item.files:
            self._rows(
                "INSERT INTO files VALUES (?, ?, 'payload', ?, ?, ?, ?, ?, ?)",
                (code, f"data/original/{f.name}", f.size, f.sha256, f.sm3, f.puid, f.format_name, f.pages),
            )
        for path, d in sorted(aip.tag_files.items()):
            self._rows(
                "INSERT INTO files VALUES (?, ?, 'tag', ?, ?, ?, NULL, NULL, NULL)",
                (code, path, d.get("size"), d["sha256"], d["sm3"]),
            )
        for ev in aip.events:
            self.add_event(code, ev)
        for c in aip.copies.values():
            self.set_copy(code, c)

    # --- status, events, copies (inside :meth:`write` or alone) ----------------------

    def add_event(self, archival_code: str, ev: Event) -> None:
        """Record one PREMIS event of the item (replacing one with the same id)."""
        self._rows(
            "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ev.id, archival_code, ev.type, ev.time, ev.outcome, ev.detail, ev.outcome_detail, ev.agent, ev.location),
        )

    def set_status(self, archival_code: str, status: str) -> None:
        """在档 archived / 已移交 transferred / 已销毁 destroyed (call inside :meth:`write` or alone)."""
        self._rows("UPDATE items SET status=? WHERE archival_code=?", (status, archival_code))

    def set_copy(self, archival_code: str, c: Copy) -> None:
        """Record that a location holds a verified copy (call inside :meth:`write` or alone)."""
        self._rows(
            "INSERT OR REPLACE INTO copies VALUES (?, ?, ?, ?, ?)",
            (archival_code, c.location, c.stored_at, c.verified_at, c.sm3_verified_at),
        )

    def drop_copy(self, archival_code: str, location: str) -> None:
        """Forget one location's copy of the item."""
        self._rows("DELETE FROM copies WHERE archival_code=? AND location=?", (archival_code, location))

    def drop_copies(self, archival_code: str) -> None:
        """Forget every copy of the item (it was destroyed)."""
        self._rows("DELETE FROM copies WHERE archival_code=?", (archival_code,))

    # --- queries -----------------------------------------------------------------

    def keys(self) -> set[str]:
        """The storage key of every catalogued AIP."""
        return {r[0] for r in self._rows("SELECT aip_key FROM items")}

    def get(self, archival_code: str) -> ItemRow | None:
        """The item with this 档号, or None."""
        found = self._rows(f"{_ITEMS} WHERE archival_code=?", (archival_code,))
        return ItemRow(*found[0]) if found else None

    def files(self, archival_code: str) -> list[FileRow]:
        """The item's files: payload files, then tag files, each by path."""
        rows = self._rows(f"{_FILES} WHERE archival_code=? ORDER BY kind, path", (archival_code,))
        return [FileRow(*r) for r in rows]

    def events(self, archival_code: str) -> list[EventRow]:
        """The item's PREMIS events, oldest first."""
        rows = self._rows(f"{_EVENTS} WHERE archival_code=? ORDER BY time, type, id", (archival_code,))
        return [EventRow(*r) for r in rows]

    def first_events(self, event_type: str) -> list[EventRow]:
        """Each item's first successful event of ``event_type`` (by time, then id), in 档号 order."""
        rows = self._rows(
            f"SELECT {', '.join(EventRow.columns())} FROM ("
            f" SELECT *, ROW_NUMBER() OVER (PARTITION BY archival_code ORDER BY time, id) AS n"
            f" FROM events WHERE type=? AND outcome='success') WHERE n=1 ORDER BY archival_code",
            (event_type,),
        )
        return [EventRow(*r) for r in rows]

    def copies(self, archival_code: str) -> dict[str, Copy]:
        """Location name → what is known of the item's copy there."""
        rows = self._rows(
            "SELECT location, stored_at, verified_at, sm3_verified_at FROM copies WHERE archival_code=?",
            (archival_code,),
        )
        return {r[0]: Copy(*r) for r in rows}

    def list(self, flt: ListFilter | None = None) -> list[ItemRow]:
        """The items a ``dangan list`` filter matches (all without one), in 档号 order."""
        flt = flt or ListFilter()
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
        return [ItemRow(*r) for r in self._rows(f"{_ITEMS} WHERE {' AND '.join(where)} ORDER BY {order}", args)]

    def with_status(self, statuses: Sequence[str]) -> list[ItemRow]:
        """The items in any of these statuses, in the order they were catalogued."""
        rows = self._rows(f"{_ITEMS} WHERE status IN ({_marks(statuses)}) ORDER BY rowid", statuses)
        return [ItemRow(*r) for r in rows]

    def codes_with_status(self, statuses: Sequence[str]) -> set[str]:
        """档号 of the items in any of these statuses."""
        rows = self._rows(f"SELECT archival_code FROM items WHERE status IN ({_marks(statuses)})", statuses)
        return {r[0] for r in rows}

    def any_with_status(self, statuses: Sequence[str]) -> bool:
        """Whether any item is in one of these statuses."""
        return bool(self._rows(f"SELECT 1 FROM items WHERE status IN ({_marks(statuses)}) LIMIT 1", statuses))

    def kept_items(self, statuses: Sequence[str]) -> list[KeptItem]:
        """The items in these statuses with their stored size and the locations holding a copy, by 档号."""
        rows = self._rows(
            "SELECT i.archival_code, i.aip_key, i.retention, i.year, i.category,"
            " (SELECT COALESCE(SUM(size), 0) FROM files f WHERE f.archival_code=i.archival_code),"
            " (SELECT group_concat(location, char(31)) FROM copies c WHERE c.archival_code=i.archival_code)"
            f" FROM items i WHERE i.status IN ({_marks(statuses)}) ORDER BY i.archival_code",
            statuses,
        )
        return [KeptItem(*r[:6], frozenset((r[6] or "").split("\x1f")) - {""}) for r in rows]

    def find_duplicate(self, content_digest: str) -> str | None:
        """The 档号 of an archived item with exactly this content, if any."""
        found = self._rows(
            "SELECT archival_code FROM items WHERE content_digest=? AND status='archived' LIMIT 1", (content_digest,)
        )
        return found[0][0] if found else None

    def items_with_file(self, sha256: str) -> list[str]:
        """档号 of archived items that already hold a payload file with this digest."""
        rows = self._rows(
            "SELECT DISTINCT f.archival_code FROM files f JOIN items i USING (archival_code)"
            " WHERE f.sha256=? AND f.kind='payload' AND i.status='archived'",
            (sha256,),
        )
        return [r[0] for r in rows]

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, ordered: to compare a rebuilt catalogue with the old one."""
        order = {"items": "archival_code", "files": "archival_code, path", "events": "id",
                 "copies": "archival_code, location"}  # fmt: skip
        return {t: self._rows(f"SELECT * FROM {t} ORDER BY {o}") for t, o in order.items()}
