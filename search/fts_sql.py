"""检索语句 (the SQL of one FTS5 search): pure functions from a query to statements and parameters.

Two statements answer a query. The first counts the whole filtered result set per *class*
(全宗, 年度, 门类, 保管期限) and gives the total and every facet at once; the second ranks
and returns one page. Each row id carries its class in its high bits (``class_id << 32 |
sequence``), so neither statement has to look up a table per matching row unless the query
filters by 日期 or 档号 prefix: this keeps broad two-character queries fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.base import Query
from search.query import ParsedQuery
from search.text import query_tokens

CLASS_SHIFT = 32
WEIGHTS = (10.0, 5.0, 1.0)  # bm25 weights of title, metadata (责任者, 文号, 档号 …), body
_MAX_CODE = "\U0010ffff"


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class Tier:
    """One band of the ranking; ``page`` takes LIMIT and OFFSET after its parameters."""

    page: Statement
    count: Statement | None = None  # needed only to page past this tier into the next


@dataclass(frozen=True)
class Plan:
    """The statements of one search: facet rows ``(facet, key, count)`` and the ranked tiers in order."""

    facets: Statement
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


def plan(generation: int, query: Query, parsed: ParsedQuery, class_filtered: bool = True) -> Plan:
    """The statements for ``query`` against index generation ``generation``.

    ``class_filtered=False`` says that every class in the index passes the class filters
    (all fonds visible, no 全宗/年度/门类/保管期限 filter): the facet count then skips the
    per-row test. Either way only the visible, filtered classes are summed.
    """
    g = generation
    class_where, class_params = _class_filter(g, query)
    doc_where, doc_params = _doc_filter(query, parsed)
    if not parsed.terms:
        where = " AND ".join([f"(d.id >> {CLASS_SHIFT}) IN ({class_where})", *doc_where])
        params = (*class_params, *doc_params)
        per_class = f"SELECT d.id >> {CLASS_SHIFT} AS cid, count(*) AS n FROM docs_{g} d WHERE {where} GROUP BY 1"
        listing = Statement(f"SELECT d.id, 0.0 FROM docs_{g} d WHERE {where} ORDER BY d.code LIMIT ? OFFSET ?", params)
        return Plan(Statement(_facet_sql(g, per_class, class_where), (*params, *class_params)), (Tier(listing),))
    expr = fts_expression(parsed)
    filtered = (f"(f.rowid >> {CLASS_SHIFT}) IN ({class_where})",) if class_filtered else ()
    join = f" JOIN docs_{g} d ON d.id = f.rowid" if doc_where else ""
    counted = " AND ".join([f"fts_{g} MATCH ?", *filtered, *doc_where])
    per_class = f"SELECT f.rowid >> {CLASS_SHIFT} AS cid, count(*) AS n FROM fts_{g} f{join} WHERE {counted} GROUP BY 1"
    facets = Statement(
        _facet_sql(g, per_class, class_where),
        (expr, *(class_params if class_filtered else ()), *doc_params, *class_params),
    )
    where = ["MATCH ?", f"(f.rowid >> {CLASS_SHIFT}) IN ({class_where})", *doc_where]
    params = (*class_params, *doc_params)
    # Band 1: a match in the title or the metadata, ranked by bm25 over those two fields alone.
    head_where = " AND ".join([f"head_{g} {where[0]}", *where[1:]])
    head_rank = f"bm25(head_{g}, {WEIGHTS[0]}, {WEIGHTS[1]})"
    head = Tier(
        Statement(
            f"SELECT f.rowid, {head_rank} AS r FROM head_{g} f{join} WHERE {head_where} ORDER BY r, f.rowid "
            "LIMIT ? OFFSET ?",
            (expr, *params),
        ),
        Statement(f"SELECT count(*) FROM head_{g} f{join} WHERE {head_where}", (expr, *params)),
    )
    # Band 2: a match in the body only.
    body_where = " AND ".join([f"fts_{g} {where[0]}", *where[1:]])
    body_rank = f"bm25(fts_{g}, {', '.join(map(str, WEIGHTS))})"
    body = Tier(
        Statement(
            f"SELECT f.rowid, {body_rank} AS r FROM fts_{g} f{join} WHERE {body_where} ORDER BY r, f.rowid "
            "LIMIT ? OFFSET ?",
            (f"({expr}) NOT {{title meta}} : ({expr})", *params),
        )
    )
    return Plan(facets, (head, body))


def _facet_sql(g: int, per_class: str, class_where: str) -> str:
    """Facet rows from the per-class counts of the visible, filtered classes, summed four ways."""
    parts = [
        f"SELECT '{name}', c.{name}, sum(x.n) FROM x JOIN c ON c.id = x.cid GROUP BY c.{name}"
        for name in ("fonds", "year", "category", "retention")
    ]
    return (
        f"WITH x AS MATERIALIZED ({per_class}), "
        f"c AS MATERIALIZED (SELECT * FROM classes_{g} WHERE id IN ({class_where})) " + " UNION ALL ".join(parts)
    )


def _class_filter(g: int, query: Query) -> tuple[str, list[Any]]:
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
    return f"SELECT id FROM classes_{g} WHERE {' AND '.join(where)}", params


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
