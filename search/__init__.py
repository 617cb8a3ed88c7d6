"""检索 (search): one interface, two backends, Chinese folding shared by both.

``open_index("sqlite", path=...)`` gives the embedded SQLite FTS5 index (the default);
``open_index("elasticsearch", url=..., index_prefix=...)`` the Elasticsearch one. Both take
:class:`SearchDoc` in and answer :class:`Query` with a :class:`SearchResult`.
"""

from __future__ import annotations

import importlib
from typing import Any

from archive.i18n import _
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

#: every search backend: its name in ``[search] backend`` and the module and class that implement it.
#: A module is imported only when its backend is used, so the embedded one needs no Elasticsearch client.
BACKENDS = {
    "sqlite": ("search.fts", "FtsIndex"),
    "elasticsearch": ("search.es", "EsIndex"),
}


def open_index(kind: str, **options: Any) -> SearchIndex:
    """Open a search index by backend name (:data:`BACKENDS`).

    ``"sqlite"`` → ``FtsIndex(path, ...)``; ``"elasticsearch"`` → ``EsIndex(url, index_prefix, ...)``.

    Raises:
        SearchConfigError: no backend has that name, or the options do not fit it.
    """
    if kind not in BACKENDS:
        raise SearchConfigError(
            _("未知的检索后端: {kind}; 可选 {choices}").format(kind=repr(kind), choices=", ".join(BACKENDS))
        )
    module, cls = BACKENDS[kind]
    factory: Any = getattr(importlib.import_module(module), cls)
    try:
        return factory(**options)
    except TypeError as exc:
        raise SearchConfigError(_("检索后端 {kind} 的参数有误: {reason}").format(kind=kind, reason=exc)) from None
