"""Elasticsearch 后端, live: what only a real cluster can show (aliases, analysis).

Runs only when ``DANGAN_ES_URL`` names a server, e.g. ``DANGAN_ES_URL=http://localhost:9200``;
otherwise every test here skips with the reason below. The behavioural suite shared with
SQLite FTS5 is ``TestBehaviour`` in ``tests/test_search.py``, parametrised over both backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from search import Query, SearchDoc, open_index
from search.es import EsIndex
from tests.test_search import ES_SKIP_REASON, ES_URL_ENV

pytestmark = pytest.mark.skipif(not os.environ.get(ES_URL_ENV), reason=ES_SKIP_REASON)


@pytest.fixture
def es_index() -> Iterator[EsIndex]:
    prefix = f"dangan-test-{uuid.uuid4().hex[:12]}"
    index = open_index("elasticsearch", url=os.environ[ES_URL_ENV], index_prefix=prefix, refresh=True)
    assert isinstance(index, EsIndex)
    yield index
    index.client.indices.delete(index=f"{prefix}-items-*", ignore_unavailable=True)
    index.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-items")
    index.close()


def _doc(n: int, title: str) -> SearchDoc:
    return SearchDoc(f"J012-WS·2024-D30-{n:04d}", "J012", 2024, "WS", "D30", title)


def test_rebuild_moves_the_alias_and_drops_the_old_index(es_index: EsIndex) -> None:
    client = es_index.client
    es_index.upsert([_doc(1, "低保台账")])
    (before,) = client.indices.get_alias(name=es_index.alias)
    es_index.rebuild([_doc(2, "档案移交清册"), _doc(3, "低保复核")])
    (after,) = client.indices.get_alias(name=es_index.alias)
    assert after != before
    assert not client.indices.exists(index=before)
    assert es_index.codes() == {"J012-WS·2024-D30-0002", "J012-WS·2024-D30-0003"}
    assert es_index.search(Query("低保", frozenset({"J012"}))).total == 1


def test_analysis_makes_bigrams_from_folded_text(es_index: EsIndex) -> None:
    analyze = es_index.client.indices.analyze
    search_tokens = analyze(index=es_index.alias, analyzer="dangan_search", text="低保户")["tokens"]
    assert [t["token"] for t in search_tokens] == ["低保", "保户"]
    index_tokens = {t["token"] for t in analyze(index=es_index.alias, analyzer="dangan_index", text="低保")["tokens"]}
    assert index_tokens == {"低", "保", "低保"}


def test_template_is_installed_for_new_indices(es_index: EsIndex) -> None:
    templates = es_index.client.indices.get_index_template(name=f"{es_index.prefix}-items")["index_templates"]
    assert templates[0]["index_template"]["index_patterns"] == [f"{es_index.prefix}-items-*"]
