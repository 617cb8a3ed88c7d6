"""嵌入式全文检索 (the embedded search backend): SQLite FTS5 over character bigrams made in Python.

Tokens. Measured with ``bench/search.py --compare`` on 10,000 generated community records
(4.4 M characters; 2-character queries include 低保, 档案, 楼组 and three personal names):

================  =======  =======  =============  =========  ========
candidate         build s  size MB  2-char recall  4+ recall  query ms
================  =======  =======  =============  =========  ========
bigram (chosen)       4.0     13.3         100.0 %    100.0 %      1.2
unigram phrase        2.5     11.8         100.0 %    100.0 %      4.2
FTS5 trigram          3.0     18.6           0.0 %    100.0 %      0.7
jieba for search     65.5      9.3          85.5 %    100.0 %      3.9
LIKE scan                                  100.0 %    100.0 %     68
================  =======  =======  =============  =========  ========

The ``trigram`` tokenizer cannot answer a two-character query from its index (only a LIKE
scan can); jieba misses words it segments differently (person names such as 刘洋, 楼组 in
楼组长) and is 16 times slower to build; unigram phrases are complete but read the long
position lists of common characters, 3.5 times slower per query. Overlapping bigrams, plus
each CJK run's last character alone so one-character queries work as prefix queries, are
complete for every query (:func:`search.text.index_tokens`, :func:`search.text.query_tokens`).

Storage. The tokens go into a *contentless* FTS5 table with the ``ascii`` tokenizer (it only
splits on the spaces we put between tokens); the original texts, for snippets, are in an
ordinary table, and a deletion replays the tokens (:data:`TOKENIZER_VERSION` guards that).
Each row id carries the item's class (全宗, 年度, 门类, 保管期限) in its high bits, so the
count groups row ids by class without reading a table per match, and the facets and the
total are summed in Python from those per-class counts (:mod:`search.fts_sql`).

Ranking. Items matching in the title or the metadata come first, ranked by ``bm25()`` over a
second, small FTS5 table of those two fields (weights 10 and 5); items matching in the body
only follow, ranked by ``bm25()`` over all three (10, 5, 1), and only when a page reaches
them. When nothing matches in the title or metadata, the body band ranks the plain
expression instead of excluding the first band with ``NOT``, which would double the phrases
bm25 reads.

The first band's table keeps no lengths (``columnsize=0``), so its bm25 is BM25 without
length normalisation: a title or 责任者 that says the word twice, or says it in both fields,
ranks higher, and equals follow in row id order. Titles are short and alike in length, so
their lengths mostly reordered equals, and reading them was most of the cost: bm25 costs
about 1.1 µs per ranked row, and about 1 µs of that is FTS5 reading the row's length from
``%_docsize`` through a statement of its own. Without it a word in half the titles (工作:
49,000 rows in the first band) ranks in 7 ms instead of 38. Bodies differ in length by a
thousand times, and the body band keeps its lengths.

Where the time goes (``bench/search.py`` at 100,000 generated items, issue #4). FTS5 has no
top-k pruning, so ``ORDER BY … LIMIT`` ranks every row of a band. Counting per class costs
about 0.2 µs per match, most of it the sort behind ``GROUP BY``. The slowest query left is a
phrase in a third of the bodies (入户调查: 33,800 rows in the body band, 60–70 ms), where
two-character words, broad words, filtered queries and 档号 prefixes stay under 40 ms at
p95. Measured and left out: lengths from a side table joined on row id (the join costs what
the lookup saved), ``mmap_size``, counting through ``group_concat`` or ``json_group_array``
in Python, and one materialised pass for counts and ranking.

Two cores. bm25 takes its statistics (row count, average length, each phrase's row count)
from the whole table whatever rows a statement visits, so a band ranked in two row id halves
gives each row the score it has in the whole, and merging the halves' first rows by (score,
row id) gives the page one statement would. A search therefore counts on one helper
connection while this thread and a second helper rank the halves. On the 2-vCPU build
machine that took a quarter to a third off the wall time of the slowest queries (工作 and
入户调查 before the first band lost its lengths, interleaved runs: median 74 → 57 ms and
74 → 55 ms) for about half again as much CPU: threads running SQLite at once contend inside
it. Helper processes did better (median 48 and 51 ms) but cost a process start in every
``dangan search``, and were left out.

Damage. The index is a cache, so a file SQLite reports as not a database or as malformed is
moved aside (``search.sqlite.damaged-<time>``, with its ``-wal`` and ``-shm``) and an empty
index started in its place, whether that shows when the file is opened or in a later read or
write (which then runs again on the new index): the callers' repair (``sync`` at ingest,
``dangan reindex``) fills it again. :attr:`FtsIndex.damaged_copy` says where the old file went;
nothing is printed or logged here.

Generations. An index generation is five tables (``classes_N``, ``docs_N``, ``text_N``, ``fts_N``,
``head_N``) named in ``meta``; :meth:`FtsIndex.rebuild` fills generation N+1 while readers go on
using N, then switches the name and drops N in one transaction. One rebuild at a time: a
second rebuild drops the first one's unfinished tables, and writes made to the old generation
during a rebuild are not carried over (the caller compares :meth:`FtsIndex.codes` afterwards).
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from archive.errors import UsageError
from archive.sqlitefile import is_damage, set_aside
from search.base import FACETS, Hit, Query, SearchDoc, SearchIndex, SearchResult
from search.errors import SearchBackendError, SearchConfigError, SearchQueryError, SearchTimeoutError
from search.fts_sql import ALL_ROWS, Statement, Tier, classes, plan, row_id
from search.query import ParsedQuery, code_key, parse_query
from search.snippet import make_snippet, match_pattern
from search.synonyms import Synonyms, load_synonyms
from search.text import fold, fold_stamp, index_tokens

SCHEMA_VERSION = "3"  # bump when the tables change: an older index must be rebuilt
# Bump when index_tokens() changes: contentless deletes need the same tokens (a change of
# fold() moves search.text.FOLD_VERSION, also in the stamp). 2: line breaks between CJK
# characters no longer end a run.
TOKENIZER_VERSION = "bigram-2"
BATCH = 2000  # documents per write transaction
PROGRESS_OPS = 20_000  # SQLite VM steps between time-limit checks: about a millisecond
SNAPSHOT_TRIES = 100  # attempts to open the read connections on one revision while writers commit
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-65536")
T = TypeVar("T")


def tokenizer_stamp() -> str:
    """What produced the tokens: stored in the index so a change of rules is noticed."""
    return f"{TOKENIZER_VERSION}; {fold_stamp()}"


class _DamagedIndex(SearchBackendError):
    """The index file is not a database, or SQLite found it malformed: set aside and started anew."""


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_fts5() -> None:
    """Probe this Python's SQLite for FTS5 (and report the version when it is missing)."""
    try:
        con = sqlite3.connect(":memory:")
        con.execute("CREATE VIRTUAL TABLE probe USING fts5(a, content='', tokenize='ascii')")
        con.close()
    except sqlite3.Error as exc:
        raise SearchConfigError(
            f"此 Python 的 SQLite {sqlite3.sqlite_version} 不支持 FTS5, 无法建立检索索引 "
            f"(SQLite {sqlite3.sqlite_version} in this Python lacks FTS5; use the elasticsearch backend)"
        ) from exc


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
                f"检索索引文件已损坏, 且无法移开: {exc}; 请删除该文件后运行 dangan reindex "
                f"(the search index file is damaged and could not be moved aside; delete it, then reindex)",
                path=str(self.path),
            ) from None
        self.damaged_copy = target

    # -- schema and generations -------------------------------------------------------------

    def _init_schema(self, con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT OR IGNORE INTO meta VALUES ('revision', '0')")
        if self._meta(con, "generation") is None:
            self._create_generation(con, 1)
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("generation", "1"), ("schema", SCHEMA_VERSION), ("tokenizer", tokenizer_stamp())],
            )

    @staticmethod
    def _meta(con: sqlite3.Connection, key: str) -> str | None:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _create_generation(con: sqlite3.Connection, g: int) -> None:
        con.execute(
            f"CREATE TABLE classes_{g} (id INTEGER PRIMARY KEY, fonds TEXT NOT NULL, year INTEGER NOT NULL, "
            "category TEXT NOT NULL, retention TEXT NOT NULL, UNIQUE (fonds, year, category, retention))"
        )
        con.execute(
            f"CREATE TABLE docs_{g} (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, code_key TEXT NOT NULL, "
            "date TEXT NOT NULL)"
        )
        con.execute(f"CREATE INDEX docs_{g}_key ON docs_{g} (code_key)")
        con.execute(
            f"CREATE TABLE text_{g} (id INTEGER PRIMARY KEY, title TEXT NOT NULL, meta TEXT NOT NULL, "
            "body TEXT NOT NULL)"
        )
        con.execute(f"CREATE VIRTUAL TABLE fts_{g} USING fts5(title, meta, body, content='', tokenize='ascii')")
        # Title and metadata again, alone: the first ranking band reads these short lists, not the bodies'.
        con.execute(
            f"CREATE VIRTUAL TABLE head_{g} USING fts5(title, meta, content='', columnsize=0, tokenize='ascii')"
        )

    @staticmethod
    def _drop_generation(con: sqlite3.Connection, g: int) -> None:
        for table in (f"fts_{g}", f"head_{g}", f"text_{g}", f"docs_{g}", f"classes_{g}"):
            con.execute(f"DROP TABLE IF EXISTS {table}")

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
            raise SearchBackendError("检索索引未打开 (the search index is not open)", path=str(self.path))
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
                for _ in range(SNAPSHOT_TRIES):
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
                        "检索索引一直在写入, 无法取得一致的读取视图, 请稍后再试 "
                        "(the index kept changing while the search started; try again)",
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
                raise _DamagedIndex(
                    f"检索索引文件已损坏: {exc} (the search index file is damaged)", path=str(self.path)
                ) from None
            if opening:
                raise SearchBackendError(
                    f"无法打开检索索引: {exc} (cannot open the search index)", path=str(self.path)
                ) from None
            if not isinstance(exc, sqlite3.OperationalError):
                raise SearchBackendError(
                    f"检索索引损坏或无法使用: {exc} (the search index is damaged; rebuild it)", path=str(self.path)
                ) from None
            if "interrupted" in str(exc):
                raise SearchTimeoutError(
                    f"检索超过 {self.time_limit:g} 秒未完成, 请缩小范围 (加筛选条件或更长的检索词) "
                    f"(the query ran past {self.time_limit:g} s: add a filter or a longer term)"
                ) from None
            raise SearchBackendError(
                f"检索索引读写失败: {exc} (the search index failed; rebuilding it may help)", path=str(self.path)
            ) from None

    def _check_schema(self, con: sqlite3.Connection) -> None:
        schema = self._meta(con, "schema")
        if schema != SCHEMA_VERSION:
            raise SearchBackendError(_old_layout(schema), path=str(self.path))

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
            return _old_layout(schema)
        return _other_tokens(stamp) if stamp != tokenizer_stamp() else None

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, docs: Iterable[SearchDoc]) -> int:
        written = 0
        for batch in _batches(docs, BATCH):
            self._mending(lambda batch=batch: self._upsert_batch(batch))
            written += len(batch)
        return written

    def _upsert_batch(self, batch: list[SearchDoc]) -> None:
        with self._write() as con:
            self._check_tokenizer(con)
            self._put_batch(con, self._generation(con), batch)

    def delete(self, archival_codes: Iterable[str]) -> int:
        removed = 0
        for batch in _batches(archival_codes, BATCH):
            removed += self._mending(lambda batch=batch: self._delete_batch(batch))
        return removed

    def _delete_batch(self, batch: list[str]) -> int:
        with self._write() as con:
            self._check_tokenizer(con)
            g = self._generation(con)
            return sum(self._remove(con, g, code) for code in batch)

    def _put_batch(self, con: sqlite3.Connection, g: int, batch: list[SearchDoc]) -> None:
        # Sequence numbers never repeat, across generations too: a row id is never reused.
        sequence = int(self._meta(con, "sequence") or 0)
        classes: dict[tuple[str, int, str, str], int] = {}
        for doc in batch:
            _check_doc(doc)
            self._remove(con, g, doc.archival_code)
            sequence += 1
            doc_id = row_id(self._class_id(con, g, doc, classes), sequence)
            con.execute(
                f"INSERT INTO docs_{g} (id, code, code_key, date) VALUES (?, ?, ?, ?)",
                (doc_id, doc.archival_code, code_key(doc.archival_code), doc.date),
            )
            con.execute(f"INSERT INTO text_{g} VALUES (?, ?, ?, ?)", (doc_id, doc.title, doc.metadata_text, doc.body))
            title, meta, body = _tokens(doc.archival_code, doc.title, doc.metadata_text, doc.body)
            con.execute(
                f"INSERT INTO fts_{g} (rowid, title, meta, body) VALUES (?, ?, ?, ?)", (doc_id, title, meta, body)
            )
            con.execute(f"INSERT INTO head_{g} (rowid, title, meta) VALUES (?, ?, ?)", (doc_id, title, meta))
        con.execute("INSERT OR REPLACE INTO meta VALUES ('sequence', ?)", (str(sequence),))

    @staticmethod
    def _class_id(con: sqlite3.Connection, g: int, doc: SearchDoc, cache: dict[tuple[str, int, str, str], int]) -> int:
        key = (doc.fonds_code, doc.year, doc.category, doc.retention)
        if key not in cache:
            con.execute(
                f"INSERT OR IGNORE INTO classes_{g} (fonds, year, category, retention) VALUES (?, ?, ?, ?)", key
            )
            cache[key] = con.execute(
                f"SELECT id FROM classes_{g} WHERE fonds = ? AND year = ? AND category = ? AND retention = ?", key
            ).fetchone()[0]
        return cache[key]

    def _remove(self, con: sqlite3.Connection, g: int, code: str) -> int:
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

    def rebuild(self, docs: Iterable[SearchDoc]) -> int:
        new = self._mending(self._start_generation)
        written = 0
        try:
            for batch in _batches(docs, BATCH):
                with self._write() as con:
                    self._put_batch(con, new, batch)
                written += len(batch)
            with self._write() as con:
                con.execute(f"INSERT INTO fts_{new} (fts_{new}) VALUES ('optimize')")
                con.execute(f"INSERT INTO head_{new} (head_{new}) VALUES ('optimize')")
            with self._write() as con:
                old = self._generation(con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(new),))
                con.execute("INSERT OR REPLACE INTO meta VALUES ('tokenizer', ?)", (tokenizer_stamp(),))
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                self._drop_generation(con, old)
        except _DamagedIndex:
            # The documents are partly read and cannot be read again here: the empty index
            # started in place of the damaged one is filled by the next sync or reindex.
            with self._lock:
                self._set_aside()
                self._open()
            raise SearchBackendError(
                f"重建时发现检索索引文件已损坏, 已移开 ({self.damaged_copy or '另一进程已移开'}) 并新建空索引; "
                "请再运行 dangan reindex (the index file proved damaged during the rebuild: it was moved aside "
                "and an empty index started; run the rebuild again)",
                path=str(self.path),
            ) from None
        except BaseException:
            with self._write() as con:
                self._drop_generation(con, new)
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
                    f"检索索引文件已损坏: {'; '.join(found[:3])} (the search index file is damaged)",
                    path=str(self.path),
                )
            current = self._generation(con)
            for leftover in self._other_generations(con, current):
                self._drop_generation(con, leftover)
            new = current + 1
            self._create_generation(con, new)
        return new

    @staticmethod
    def _other_generations(con: sqlite3.Connection, current: int) -> set[int]:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'docs\\_%' ESCAPE '\\'"
            )
        ]
        return {int(n.split("_")[1]) for n in names if n.split("_")[1].isdigit()} - {current}

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
            raise SearchQueryError(
                "请输入检索词, 或至少选择一个筛选条件 (全宗、年度、门类、保管期限、日期) "
                "(type a query, or choose at least one filter to list records)"
            )
        return self._mending(lambda: self._search(query, parsed))

    def _search(self, query: Query, parsed: ParsedQuery) -> SearchResult:
        with self._read(helpers=True) as cons:
            con, helpers = cons[0], cons[1:]
            self._check_schema(con)
            g = self._generation(con)
            every, fonds = self._class_table(con, g)
            if fonds <= query.visible_fonds and not _filters_classes(query):
                allowed = every  # the common case, all of the home's fonds visible: no per-class test
            else:
                allowed = {r[0]: every[r[0]] for r in con.execute(*_args(classes(g, query)))}
            statements = plan(g, query, parsed, class_filtered=len(allowed) < len(every))
            if helpers:  # only with a pool: _read gives helpers then alone
                assert self._pool is not None
                # The count on one helper while this thread and the other helper rank the page.
                counting = self._pool.submit(_fetch, helpers[0], statements.counts)
                try:
                    rows = _Pager(con, self._pool, helpers[1], self._middle_row(con, g)).page(
                        statements.tiers, query.limit, query.offset
                    )
                finally:
                    wait([counting])  # the helper's transaction ends only after its statement
                facets, total = _facets(counting.result(), allowed)
            else:
                facets, total = _facets(con.execute(*_args(statements.counts)), allowed)
                rows = _Pager(con).page(statements.tiers, query.limit, query.offset) if total else []
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


