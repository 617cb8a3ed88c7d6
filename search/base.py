"""检索接口 (the search interface): documents, queries, results and the backend ABC.

A caller (the CLI, a web view) builds :class:`SearchDoc` from the catalogue and the extracted
text, hands them to a :class:`SearchIndex`, and asks :class:`Query` objects of it. Every query
carries ``visible_fonds``, the 全宗 the caller may see: results, totals and facet counts never
include anything outside it, in every backend.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

from archive.i18n import _
from search.errors import SearchQueryError

MAX_LIMIT = 100  # hits per page
MAX_WINDOW = 10_000  # offset + limit: Elasticsearch's default max_result_window, kept alike in both backends
FACETS = ("fonds", "year", "category", "retention")
_DATE = re.compile(r"[0-9]{8}")  # ASCII digits only: full-width ones are normalised (NFKC) first


@dataclass(frozen=True)
class SearchDoc:
    """检索文档: what the index holds of one 件 (item).

    ``metadata_text`` joins the other descriptive fields (责任者, 文号, 备注 …); ``body`` is the
    full text (OCR or extracted text), which may run to several pages.
    """

    archival_code: str  # 档号
    fonds_code: str  # 全宗号
    year: int  # 年度
    category: str  # 门类 code, e.g. WS
    retention: str  # 保管期限 Y / D30 / D10
    title: str  # 题名
    date: str = ""  # 日期 YYYYMMDD, or ""
    metadata_text: str = ""  # 责任者, 文号, 备注 …
    body: str = ""  # 全文


@dataclass(frozen=True)
class Query:
    """检索式: the user's text plus filters, always bounded by ``visible_fonds``.

    ``text`` is parsed by :func:`search.query.parse_query`: space-separated terms are ANDed,
    ``"quoted words"`` form a phrase, a term that looks like an 档号 (``J012-WS·2024``) finds
    the codes it begins. An empty ``text`` lists every item that passes the filters, which
    then must not all be empty.
    """

    text: str
    visible_fonds: frozenset[str]  # 可见全宗: required, never empty
    fonds: str | None = None  # 全宗号 filter
    year_from: int | None = None
    year_to: int | None = None
    category: str | None = None  # 门类
    retention: str | None = None  # 保管期限
    date_from: str | None = None  # YYYYMMDD, inclusive
    date_to: str | None = None
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if self.text is None:
            object.__setattr__(self, "text", "")
        if not isinstance(self.text, str):
            raise SearchQueryError(_("检索词必须是文字"))
        object.__setattr__(self, "visible_fonds", _fonds_set(self.visible_fonds))
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _date(name, value))
        for name in ("year_from", "year_to"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SearchQueryError(_("{name} 的年度应为整数: {value}").format(name=name, value=repr(value)))
        if not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise SearchQueryError(_("每页条数应在 1 到 {max} 之间").format(max=MAX_LIMIT))
        if not isinstance(self.offset, int) or self.offset < 0 or self.offset + self.limit > MAX_WINDOW:
            raise SearchQueryError(_("翻页超出范围: 只能查看前 {max} 条, 请加筛选条件缩小范围").format(max=MAX_WINDOW))

    @property
    def has_filters(self) -> bool:
        """True when any filter besides ``visible_fonds`` is set."""
        filters = (
            self.fonds,
            self.year_from,
            self.year_to,
            self.category,
            self.retention,
            self.date_from,
            self.date_to,
        )
        return any(v not in (None, "") for v in filters)


def _date(name: str, value: Any) -> str:
    """``value`` as ASCII ``YYYYMMDD`` (full-width digits allowed), refused unless it is a real date."""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not _DATE.fullmatch(text):
        raise SearchQueryError(_("{name} 应为 YYYYMMDD 八位数字: {value}").format(name=name, value=repr(value)))
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise SearchQueryError(
            _("{name} 日期不存在: {value}, 应为 YYYYMMDD 格式的真实日期").format(name=name, value=repr(value))
        ) from None
    return text


def _fonds_set(value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise SearchQueryError(_("visible_fonds 必须是全宗号的集合, 例如 frozenset(['J012'])"))
    fonds = frozenset(value)
    if not fonds or not all(isinstance(f, str) and f for f in fonds):
        raise SearchQueryError(_("未指定可见全宗, 不能检索"))
    return fonds


@dataclass(frozen=True)
class Hit:
    """命中条目: one result row; ``snippet`` marks the matched words with 【】."""

    archival_code: str
    title: str
    snippet: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"archival_code": self.archival_code, "title": self.title, "snippet": self.snippet, "score": self.score}


@dataclass
class SearchResult:
    """检索结果: the total, one page of hits and the facet counts (分面统计) of the whole result set."""

    total: int
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, dict[Any, int]] = field(default_factory=lambda: {name: {} for name in FACETS})

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: facet keys become strings (years too), as JSON object keys must."""
        return {
            "total": self.total,
            "hits": [h.to_json() for h in self.hits],
            "facets": {name: {str(k): n for k, n in self.facets.get(name, {}).items()} for name in FACETS},
        }


class SearchIndex(ABC):
    """检索索引: one backend (SQLite FTS5 or Elasticsearch) behind one interface.

    The index is a cache rebuilt from the archive (the catalogue and the AIPs): after a crash
    the caller compares :meth:`codes` with the catalogue and upserts or deletes the difference.
    """

    #: Where this handle moved a damaged index file before starting an empty index in its
    #: place (the embedded backend only), or None. The new index is empty until the caller
    #: fills it again (ingest's sync, ``dangan reindex``): a caller may say so to the user.
    damaged_copy: Path | None = None

    @abstractmethod
    def upsert(self, docs: Iterable[SearchDoc]) -> int:
        """Add or replace documents (by 档号), in bulk; returns how many were written."""

    @abstractmethod
    def delete(self, archival_codes: Iterable[str]) -> int:
        """Remove documents by 档号; unknown codes are ignored. Returns how many were removed."""

    @abstractmethod
    def search(self, query: Query) -> SearchResult:
        """Run one query; raises :class:`SearchQueryError` for a query that cannot run."""

    @abstractmethod
    def codes(self) -> set[str]:
        """Every 档号 in the index."""

    @abstractmethod
    def rebuild(self, docs: Iterable[SearchDoc]) -> int:
        """Replace the whole index atomically: readers see the old one until the new one is complete."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the object is unusable afterwards."""

    def outdated(self) -> str | None:
        """Why the index must be rebuilt before it can be written (a layout or token rules
        older than the code's), or None when it is current."""
        return None

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
