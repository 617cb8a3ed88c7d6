"""The FTS5 index file's layout: its versions, the tables of one generation, and the probe for FTS5.

An index generation is five tables named by its number; :class:`search.fts.FtsIndex` names the
current one in its ``meta`` table and fills the next one on a rebuild.
"""

from __future__ import annotations

import sqlite3

from archive.i18n import _
from search.errors import SearchConfigError
from search.text import fold_stamp

SCHEMA_VERSION = "3"  # bump when the tables change: an older index must be rebuilt
# Bump when index_tokens() changes: contentless deletes need the same tokens (a change of
# fold() moves search.text.FOLD_VERSION, also in the stamp). 2: line breaks between CJK
# characters no longer end a run.
TOKENIZER_VERSION = "bigram-2"


def tokenizer_stamp() -> str:
    """What produced the tokens: stored in the index so a change of rules is noticed."""
    return f"{TOKENIZER_VERSION}; {fold_stamp()}"


def read_meta(con: sqlite3.Connection, key: str) -> str | None:
    """One value of the ``meta`` table (generation, revision, schema, tokenizer, sequence)."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def check_fts5() -> None:
    """Probe this Python's SQLite for FTS5 (and report the version when it is missing)."""
    try:
        con = sqlite3.connect(":memory:")
        con.execute("CREATE VIRTUAL TABLE probe USING fts5(a, content='', tokenize='ascii')")
        con.close()
    except sqlite3.Error as exc:
        raise SearchConfigError(
            _("此 Python 的 SQLite {version} 不支持 FTS5, 无法建立检索索引; 请改用 elasticsearch 后端").format(
                version=sqlite3.sqlite_version
            )
        ) from exc


def create_generation(con: sqlite3.Connection, g: int) -> None:
    """Create generation ``g``'s five tables (``classes_g``, ``docs_g``, ``text_g``, ``fts_g``, ``head_g``)."""
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
        f"CREATE TABLE text_{g} (id INTEGER PRIMARY KEY, title TEXT NOT NULL, meta TEXT NOT NULL, body TEXT NOT NULL)"
    )
    con.execute(f"CREATE VIRTUAL TABLE fts_{g} USING fts5(title, meta, body, content='', tokenize='ascii')")
    # Title and metadata again, alone: the first ranking band reads these short lists, not the bodies'.
    con.execute(f"CREATE VIRTUAL TABLE head_{g} USING fts5(title, meta, content='', columnsize=0, tokenize='ascii')")


def drop_generation(con: sqlite3.Connection, g: int) -> None:
    """Drop generation ``g``'s tables, those that exist."""
    for table in (f"fts_{g}", f"head_{g}", f"text_{g}", f"docs_{g}", f"classes_{g}"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def other_generations(con: sqlite3.Connection, current: int) -> set[int]:
    """Generations with tables in the file besides ``current`` (a crashed rebuild's)."""
    names = [
        r[0]
        for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'docs\\_%' ESCAPE '\\'")
    ]
    return {int(n.split("_")[1]) for n in names if n.split("_")[1].isdigit()} - {current}


def old_layout(schema: str | None) -> str:
    """The message for an index whose tables are of another layout."""
    return _("检索索引是旧版结构 ({schema}), 请重建索引 (dangan reindex)").format(schema=schema)


def other_tokens(stamp: str | None) -> str:
    """The message for an index whose tokens were made by other rules."""
    return _("检索索引由另一版本的分词规则建立 ({stamp}), 请先重建索引").format(stamp=stamp)