class _Pager:
    """One page across the ranked tiers of a search, each tier's rows ranked in two halves at
    once when a helper connection is given (bm25 takes its statistics from the whole table,
    so the halves' scores are those of the whole, and merging by (score, row id) gives the
    order a single statement would)."""

    def __init__(
        self,
        con: sqlite3.Connection,
        pool: ThreadPoolExecutor | None = None,
        helper: sqlite3.Connection | None = None,
        middle: int = 0,
    ) -> None:
        self.con, self.pool, self.helper, self.middle = con, pool, helper, middle

    def page(self, tiers: tuple[Tier, ...], limit: int, offset: int) -> list[tuple[int, float]]:
        """A later tier is read only when the page reaches into it."""
        rows: list[tuple[int, float]] = []
        earlier = False  # whether an earlier tier matched anything
        for n, tier in enumerate(tiers):
            if len(rows) >= limit:
                break
            if offset and tier.count is not None and n < len(tiers) - 1:
                size = self.con.execute(*_args(tier.count)).fetchone()[0]
                earlier = earlier or size > 0
                if offset >= size:
                    offset -= size
                    continue
            page = tier.page if earlier or tier.alone is None else tier.alone
            found = self._rows(page, tier.split, limit - len(rows), offset)
            earlier = earlier or bool(found)
            rows += found
            offset = 0
        return rows

    def _rows(self, page: Statement, split: bool, limit: int, offset: int) -> list[tuple[int, float]]:
        if not split:
            return _fetch(self.con, page, (limit, offset))
        if self.pool is None or self.helper is None or self.middle <= ALL_ROWS[0]:
            return _fetch(self.con, page, (*ALL_ROWS, limit, offset))
        want = limit + offset  # each half's first rows, enough for the merged page
        upper = self.pool.submit(_fetch, self.helper, page, (self.middle, ALL_ROWS[1], want, 0))
        try:
            lower = _fetch(self.con, page, (ALL_ROWS[0], self.middle - 1, want, 0))
        finally:
            wait([upper])
        merged = heapq.merge(lower, upper.result(), key=lambda row: (row[1], row[0]))
        return list(merged)[offset:want]


