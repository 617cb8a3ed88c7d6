"""Reading one search's results from the FTS5 index: the page across the ranked tiers, and the facets.

A tier's rows may be ranked in two halves on two connections at once (see ``docs/search-benchmarks.md``,
"Two cores"); the facets and the total are summed from per-class counts.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from search.base import FACETS, Query
from search.fts_sql import ALL_ROWS, Statement, Tier


class Pager:
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
                size = self.con.execute(*statement_args(tier.count)).fetchone()[0]
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
            return fetch_rows(self.con, page, (limit, offset))
        if self.pool is None or self.helper is None or self.middle <= ALL_ROWS[0]:
            return fetch_rows(self.con, page, (*ALL_ROWS, limit, offset))
        want = limit + offset  # each half's first rows, enough for the merged page
        upper = self.pool.submit(fetch_rows, self.helper, page, (self.middle, ALL_ROWS[1], want, 0))
        try:
            lower = fetch_rows(self.con, page, (ALL_ROWS[0], self.middle - 1, want, 0))
        finally:
            wait([upper])
        merged = heapq.merge(lower, upper.result(), key=lambda row: (row[1], row[0]))
        return list(merged)[offset:want]


def statement_args(statement: Statement) -> tuple[str, tuple[Any, ...]]:
    """A statement as ``execute`` takes it."""
    return statement.sql, statement.params


def fetch_rows(con: sqlite3.Connection, statement: Statement, extra: tuple[Any, ...] = ()) -> list[Any]:
    """Every row of a statement, with ``extra`` parameters after its own (a range, a limit)."""
    return con.execute(statement.sql, (*statement.params, *extra)).fetchall()


def filters_classes(query: Query) -> bool:
    """Whether the query narrows the classes (全宗, 年度, 门类, 保管期限) beyond ``visible_fonds``."""
    return any(
        v not in (None, "") for v in (query.fonds, query.year_from, query.year_to, query.category, query.retention)
    )


def facet_counts(
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
