"""Writing documents into one generation of the FTS5 index: rows, tokens and contentless deletes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import TypeVar

from archive.errors import UsageError
from archive.i18n import _
from search.base import SearchDoc
from search.fts_schema import read_meta
from search.fts_sql import row_id
from search.query import code_key
from search.text import fold, index_tokens

T = TypeVar("T")


def put_batch(con: sqlite3.Connection, g: int, batch: list[SearchDoc]) -> None:
    """Write documents into generation ``g``, each replacing the document of its 档号."""
    # Sequence numbers never repeat, across generations too: a row id is never reused.
    sequence = int(read_meta(con, "sequence") or 0)
    classes: dict[tuple[str, int, str, str], int] = {}
    for doc in batch:
        _check_doc(doc)
        remove(con, g, doc.archival_code)
        sequence += 1
        doc_id = row_id(_class_id(con, g, doc, classes), sequence)
        con.execute(
            f"INSERT INTO docs_{g} (id, code, code_key, date) VALUES (?, ?, ?, ?)",
            (doc_id, doc.archival_code, code_key(doc.archival_code), doc.date),
        )
        con.execute(f"INSERT INTO text_{g} VALUES (?, ?, ?, ?)", (doc_id, doc.title, doc.metadata_text, doc.body))
        title, meta, body = _tokens(doc.archival_code, doc.title, doc.metadata_text, doc.body)
        con.execute(f"INSERT INTO fts_{g} (rowid, title, meta, body) VALUES (?, ?, ?, ?)", (doc_id, title, meta, body))
        con.execute(f"INSERT INTO head_{g} (rowid, title, meta) VALUES (?, ?, ?)", (doc_id, title, meta))
    con.execute("INSERT OR REPLACE INTO meta VALUES ('sequence', ?)", (str(sequence),))


def _class_id(con: sqlite3.Connection, g: int, doc: SearchDoc, cache: dict[tuple[str, int, str, str], int]) -> int:
    key = (doc.fonds_code, doc.year, doc.category, doc.retention)
    if key not in cache:
        con.execute(f"INSERT OR IGNORE INTO classes_{g} (fonds, year, category, retention) VALUES (?, ?, ?, ?)", key)
        cache[key] = con.execute(
            f"SELECT id FROM classes_{g} WHERE fonds = ? AND year = ? AND category = ? AND retention = ?", key
        ).fetchone()[0]
    return cache[key]


def remove(con: sqlite3.Connection, g: int, code: str) -> int:
    """Remove the document of one 档号 from generation ``g``; 1 when there was one, else 0."""
    row = con.execute(
        f"SELECT d.id, d.code, t.title, t.meta, t.body FROM docs_{g} d JOIN text_{g} t USING (id) WHERE code = ?",
        (code,),
    ).fetchone()
    if not row:
        return 0
    doc_id, code, title, meta, body = row
    # A contentless table forgets a row only when given the very tokens it was indexed with.
    title, meta, body = _tokens(code, title, meta, body)
    con.execute(
        f"INSERT INTO fts_{g} (fts_{g}, rowid, title, meta, body) VALUES ('delete', ?, ?, ?, ?)",
        (doc_id, title, meta, body),
    )
    con.execute(
        f"INSERT INTO head_{g} (head_{g}, rowid, title, meta) VALUES ('delete', ?, ?, ?)", (doc_id, title, meta)
    )
    con.execute(f"DELETE FROM text_{g} WHERE id = ?", (doc_id,))
    con.execute(f"DELETE FROM docs_{g} WHERE id = ?", (doc_id,))
    return 1


def _tokens(code: str, title: str, meta: str, body: str) -> tuple[str, str, str]:
    # The 档号 goes into the metadata column too, so its parts (J012, WS, 2024) are words.
    return index_tokens(fold(title)), index_tokens(fold(f"{code} {meta}")), index_tokens(fold(body))


def _check_doc(doc: SearchDoc) -> None:
    if not doc.archival_code or not doc.fonds_code:
        raise UsageError(_("检索文档缺少档号或全宗号: {code}").format(code=repr(doc.archival_code)))


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter): one write transaction each."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