def _old_layout(schema: str | None) -> str:
    return (
        f"检索索引是旧版结构 ({schema}), 请重建索引 (dangan reindex) "
        f"(the index has an older layout, {schema}; rebuild it)"
    )


def _other_tokens(stamp: str | None) -> str:
    return (
        f"检索索引由另一版本的分词规则建立 ({stamp}), 请先重建索引 "
        f"(the index was built with other token rules, {stamp}; rebuild it before writing)"
    )


def _args(statement: Statement) -> tuple[str, tuple[Any, ...]]:
    return statement.sql, statement.params


def _fetch(con: sqlite3.Connection, statement: Statement, extra: tuple[Any, ...] = ()) -> list[Any]:
    return con.execute(statement.sql, (*statement.params, *extra)).fetchall()


def _filters_classes(query: Query) -> bool:
    """Whether the query narrows the classes (全宗, 年度, 门类, 保管期限) beyond ``visible_fonds``."""
    return any(
        v not in (None, "") for v in (query.fonds, query.year_from, query.year_to, query.category, query.retention)
    )


def _facets(
    counts: Iterable[tuple[int, int]], allowed: dict[int, tuple[Any, ...]]
) -> tuple[dict[str, dict[Any, int]], int]:
    """Facet counts and the total from the per-class counts; a class not in ``allowed`` counts nowhere."""
    sums: tuple[dict[Any, int], ...] = tuple({} for _ in FACETS)
    total = 0
    for class_id, n in counts:
        keys = allowed.get(class_id)
        if keys is None:
            continue
        total += n
        for counted, key in zip(sums, keys, strict=True):
            counted[key] = counted.get(key, 0) + n
    return {name: dict(sorted(c.items())) for name, c in zip(FACETS, sums, strict=True)}, total


def _tokens(code: str, title: str, meta: str, body: str) -> tuple[str, str, str]:
    # The 档号 goes into the metadata column too, so its parts (J012, WS, 2024) are words.
    return index_tokens(fold(title)), index_tokens(fold(f"{code} {meta}")), index_tokens(fold(body))


def _check_doc(doc: SearchDoc) -> None:
    if not doc.archival_code or not doc.fonds_code:
        raise UsageError(
            f"检索文档缺少档号或全宗号: {doc.archival_code!r} "
            "(a search document needs an archival code and a fonds code)"
        )


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
