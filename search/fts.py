"""嵌入式全文检索 (the embedded search backend): SQLite FTS5 over character bigrams made in Python.

The texts' overlapping bigrams go into a contentless FTS5 table; title and metadata matches rank
first (bm25), body-only matches after, and counts per class give the facets. A damaged file is
set aside and an empty index started; a rebuild fills a new generation of tables while readers
use the old one. Why these choices, with the measurements: ``docs/search-benchmarks.md``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from archive.i18n import _
from archive.sqlitefile import is_damage, set_aside
from search.base import Hit, Query, SearchDoc, SearchIndex, SearchResult
from search.errors import SearchBackendError, SearchQueryError, SearchTimeoutError
from search.fts_page import Pager, facet_counts, fetch_rows, filters_classes, statement_args
from search.fts_schema import (
    SCHEMA_VERSION,
    TOKENIZER_VERSION,
    check_fts5,
    create_generation,
    drop_generation,
    old_layout,
    other_generations,
    other_tokens,
    read_meta,
    tokenizer_stamp,
)
from search.fts_sql import classes, plan
from search.fts_write import batches, put_batch, remove
from search.query import ParsedQuery, parse_query
from search.snippet import make_snippet, match_pattern
from search.synonyms import Synonyms, load_synonyms

__all__ = ["BATCH", "SCHEMA_VERSION", "TOKENIZER_VERSION", "FtsIndex", "check_fts5", "tokenizer_stamp"]

BATCH = 2000  # documents per write transaction
PROGRESS_OPS = 20_000  # SQLite VM steps between time-limit checks: about a millisecond
SNAPSHOT_TRIES = 100  # attempts to open the read connections on one revision while writers commit
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-65536")
T = TypeVar("T")


class _DamagedIndex(SearchBackendError):
    """The index file is not a database, or SQLite found it malformed: set aside and started anew."""


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class FtsIndex(SearchIndex):
    """SQLite FTS5 检索索引 in one file; one writer at a time, any number of readers (WAL).

    ``time_limit`` (seconds) stops a runaway query with :class:`SearchTimeoutError`. A damaged
    file is moved aside and replaced by an empty index; :attr:`damaged_copy` then names it.
    """

    def __init__(
        self, path: str | Path, *, synonyms: Synonyms | None = None, time_limit: float = 5.0, busy_timeout: float = 30.0
    ) -> None:
        check_fts5()
        self.path = Path(path)
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.time_limit = time_limit
        self._lock = threading.RLock()
        self._deadline = 0.0
        self._classes: tuple[tuple[int, int], dict[int, tuple[Any, ...]], frozenset[str]] = ((0, 0), {}, frozenset())
        self._middle: tuple[tuple[int, str | None], int] = ((0, None), 0)
        self._busy_timeout = busy_timeout
        # With a second core, a search counts and ranks the two halves of its rows at once,
        # on connections of its own that read the same revision (see _read).
        self._helpers: list[sqlite3.Connection] = []
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="fts") if (os.cpu_count() or 1) > 1 else None
        self.damaged_copy: Path | None = None
        self._con: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # the file the connections opened: only it is ever set aside
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mending(self._open)

    def _open(self) -> None:
        self._file = _file_id(self.path)  # before connecting: a file SQLite cannot open is set aside too
        with self._errors(opening=True):
            self._con = self._connect()
        self._file = self._file or _file_id(self.path)  # the file SQLite has just made
        with self._write(opening=True) as con:
            self._init_schema(con)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout)
        try:
            for pragma in PRAGMAS:
                con.execute(f"PRAGMA {pragma}")
        except BaseException:
            con.close()
            raise
        con.set_progress_handler(self._past_deadline, PROGRESS_OPS)
        return con

    # -- damage ---------------------------------------------------------------------------------

    def _mending(self, operation: Callable[[], T]) -> T:
        """Run ``operation``; when the file proves damaged, set it aside, start an empty index
        and run it once more there."""
        try:
            return operation()
        except _DamagedIndex:
            with self._lock:
                self._set_aside()
                self._open()
            return operation()

    def _set_aside(self) -> None:
        """Close every connection and move the damaged file (with its WAL and shared memory)
        to ``<name>.damaged-<time>``, unless another process already replaced it."""
        for con in (self._con, *self._helpers):
            if con is not None:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
        self._con, self._helpers = None, []
        self._classes = ((0, 0), {}, frozenset())
        self._middle = ((0, None), 0)
        if self._file is None or _file_id(self.path) != self._file:
            return  # gone, or already replaced: the file at the path is not the damaged one
        try:
            target = set_aside(self.path)
        except OSError as exc:
            raise SearchBackendError(
                _("检索索引文件已损坏, 且无法移开: {reason}; 请删除该文件后运行 dangan reindex").format(reason=exc),
                path=str(self.path),
            ) from None
        self.damaged_copy = target

    # -- schema and generations -------------------------------------------------------------

    def _init_schema(self, con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT OR IGNORE INTO meta VALUES ('revision', '0')")
        if self._meta(con, "generation") is None:
            create_generation(con, 1)
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("generation", "1"), ("schema", SCHEMA_VERSION), ("tokenizer", tokenizer_stamp())],
            )

    _meta = staticmethod(read_meta)

    def _generation(self, con: sqlite3.Connection) -> int:
        return int(self._meta(con, "generation") or 1)

    # -- transactions and errors -------------------------------------------------------------

    def _past_deadline(self) -> int:
        return 1 if self._deadline and time.monotonic() > self._deadline else 0

    @contextmanager
    def _write(self, opening: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors(opening):
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                # Every write moves the revision on: it is how helper connections prove they read
                # the same state as the main one.
                con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'")
            except BaseException:
                if con.in_transaction:
                    try:
                        con.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error that stopped the transaction is the one to report
                raise
            con.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:  # only after a failed _set_aside or close
            raise SearchBackendError(_("检索索引未打开"), path=str(self.path))
        return self._con

    @contextmanager
    def _read(self, helpers: bool = False) -> Iterator[list[sqlite3.Connection]]:
        """One read transaction on the main connection and, with ``helpers``, on the helper
        connections too, all on the same revision: every statement of a search sees one state.

        A WAL reader's snapshot is taken by its first read, so each connection reads the
        revision first; when a writer committed in between, all start again.
        """
        with self._lock, self._errors():
            helpers = helpers and self._pool is not None
            if helpers and not self._helpers:
                self._helpers = [self._connect(), self._connect()]
            cons = [self._connection(), *(self._helpers if helpers else [])]
            self._deadline = time.monotonic() + self.time_limit if self.time_limit else 0.0
            try:
                for _try in range(SNAPSHOT_TRIES):
                    revisions = set()
                    for con in cons:
                        con.execute("BEGIN")
                        revisions.add(self._meta(con, "revision"))
                    if len(revisions) == 1:
                        break
                    for con in cons:
                        con.execute("COMMIT")
                else:
                    raise SearchBackendError(
                        _("检索索引一直在写入, 无法取得一致的读取视图, 请稍后再试"),
                        path=str(self.path),
                    )
                yield cons
            finally:
                self._deadline = 0.0
                for con in cons:
                    if con.in_transaction:
                        con.execute("COMMIT")

    @contextmanager
    def _errors(self, opening: bool = False) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            if is_damage(exc):
                raise _DamagedIndex(_("检索索引文件已损坏: {reason}").format(reason=exc), path=str(self.path)) from None
            if opening:
                raise SearchBackendError(
                    _("无法打开检索索引: {reason}").format(reason=exc), path=str(self.path)
                ) from None
            if not isinstance(exc, sqlite3.OperationalError):
                raise SearchBackendError(
                    _("检索索引损坏或无法使用, 请重建: {reason}").format(reason=exc), path=str(self.path)
                ) from None
            if "interrupted" in str(exc):
                raise SearchTimeoutError(
                    _("检索超过 {seconds} 秒未完成, 请缩小范围 (加筛选条件或更长的检索词)").format(
                        seconds=f"{self.time_limit:g}"
                    )
                ) from None
            raise SearchBackendError(
                _("检索索引读写失败, 重建索引或可解决: {reason}").format(reason=exc), path=str(self.path)
            ) from None

    def _check_schema(self, con: sqlite3.Connection) -> None:
        schema = self._meta(con, "schema")
        if schema != SCHEMA_VERSION:
            raise SearchBackendError(old_layout(schema), path=str(self.path))

    def _check_tokenizer(self, con: sqlite3.Connection) -> None:
        reason = self._outdated(con)
        if reason:
            raise SearchBackendError(reason, path=str(self.path))

    def outdated(self) -> str | None:
        def read() -> str | None:
            with self._read() as (con,):
                return self._outdated(con)

        return self._mending(read)

    def _outdated(self, con: sqlite3.Connection) -> str | None:
        schema, stamp = self._meta(con, "schema"), self._meta(con, "tokenizer")
        if schema != SCHEMA_VERSION:
            return old_layout(schema)
        return other_tokens(stamp) if stamp != tokenizer_stamp() else None

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[SearchDoc]) -> int:
        written = 0
        for batch in batches(docs, BATCH):
            self._mending(lambda batch=batch: self._upsert_batch(batch))
            written += len(batch)
        return written

    def _upsert_batch(self, batch: list[SearchDoc]) -> None:
        with self._write() as con:
            self._check_tokenizer(con)
            put_batch(con, self._generation(con), batch)

    def delete(self, archival_codes: Iterable[str]) -> int:
        removed = 0
        for batch in batches(archival_codes, BATCH):
            removed += self._mending(lambda batch=batch: self._delete_batch(batch))
        return removed

    def _delete_batch(self, batch: list[str]) -> int:
        with self._write() as con:
            self._check_tokenizer(con)
            g = self._generation(con)
            return sum(remove(con, g, code) for code in batch)

    def rebuild(self, docs: Iterable[SearchDoc]) -> int:
        new = self._mending(self._start_generation)
        written = 0
        try:
            for batch in batches(docs, BATCH):
                with self._write() as con:
                    put_batch(con, new, batch)
                written += len(batch)
            with self._write() as con:
                con.execute(f"INSERT INTO fts_{new} (fts_{new}) VALUES ('optimize')")
                con.execute(f"INSERT INTO head_{new} (head_{new}) VALUES ('optimize')")
            with self._write() as con:
                old = self._generation(con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(new),))
                con.execute("INSERT OR REPLACE INTO meta VALUES ('tokenizer', ?)", (tokenizer_stamp(),))
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                drop_generation(con, old)
        except _DamagedIndex:
            # The documents are partly read and cannot be read again here: the empty index
            # started in place of the damaged one is filled by the next sync or reindex.
            with self._lock:
                self._set_aside()
                self._open()
            raise SearchBackendError(
                _("重建时发现检索索引文件已损坏, 已移开 ({where}) 并新建空索引; 请再运行 dangan reindex").format(
                    where=self.damaged_copy or _("另一进程已移开")
                ),
                path=str(self.path),
            ) from None
        except BaseException:
            with self._write() as con:
                drop_generation(con, new)
            raise
        # A rebuild writes the whole index through the WAL; without this the file keeps that
        # size (hundreds of MB at 100,000 items) until some later checkpoint. Busy readers
        # only make it a partial checkpoint.
        with self._lock, self._errors():
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return written

    def _start_generation(self) -> int:
        """Create the next generation's tables, dropping those of a rebuild that crashed part-way.

        The file is checked whole first (``quick_check``, a second or so at 100,000 items, next
        to minutes of rebuilding): damage found once the documents are being read could not
        be mended without reading them again.
        """
        with self._write() as con:
            found = [r[0] for r in con.execute("PRAGMA quick_check")]
            if found != ["ok"]:
                raise _DamagedIndex(
                    _("检索索引文件已损坏: {reason}").format(reason="; ".join(found[:3])),
                    path=str(self.path),
                )
            current = self._generation(con)
            for leftover in other_generations(con, current):
                drop_generation(con, leftover)
            new = current + 1
            create_generation(con, new)
        return new

    # -- reading -------------------------------------------------------------------------------

    def codes(self) -> set[str]:
        def read() -> set[str]:
            with self._read() as (con,):
                g = self._generation(con)
                return {r[0] for r in con.execute(f"SELECT code FROM docs_{g}")}

        return self._mending(read)

    def search(self, query: Query) -> SearchResult:
        parsed = parse_query(query.text, self.synonyms)
        if parsed.is_empty and not query.has_filters:
            raise SearchQueryError(_("请输入检索词, 或至少选择一个筛选条件 (全宗、年度、门类、保管期限、日期)"))
        return self._mending(lambda: self._search(query, parsed))

    def _search(self, query: Query, parsed: ParsedQuery) -> SearchResult:
        with self._read(helpers=True) as cons:
            con, helpers = cons[0], cons[1:]
            self._check_schema(con)
            g = self._generation(con)
            every, fonds = self._class_table(con, g)
            if fonds <= query.visible_fonds and not filters_classes(query):
                allowed = every  # the common case, all of the home's fonds visible: no per-class test
            else:
                allowed = {r[0]: every[r[0]] for r in con.execute(*statement_args(classes(g, query)))}
            statements = plan(g, query, parsed, class_filtered=len(allowed) < len(every))
            if helpers:  # only with a pool: _read gives helpers then alone
                assert self._pool is not None
                # The count on one helper while this thread and the other helper rank the page.
                counting = self._pool.submit(fetch_rows, helpers[0], statements.counts)
                try:
                    rows = Pager(con, self._pool, helpers[1], self._middle_row(con, g)).page(
                        statements.tiers, query.limit, query.offset
                    )
                finally:
                    wait([counting])  # the helper's transaction ends only after its statement
                facets, total = facet_counts(counting.result(), allowed)
            else:
                facets, total = facet_counts(con.execute(*statement_args(statements.counts)), allowed)
                rows = Pager(con).page(statements.tiers, query.limit, query.offset) if total else []
            hits = self._hits(con, g, rows, parsed)
        return SearchResult(total=total, hits=hits, facets=facets)

    def _middle_row(self, con: sqlite3.Connection, g: int) -> int:
        """The median row id of generation ``g``: where a band is cut in two to rank on two cores.

        Recomputed after each write (a few milliseconds at 100,000 items); a stale one would
        only balance the halves less well.
        """
        revision = self._meta(con, "revision")
        if self._middle[0] != (g, revision):
            n = con.execute(f"SELECT count(*) FROM docs_{g}").fetchone()[0]
            row = con.execute(f"SELECT id FROM docs_{g} ORDER BY id LIMIT 1 OFFSET ?", (n // 2,)).fetchone()
            self._middle = ((g, revision), row[0] if row else 0)
        return self._middle[1]

    def _class_table(self, con: sqlite3.Connection, g: int) -> tuple[dict[int, tuple[Any, ...]], frozenset[str]]:
        """Every class of generation ``g`` (id → fonds, year, category, retention) and the fonds among them.

        Kept between searches: a generation only ever adds classes, so its newest id tells
        whether the copy is current.
        """
        newest = con.execute(f"SELECT max(id) FROM classes_{g}").fetchone()[0] or 0
        if self._classes[0] != (g, newest):
            table = {r[0]: r[1:] for r in con.execute(f"SELECT id, fonds, year, category, retention FROM classes_{g}")}
            self._classes = ((g, newest), table, frozenset(c[0] for c in table.values()))
        return self._classes[1], self._classes[2]

    @staticmethod
    def _hits(con: sqlite3.Connection, g: int, rows: list[tuple[int, float]], parsed: ParsedQuery) -> list[Hit]:
        if not rows:
            return []
        ids = [r[0] for r in rows]
        marks = ",".join("?" * len(ids))
        texts = {
            r[0]: r[1:]
            for r in con.execute(
                f"SELECT id, code, title, meta, body FROM docs_{g} JOIN text_{g} USING (id) WHERE id IN ({marks})", ids
            )
        }
        pattern = match_pattern(parsed)
        hits = []
        for doc_id, rank in rows:
            code, title, meta, body = texts[doc_id]
            hits.append(Hit(code, title, make_snippet((body, meta, title), pattern), round(-rank, 6) + 0.0))
        return hits

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown()
            for con in (self._con, *self._helpers):
                if con is not None:
                    con.close()
