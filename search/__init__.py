"""检索 (search): one interface, two backends, Chinese folding shared by both.

``open_index("sqlite", path=...)`` gives the embedded SQLite FTS5 index (the default);
``open_index("elasticsearch", url=..., index_prefix=...)`` the Elasticsearch one. Both take
:class:`SearchDoc` in and answer :class:`Query` with a :class:`SearchResult`.
"""

from __future__ import annotations

from typing import Any

from search.base import MAX_LIMIT, MAX_WINDOW, Hit, Query, SearchDoc, SearchIndex, SearchResult
from search.errors import SearchBackendError, SearchConfigError, SearchQueryError, SearchTimeoutError
from search.query import MAX_QUERY_CHARS, ParsedQuery, Term, parse_query
from search.synonyms import load_synonyms
from search.text import fold

__all__ = [
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_WINDOW",
    "BACKENDS",
    "Hit",
    "ParsedQuery",
    "Query",
    "SearchBackendError",
    "SearchConfigError",
    "SearchDoc",
    "SearchIndex",
    "SearchQueryError",
    "SearchResult",
    "SearchTimeoutError",
    "Term",
    "fold",
    "load_synonyms",
    "open_index",
    "parse_query",
]

BACKENDS = ("sqlite", "elasticsearch")


def open_index(kind: str, **options: Any) -> SearchIndex:
    """Open a search index by backend name.

    ``"sqlite"`` → ``FtsIndex(path, ...)``; ``"elasticsearch"`` → ``EsIndex(url, index_prefix, ...)``.

    Backends are imported on demand, so the embedded one needs no Elasticsearch client.
    """
    if kind == "sqlite":
        from search.fts import FtsIndex

        factory: Any = FtsIndex
    elif kind == "elasticsearch":
        from search.es import EsIndex

        factory = EsIndex
    else:
        raise SearchConfigError(
            f"未知的检索后端: {kind!r}; 可选 {', '.join(BACKENDS)} (unknown search backend; choose one of {BACKENDS})"
        )
    try:
        return factory(**options)
    except TypeError as exc:
        raise SearchConfigError(f"检索后端 {kind} 的参数有误: {exc} (bad options for the {kind} backend)") from None
