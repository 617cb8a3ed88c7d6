"""检索错误 (search errors): typed, with a message for people in their language (see :mod:`archive.i18n`).

Backends catch their own driver errors (SQLite, FTS5, Elasticsearch) and raise these, so no
SQL text, FTS syntax message or traceback reaches a person.
"""

from __future__ import annotations

from archive.errors import ConfigError, StorageError, UsageError


class SearchQueryError(UsageError):
    """检索式错误: the query cannot be run as given (empty, too long, bad filter); say what to change."""


class SearchTimeoutError(SearchQueryError):
    """检索超时: the query ran past the time limit; a narrower query or a filter helps."""


class SearchConfigError(ConfigError):
    """检索配置错误: an unknown backend, a bad option or an unreadable synonym file."""


class SearchBackendError(StorageError):
    """检索后端故障: the index file or the Elasticsearch server failed; rebuilding the index may help."""
