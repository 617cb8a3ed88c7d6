"""检索语句 (the SQL of one FTS5 search): pure functions from a query to statements and parameters.

A query runs three kinds of statement. One lists the *classes* (全宗, 年度, 门类, 保管期限)
the caller may see and has filtered for; one counts the filtered result set per class, from
which the caller sums the total and every facet; the ranked tiers return one page. Each row id
carries its class in its high bits (``class_id << 32 | sequence``), so neither the count nor
the ranking has to look up a table per matching row unless the query filters by 日期 or 档号
prefix: this keeps broad two-character queries fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.base import Query
from search.query import ParsedQuery
from search.text import query_tokens

CLASS_SHIFT = 32
ALL_ROWS = (0, (1 << 63) - 1)  # the row id range of a whole band
WEIGHTS = (10.0, 5.0, 1.0)  # bm25 weights of title, metadata (责任者, 文号, 档号 …), body
_MAX_CODE = "\U0010ffff"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class Tier:
    """One band of the ranking; ``page`` takes LIMIT and OFFSET after its parameters, and before
    them, when ``split``, a row id range (lowest, highest): a band can then be ranked in parts
    at once, merged by (score, row id)."""

    page: Statement
    count: Statement | None = None  # needed only to page past this tier into the next
    alone: Statement | None = None  # ``page`` without the test that excludes earlier tiers, for when they are empty
    split: bool = False


@dataclass(frozen=True)
class Plan:
    """The statements of one search: ``counts`` gives ``(class id, matches)`` over the filtered
    result set, and the tiers rank it."""

    counts: Statement
    tiers: tuple[Tier, ...]


def row_id(class_id: int, sequence: int) -> int:
    return (class_id << CLASS_SHIFT) | sequence


def fts_expression(parsed: ParsedQuery) -> str:
    """The FTS5 MATCH text: each term a group of quoted token phrases, ORed, the groups ANDed.

    Only tokens made by :func:`search.text.query_tokens` (letters, digits, CJK characters)
    appear inside the quotes, so nothing the user typed is read as FTS5 syntax.
    """
    groups = []
    for term in parsed.terms:
        phrases = []
        for alt in term.alternatives:
            tokens, prefix = query_tokens(alt)
            quoted = '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'
            phrases.append(quoted + " *" if prefix else quoted)
        groups.append("(" + " OR ".join(phrases) + ")")
    return " AND ".join(groups)


def classes(generation: int, query: Query) -> Statement:
    """The ids of every class that ``query`` may see and count."""
    cond, params = _class_filter(query)
    return Statement(f"SELECT id FROM classes_{generation} WHERE {cond}", tuple(params))


def plan(generation: int, query: Query, parsed: ParsedQuery, class_filtered: bool = True) -> Plan:
    """The statements for ``query`` against index generation ``generation``.

    ``class_filtered=False`` says that every class in the index passes the class filters
    (all fonds visible, no 全宗/年度/门类/保管期限 filter): counting and ranking then skip the
    per-row test, a sixth of the ranking's time. Either way the caller sums only the classes
    that :func:`classes` returns.
    """
    g = generation
    class_cond, class_params = _class_filter(query)
    class_where = f"SELECT id FROM classes_{g} WHERE {class_cond}"
    doc_where, doc_params = _doc_filter(query, parsed)
    if not parsed.terms:
        where = " AND ".join([f"(d.id >> {CLASS_SHIFT}) IN ({class_where})", *doc_where])
        params = (*class_params, *doc_params)
        counts = Statement(f"SELECT d.id >> {CLASS_SHIFT}, count(*) FROM docs_{g} d WHERE {where} GROUP BY 1", params)
        listing = Statement(f"SELECT d.id, 0.0 FROM docs_{g} d WHERE {where} ORDER BY d.code LIMIT ? OFFSET ?", params)
        return Plan(counts, (Tier(listing),))
    expr = fts_expression(parsed)
    join = f" JOIN docs_{g} d ON d.id = f.rowid" if doc_where else ""
    # A row id range on a join would steer SQLite into scanning docs by id instead of using the
    # 档号 or date filter first, so only the plain bands are split.
    split = not doc_where
    bounds = "AND f.rowid BETWEEN ? AND ? " if split else ""
    class_test = [f"(f.rowid >> {CLASS_SHIFT}) IN ({class_where})"] if class_filtered else []
    filters = " AND ".join(["MATCH ?", *class_test, *doc_where])
    params = (*(class_params if class_filtered else ()), *doc_params)
    counts = Statement(
        f"SELECT f.rowid >> {CLASS_SHIFT}, count(*) FROM fts_{g} f{join} WHERE fts_{g} {filters} GROUP BY 1",
        (expr, *params),
    )
    # Band 1: a match in the title or the metadata, ranked by bm25 over those two fields alone.
    head_rank = f"bm25(head_{g}, {WEIGHTS[0]}, {WEIGHTS[1]})"
    head = Tier(
        Statement(
            f"SELECT f.rowid, {head_rank} AS r FROM head_{g} f{join} WHERE head_{g} {filters} "
            f"{bounds}ORDER BY r, f.rowid LIMIT ? OFFSET ?",
            (expr, *params),
        ),
        Statement(f"SELECT count(*) FROM head_{g} f{join} WHERE head_{g} {filters}", (expr, *params)),
        split=split,
    )
    # Band 2: a match in the body only. When band 1 is empty, every match is one, and the plain
    # expression is ranked: the NOT branch doubles the phrases whose document frequencies and
    # positions bm25 reads, which for a phrase common in bodies doubles the time.
    body_rank = f"bm25(fts_{g}, {', '.join(map(str, WEIGHTS))})"
    body_sql = (
        f"SELECT f.rowid, {body_rank} AS r FROM fts_{g} f{join} WHERE fts_{g} {filters} "
        f"{bounds}ORDER BY r, f.rowid LIMIT ? OFFSET ?"
    )
    body = Tier(
        Statement(body_sql, (f"({expr}) NOT {{title meta}} : ({expr})", *params)),
        alone=Statement(body_sql, (expr, *params)),
        split=split,
    )
    return Plan(counts, (head, body))


def _class_filter(query: Query) -> tuple[str, list[Any]]:
    # visible_fonds is always the first condition: nothing outside it is ever counted.
    visible = sorted(query.visible_fonds)
    where = [f"fonds IN ({','.join('?' * len(visible))})"]
    params: list[Any] = list(visible)
    for column, op, value in (
        ("fonds", "=", query.fonds),
        ("year", ">=", query.year_from),
        ("year", "<=", query.year_to),
        ("category", "=", query.category),
        ("retention", "=", query.retention),
    ):
        if value not in (None, ""):
            where.append(f"{column} {op} ?")
            params.append(value)
    return " AND ".join(where), params


def _doc_filter(query: Query, parsed: ParsedQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for op, value in ((">=", query.date_from), ("<=", query.date_to)):
        if value not in (None, ""):
            where.append(f"d.date {op} ?")
            params.append(value)
    for prefix in parsed.code_prefixes:
        where.append("d.code_key >= ? AND d.code_key < ?")
        params += [prefix, prefix + _MAX_CODE]
    return where, params
