"""Elasticsearch 检索后端: the same interface over an Elasticsearch cluster, built-in features only.

Folding (traditional → simplified, full-width → half-width, case, line breaks between CJK
characters removed) and synonyms are done in Python before indexing and in
:func:`search.query.parse_query`, exactly as for SQLite FTS5, so both backends agree on what
matches. (``cjk_bigram`` itself joins only characters that touch, so a word broken across
lines would be two runs again if the text reached Elasticsearch unfolded.) Each concrete index
records in its mapping's ``_meta`` the rules that folded its text (:func:`text_stamp`); one
folded otherwise is :meth:`EsIndex.outdated`, and the callers rebuild it.

Elasticsearch adds CJK analysis from built-in parts
(no plugins: ``icu`` and ``smartcn`` are plugins): the ``standard`` tokenizer splits ideographs
one per token, ``cjk_width`` and ``lowercase`` normalise, and ``cjk_bigram`` joins neighbours.
Documents are indexed with unigrams *and* bigrams (``output_unigrams``); queries use bigrams,
or unigrams where a bigram phrase cannot express the term (:func:`search.query.needs_unigrams`).

Writes go to an alias; :meth:`EsIndex.rebuild` fills a new concrete index, then moves the alias
in one ``_aliases`` call and deletes the old index. ``visible_fonds`` is a ``bool`` filter of
the query itself, so hits, totals and aggregations all stay inside it.

The pure functions (:func:`index_template`, :func:`build_query`, :func:`doc_source`,
:func:`parse_response`) carry all the logic and are unit-tested without a server.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from archive.i18n import _
from search.base import FACETS, Hit, Query, SearchDoc, SearchIndex, SearchResult
from search.errors import SearchBackendError, SearchConfigError, SearchQueryError
from search.query import ParsedQuery, code_key, needs_unigrams, parse_query
from search.synonyms import Synonyms, load_synonyms
from search.text import fold, fold_stamp

FIELD_BOOSTS = ("title^10", "metadata^5", "body")  # the same order of weight as bm25() in FTS5
FACET_FIELDS = {"fonds": "fonds_code", "year": "year", "category": "category", "retention": "retention"}
FACET_SIZE = 1000  # buckets per facet; more fonds or years than this are not counted
SNIPPET_CHARS = 80
_TEXT = {"type": "text", "analyzer": "dangan_index", "search_analyzer": "dangan_search"}
ANALYSIS_VERSION = "es-1"  # bump when the template's analysis changes: indexes made before are rebuilt


def text_stamp() -> str:
    """What folded and analysed an index's text, kept in its mapping's ``_meta``."""
    return f"{ANALYSIS_VERSION}; {fold_stamp()}"


def index_template(index_prefix: str) -> dict[str, Any]:
    """The composable index template (``index_patterns`` + ``template``) for every concrete index."""
    return {
        "index_patterns": [f"{index_prefix}-items-*"],
        "priority": 200,
        "template": {
            "settings": {
                "number_of_shards": 1,  # one shard: exact, comparable BM25 statistics and facet counts
                "auto_expand_replicas": "0-1",
                "analysis": {
                    "filter": {
                        "dangan_bigram_index": {"type": "cjk_bigram", "output_unigrams": True},
                        "dangan_bigram_search": {"type": "cjk_bigram", "output_unigrams": False},
                    },
                    "analyzer": {
                        "dangan_index": _analyzer("dangan_bigram_index"),
                        "dangan_search": _analyzer("dangan_bigram_search"),
                        "dangan_unigram": _analyzer(),
                    },
                },
            },
            "mappings": {
                "_meta": {"text_rules": text_stamp()},
                "dynamic": "strict",
                "properties": {
                    "archival_code": {"type": "keyword"},
                    "code_key": {"type": "keyword"},
                    "fonds_code": {"type": "keyword"},
                    "year": {"type": "integer"},
                    "category": {"type": "keyword"},
                    "retention": {"type": "keyword"},
                    "date": {"type": "keyword"},
                    "title": _TEXT,
                    "title_display": {"type": "keyword", "index": False, "doc_values": False},
                    "metadata": _TEXT,
                    # Offsets in the postings let the unified highlighter skip re-analysing long bodies.
                    "body": {**_TEXT, "index_options": "offsets"},
                },
            },
        },
    }


def _analyzer(*extra_filters: str) -> dict[str, Any]:
    return {"type": "custom", "tokenizer": "standard", "filter": ["cjk_width", "lowercase", *extra_filters]}


def doc_source(doc: SearchDoc) -> dict[str, Any]:
    """The ``_source`` of one document: folded text to search, the original title to show."""
    return {
        "archival_code": doc.archival_code,
        "code_key": code_key(doc.archival_code),
        "fonds_code": doc.fonds_code,
        "year": doc.year,
        "category": doc.category,
        "retention": doc.retention,
        "date": doc.date,
        "title": fold(doc.title),
        "title_display": doc.title,
        "metadata": fold(f"{doc.archival_code} {doc.metadata_text}"),
        "body": fold(doc.body),
    }


def bulk_actions(index: str, docs: Iterable[SearchDoc]) -> Iterator[dict[str, Any]]:
    """``helpers.bulk`` actions that index (add or replace) each document under its 档号."""
    for doc in docs:
        yield {"_op_type": "index", "_index": index, "_id": doc.archival_code, "_source": doc_source(doc)}


def build_query(query: Query, synonyms: Synonyms | None = None) -> dict[str, Any]:
    """The ``_search`` body for a query; raises :class:`SearchQueryError` as FTS5 does."""
    parsed = parse_query(query.text, synonyms if synonyms is not None else load_synonyms())
    if parsed.is_empty and not query.has_filters:
        raise SearchQueryError(_("请输入检索词, 或至少选择一个筛选条件 (全宗、年度、门类、保管期限、日期)"))
    body: dict[str, Any] = {
        "query": {
            "bool": {"filter": _filters(query, parsed), "must": [_term_clause(t.alternatives) for t in parsed.terms]}
        },
        "from": query.offset,
        "size": query.limit,
        "track_total_hits": True,
        "_source": ["archival_code", "title_display"],
        "sort": ["_score", {"archival_code": "asc"}] if parsed.terms else [{"archival_code": "asc"}],
        "aggs": {name: {"terms": {"field": field, "size": FACET_SIZE}} for name, field in FACET_FIELDS.items()},
    }
    if parsed.terms:
        body["highlight"] = _highlight()
    return body


def _filters(query: Query, parsed: ParsedQuery) -> list[dict[str, Any]]:
    # Visibility is a hard filter inside the query (never a post_filter): aggregations see only it.
    filters: list[dict[str, Any]] = [{"terms": {"fonds_code": sorted(query.visible_fonds)}}]
    for field, value in (("fonds_code", query.fonds), ("category", query.category), ("retention", query.retention)):
        if value not in (None, ""):
            filters.append({"term": {field: value}})
    for field, low, high in (("year", query.year_from, query.year_to), ("date", query.date_from, query.date_to)):
        bounds = {k: v for k, v in (("gte", low), ("lte", high)) if v not in (None, "")}
        if bounds:
            filters.append({"range": {field: bounds}})
    filters += [{"prefix": {"code_key": prefix}} for prefix in parsed.code_prefixes]
    return filters


def _term_clause(alternatives: tuple[str, ...]) -> dict[str, Any]:
    should = []
    for alt in alternatives:
        clause: dict[str, Any] = {"query": alt, "type": "phrase", "fields": list(FIELD_BOOSTS)}
        if needs_unigrams(alt):
            clause["analyzer"] = "dangan_unigram"
        should.append({"multi_match": clause})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _highlight() -> dict[str, Any]:
    one = {"fragment_size": SNIPPET_CHARS, "number_of_fragments": 1}
    return {
        "type": "unified",
        "pre_tags": ["【"],
        "post_tags": ["】"],
        "fields": {
            "body": {**one, "no_match_size": SNIPPET_CHARS},
            "metadata": one,
            "title": {"number_of_fragments": 0},
        },
    }


def parse_response(response: dict[str, Any]) -> SearchResult:
    """A :class:`SearchResult` from a ``_search`` response built by :func:`build_query`."""
    hits = []
    for h in response["hits"]["hits"]:
        source = h.get("_source", {})
        hits.append(
            Hit(
                archival_code=source.get("archival_code", h.get("_id", "")),
                title=source.get("title_display", ""),
                snippet=_snippet(h.get("highlight", {}), source.get("title_display", "")),
                score=float(h.get("_score") or 0.0),
            )
        )
    aggs = response.get("aggregations", {})
    facets = {
        name: dict(sorted((b["key"], b["doc_count"]) for b in aggs.get(name, {}).get("buckets", []))) for name in FACETS
    }
    return SearchResult(total=response["hits"]["total"]["value"], hits=hits, facets=facets)


def _snippet(highlight: dict[str, list[str]], title: str) -> str:
    fragments = [highlight[f][0] for f in ("body", "metadata", "title") if highlight.get(f)]
    marked = [f for f in fragments if "【" in f]
    return " ".join((marked or fragments or [title])[0].split())


class EsIndex(SearchIndex):
    """Elasticsearch 检索索引 behind the alias ``<index_prefix>-items``."""

    def __init__(
        self,
        url: str,
        index_prefix: str = "dangan",
        *,
        synonyms: Synonyms | None = None,
        timeout: float = 30.0,
        refresh: bool | str = "wait_for",
        client: Any = None,
    ) -> None:
        from elasticsearch import Elasticsearch

        self.prefix = index_prefix
        self.alias = f"{index_prefix}-items"
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.refresh = refresh
        try:
            self.client = client if client is not None else Elasticsearch(url, request_timeout=timeout)
        except ValueError as exc:
            raise SearchConfigError(
                _("Elasticsearch 地址无效: {url}: {reason}; 例如 http://localhost:9200").format(
                    url=repr(url), reason=exc
                )
            ) from None
        with self._errors():
            self.client.indices.put_index_template(name=f"{index_prefix}-items", **index_template(index_prefix))
            if not self.client.indices.exists_alias(name=self.alias):
                self.client.indices.create(index=self._new_index_name(), aliases={self.alias: {"is_write_index": True}})

    def _new_index_name(self) -> str:
        return f"{self.alias}-{time.time_ns()}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from elasticsearch import ApiError, TransportError
        from elasticsearch.helpers import BulkIndexError

        try:
            yield
        except BulkIndexError as exc:
            raise SearchBackendError(
                _("Elasticsearch 批量写入有 {count} 条失败").format(count=len(exc.errors))
            ) from None
        except ApiError as exc:
            raise SearchBackendError(
                _("Elasticsearch 返回错误 {status}: {reason}").format(status=exc.meta.status, reason=exc.message)
            ) from None
        except TransportError as exc:
            raise SearchBackendError(
                _("无法连接 Elasticsearch, 请检查地址和服务器: {reason}").format(reason=exc.message)
            ) from None

    def upsert(self, docs: Iterable[SearchDoc]) -> int:
        from elasticsearch.helpers import bulk

        with self._errors():
            written, _failed = bulk(self.client, bulk_actions(self.alias, docs), refresh=self.refresh)
        return written

    def delete(self, archival_codes: Iterable[str]) -> int:
        from elasticsearch.helpers import streaming_bulk

        actions = ({"_op_type": "delete", "_index": self.alias, "_id": code} for code in archival_codes)
        removed = 0
        with self._errors():
            for ok, item in streaming_bulk(self.client, actions, raise_on_error=False, refresh=self.refresh):
                result = item.get("delete", {})
                if not ok and result.get("status") != 404:
                    raise SearchBackendError(_("Elasticsearch 删除失败: {result}").format(result=result))
                if ok and result.get("result") == "deleted":
                    removed += 1
        return removed

    def search(self, query: Query) -> SearchResult:
        body = build_query(query, self.synonyms)
        with self._errors():
            response = self.client.search(index=self.alias, body=body)
        return parse_response(dict(response))

    def outdated(self) -> str | None:
        """Why the index behind the alias must be rebuilt: its text was folded or analysed by
        other rules than this code's (its mapping ``_meta`` says which), or None."""
        with self._errors():
            mappings = dict(self.client.indices.get_mapping(index=self.alias))
        for body in mappings.values():
            stamp = (body.get("mappings") or {}).get("_meta", {}).get("text_rules")
            if stamp != text_stamp():
                return _("Elasticsearch 索引由另一版本的检索规则建立 ({stamp}), 须重建").format(stamp=stamp)
        return None

    def codes(self) -> set[str]:
        from elasticsearch.helpers import scan

        with self._errors():
            hits = scan(self.client, index=self.alias, query={"query": {"match_all": {}}, "_source": False})
            return {h["_id"] for h in hits}

    def rebuild(self, docs: Iterable[SearchDoc]) -> int:
        from elasticsearch.helpers import bulk

        new = self._new_index_name()
        with self._errors():
            old = (
                list(self.client.indices.get_alias(name=self.alias))
                if self.client.indices.exists_alias(name=self.alias)
                else []
            )
            self.client.indices.create(index=new, settings={"refresh_interval": "-1"})
            try:
                written, _failed = bulk(self.client, bulk_actions(new, docs), refresh=False)
                self.client.indices.put_settings(index=new, settings={"refresh_interval": None})
                self.client.indices.refresh(index=new)
                # One _aliases call: readers see the old index, then the new one, never neither.
                actions = [{"add": {"index": new, "alias": self.alias, "is_write_index": True}}]
                actions += [{"remove": {"index": name, "alias": self.alias}} for name in old]
                self.client.indices.update_aliases(actions=actions)
            except BaseException:
                self.client.indices.delete(index=new, ignore_unavailable=True)
                raise
            for name in old:
                self.client.indices.delete(index=name, ignore_unavailable=True)
        return written

    def close(self) -> None:
        self.client.close()
