"""SQLite FTS5 后端: what only the embedded index has (fuzzing, time limit, damage, generations)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search import Query, SearchBackendError, SearchDoc, SearchQueryError, SearchTimeoutError
from search.fts import FtsIndex
from search.fts_sql import ALL_ROWS, classes, fts_expression, plan
from search.query import parse_query
from search.synonyms import load_synonyms
from tests.test_search import ALL, CORPUS

FTS_SYNTAX = ['"', "'", "\\", " ", *"* NEAR AND OR NOT ^ : ( ) { } - + 低保 档案".split()]


@pytest.fixture
def fts(tmp_path: Path) -> Iterator[FtsIndex]:
    index = FtsIndex(tmp_path / "search.db")
    index.upsert(CORPUS)
    yield index
    index.close()


_FUZZ_DIR = tempfile.TemporaryDirectory(prefix="dangan-fuzz-")
_FUZZ: dict[str, FtsIndex] = {}


def _fuzz_index() -> FtsIndex:
    # One index for every Hypothesis example (function-scoped fixtures do not reset between examples).
    if "ix" not in _FUZZ:
        _FUZZ["ix"] = FtsIndex(Path(_FUZZ_DIR.name) / "fuzz.db")
        _FUZZ["ix"].upsert(CORPUS)
    return _FUZZ["ix"]


@given(st.one_of(st.text(max_size=400), st.lists(st.sampled_from(FTS_SYNTAX), max_size=40).map("".join)))
@settings(max_examples=300, deadline=None)
@example('"低保" NEAR/2 档案')
@example("低保 OR 1=1; --")
@example("\u0000\ud7ff\U0010ffff")
@example("檔案*")
def test_any_text_gives_results_or_a_search_query_error(text: str) -> None:
    index = _fuzz_index()
    try:
        result = index.search(Query(text, ALL, year_from=2000))
    except SearchQueryError as exc:
        assert exc.message
        return
    assert result.total >= len(result.hits)


def test_match_expression_holds_only_quoted_tokens() -> None:
    parsed = parse_query('title:低保 "NEAR(a" OR * ^档案 梯', load_synonyms())
    expr = fts_expression(parsed)
    assert expr == '("title 低保") AND ("near a") AND ("or") AND ("档案") AND ("梯" *)'
    # Every quote opens or closes a phrase of tokens; FTS5 operators appear only as our own AND/OR.
    outside = "".join(part for n, part in enumerate(expr.split('"')) if n % 2 == 0)
    assert set(outside.replace("AND", "").replace("OR", "")) <= set("() *")


def test_time_limit_stops_a_long_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.fts.PROGRESS_OPS", 50)  # check often: the test index is small
    index = FtsIndex(tmp_path / "slow.db", time_limit=1e-9)
    index.upsert(
        SearchDoc(f"J012-WS·2024-D30-{n:04d}", "J012", 2024, "WS", "D30", "低保" * 50, body="低保户 " * 200)
        for n in range(300)
    )
    with pytest.raises(SearchTimeoutError, match="检索超过"):
        index.search(Query("低保", ALL))
    index.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_index_file_is_set_aside_and_a_new_index_started(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "search.db"
    if damage == "garbage":
        path.write_bytes(b"garbage\n")  # echo garbage > search.sqlite
        Path(f"{path}-wal").write_bytes(b"left from before")
        Path(f"{path}-shm").write_bytes(b"")
    else:
        index = FtsIndex(path)
        index.upsert(
            replace(x, archival_code=f"{x.archival_code}-{n}", body=x.body * 20) for n in range(20) for x in CORPUS
        )
        index.close()
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size // 2)
    index = FtsIndex(path)  # was: SearchBackendError "无法打开检索索引: file is not a database", exit 4
    assert index.damaged_copy is not None and index.damaged_copy.name.startswith("search.db.damaged-")
    assert index.damaged_copy.exists() and index.damaged_copy.parent == tmp_path
    if damage == "garbage":
        assert index.damaged_copy.read_bytes() == b"garbage\n"
        assert Path(f"{path}-wal").read_bytes() != b"left from before"  # the old log is not the new index's
    assert index.outdated() is None and index.codes() == set()  # empty and current: a sync fills it
    assert index.upsert(CORPUS) == len(CORPUS)
    assert index.search(Query("低保", ALL)).total == 5
    index.close()
    again = FtsIndex(path)
    assert again.damaged_copy is None and again.search(Query("低保", ALL)).total == 5
    again.close()


def test_damage_found_after_opening_is_mended_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    index = FtsIndex(path)
    index.upsert(
        replace(x, archival_code=f"{x.archival_code}-{n}", body=x.body * 40) for n in range(30) for x in CORPUS
    )
    index.close()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 :] = b"Z" * (len(data) - len(data) // 2)  # the first pages (the schema) intact
    path.write_bytes(bytes(data))
    index = FtsIndex(path)
    assert index.damaged_copy is None  # nothing wrong shows at opening
    assert index.search(Query("低保", ALL)).total == 0  # the search ran again on the new, empty index
    assert index.damaged_copy is not None and index.damaged_copy.exists()
    assert index.codes() == set()
    index.upsert(CORPUS)
    assert index.search(Query("低保", ALL)).total == 5
    index.close()


def test_a_file_another_handle_already_replaced_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    path.write_bytes(b"garbage\n")
    first = FtsIndex(path)
    second = FtsIndex(path)  # opens the new index the first one started: nothing to set aside
    assert first.damaged_copy is not None and second.damaged_copy is None
    first.upsert(CORPUS)
    assert second.search(Query("低保", ALL)).total == 5
    assert len(list(tmp_path.glob("search.db.damaged-*"))) == 1
    first.close()
    second.close()


def test_index_built_with_other_token_rules_refuses_writes_until_rebuilt(fts: FtsIndex, tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "search.db")
    con.execute("UPDATE meta SET value = 'bigram-0; opencc 0' WHERE key = 'tokenizer'")
    con.commit()
    con.close()
    with pytest.raises(SearchBackendError, match="请先重建索引"):
        fts.upsert(CORPUS[:1])
    assert fts.search(Query("低保", ALL)).total == 5  # reading still works
    fts.rebuild(CORPUS)
    assert fts.upsert(CORPUS[:1]) == 1


def test_failed_rebuild_keeps_the_old_index(fts: FtsIndex) -> None:
    def broken() -> Iterator[SearchDoc]:
        yield from CORPUS[:3]
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError):
        fts.rebuild(broken())
    assert fts.codes() == {x.archival_code for x in CORPUS}
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'docs_%'"
    tables = {r[0] for r in fts._con.execute(sql)}
    assert tables == {"docs_1"}  # the half-built generation was dropped


def test_delete_then_reinsert_keeps_counts_exact(fts: FtsIndex) -> None:
    before = fts.search(Query("低保", ALL)).total
    doc = CORPUS[0]
    for _ in range(3):
        fts.delete([doc.archival_code])
        fts.upsert([doc])
    assert fts.search(Query("低保", ALL)).total == before
    assert fts._con.execute("INSERT INTO fts_1 (fts_1, rank) VALUES ('integrity-check', 0)") is not None


def test_moving_an_item_to_another_class_updates_facets(fts: FtsIndex) -> None:
    old = CORPUS[0]
    moved = replace(old, year=2020, retention="Y")
    fts.upsert([moved])
    facets = fts.search(Query("低保户", ALL)).facets
    assert facets["year"] == {2020: 1} and facets["retention"] == {"Y": 1}


def test_every_statement_is_bounded_by_visible_fonds() -> None:
    parsed = parse_query("低保 J012-WS", load_synonyms())
    query = Query("低保 J012-WS", frozenset({"J012"}), date_from="20200101")
    for class_filtered in (True, False):
        statements = plan(3, query, parsed, class_filtered)
        ranked = [s for t in statements.tiers for s in (t.page, t.alone, t.count) if s is not None]
        # Reading every class is allowed only when every class is visible: the sum keeps to classes().
        bounded = [statements.counts, *ranked] if class_filtered else []
        for statement in (classes(3, query), *bounded):
            assert "classes_3 WHERE fonds IN (?)" in statement.sql
            assert "J012" in statement.params
        for statement in (statements.counts, *ranked):
            assert "d.date >= ?" in statement.sql and "d.code_key >= ?" in statement.sql


def test_a_class_added_by_another_handle_reaches_the_facets(fts: FtsIndex, tmp_path: Path) -> None:
    before = fts.search(Query("低保", ALL, limit=50))  # the reader now holds the classes it has seen
    writer = FtsIndex(tmp_path / "search.db")
    writer.upsert([SearchDoc("J014-KU·2019-D10-0001", "J014", 2019, "KU", "D10", "低保资金凭证")])
    writer.close()
    after = fts.search(Query("低保", ALL, limit=50))
    assert after.total == before.total + 1
    assert after.facets["year"][2019] == 1 and after.facets["category"]["KU"] == 1
    assert "J014-KU·2019-D10-0001" in {h.archival_code for h in after.hits}
    only = fts.search(Query("低保", frozenset({"J012", "J013"}), limit=50))
    assert 2019 not in only.facets["year"] and only.total == after.total - 2  # J014 holds two now


def test_body_only_matches_rank_alike_with_or_without_the_title_band_test(fts: FtsIndex) -> None:
    # 停车管理 is in bodies only, so band 1 is empty and the plain expression ranks band 2.
    query = Query("停车管理", ALL, limit=50)
    statements = plan(1, query, parse_query(query.text, load_synonyms()), class_filtered=False)
    body = statements.tiers[1]
    assert body.alone is not None
    rows = [fts._con.execute(s.sql, (*s.params, *ALL_ROWS, 50, 0)).fetchall() for s in (body.page, body.alone)]
    assert len(rows[0]) == 15 and rows[0] == rows[1]
    hits = fts.search(query).hits
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.archival_code for h in hits] == [
        fts._con.execute("SELECT code FROM docs_1 WHERE id = ?", (r[0],)).fetchone()[0] for r in rows[0]
    ]


SPLIT_QUERIES = [
    Query("低保", ALL, limit=5),
    Query("低保", ALL, limit=5, offset=3),
    Query("档案", ALL, limit=4, offset=9),  # a page running from the title band into the body band
    Query("停车管理", ALL, limit=7, offset=2),
    Query("社区 工作", ALL, limit=50),
    Query("低保", frozenset({"J012"}), year_from=2020, limit=3),
    Query("", ALL, category="WS", limit=6, offset=4),
    Query("低保", ALL, date_from="20200101", limit=3, offset=1),  # joined to docs: not split
    Query("J012-WS", ALL, limit=4),
]


def _answers(index: FtsIndex) -> list[tuple[object, ...]]:
    out = []
    for q in SPLIT_QUERIES:
        r = index.search(q)
        out.append((r.total, r.facets, [(h.archival_code, h.score) for h in r.hits]))
    return out


def test_two_core_search_answers_as_one_core_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    two = FtsIndex(tmp_path / "search.db")
    two.upsert(CORPUS)
    assert two._pool is not None, "this test needs the two-core path (os.cpu_count() > 1)"
    monkeypatch.setattr("search.fts.os.cpu_count", lambda: 1)
    one = FtsIndex(tmp_path / "search.db")
    assert one._pool is None
    answers = _answers(two)
    with two._read() as (con,):
        middle = two._middle_row(con, 1)
        ids = [r[0] for r in con.execute("SELECT id FROM docs_1")]
    assert min(ids) < middle <= max(ids)  # the halves both hold rows: the merge is exercised
    assert answers == _answers(one)
    assert any(hits for _, _, hits in answers)
    one.close()
    two.close()


def test_helper_connections_read_the_revision_the_main_one_reads(
    fts: FtsIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer commits after the main connection has taken its snapshot and before the helpers
    # take theirs: the search starts again on the newer revision, so count and page agree.
    writer = FtsIndex(tmp_path / "search.db")
    real_meta = FtsIndex._meta
    reads: list[str | None] = []

    def meta(con: sqlite3.Connection, key: str) -> str | None:
        value = real_meta(con, key)
        if key == "revision":
            reads.append(value)
            if len(reads) == 1:
                writer.upsert([SearchDoc("J012-WS·2024-D30-0999", "J012", 2024, "WS", "D30", "新增的停车管理通知")])
        return value

    monkeypatch.setattr(FtsIndex, "_meta", staticmethod(meta))
    before = real_meta(fts._con, "revision")
    result = fts.search(Query("停车管理", ALL, limit=100))
    after = real_meta(fts._con, "revision")
    # The first try read the old revision on the main connection and the new one on both helpers,
    # so all three began again, on the new one.
    assert after != before and reads[:6] == [before, after, after, after, after, after]
    assert result.total == len(result.hits)
    assert "J012-WS·2024-D30-0999" in [h.archival_code for h in result.hits]
    writer.close()


def test_a_rebuild_leaves_no_large_write_ahead_log(tmp_path: Path) -> None:
    index = FtsIndex(tmp_path / "search.db")
    docs = [replace(doc, archival_code=f"{doc.archival_code}-{n}") for n in range(20) for doc in CORPUS]
    assert index.rebuild(docs) == len(docs)
    assert (tmp_path / "search.db-wal").stat().st_size == 0
    assert index.search(Query("低保", ALL)).total > 0
    index.close()


def test_damage_found_while_rebuilding_leaves_an_empty_index_and_says_to_rebuild_again(
    fts: FtsIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_: object) -> None:
        exc = sqlite3.DatabaseError("database disk image is malformed")
        exc.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # as SQLite reports a page it cannot read
        raise exc

    monkeypatch.setattr("search.fts.put_batch", failing)  # the rebuild writes through it
    with pytest.raises(SearchBackendError, match="再运行 dangan reindex"):
        fts.rebuild(CORPUS)
    monkeypatch.undo()
    assert fts.damaged_copy is not None and fts.damaged_copy.exists()
    assert fts.codes() == set() and fts.outdated() is None
    assert fts.rebuild(CORPUS) == len(CORPUS) and fts.search(Query("低保", ALL)).total == 5
