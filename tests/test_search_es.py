"""Elasticsearch 后端, without a server: the template, the query bodies and the response parser.

These check the pure functions of ``search/es.py``. The behaviour against a live cluster is
the shared suite in ``tests/test_search.py`` (run when ``DANGAN_ES_URL`` is set) and the
alias checks in ``tests/test_search_es_live.py``.
"""

from __future__ import annotations

import json

import pytest

from search import Query, SearchBackendError, SearchConfigError, SearchDoc, SearchQueryError
from search.es import FIELD_BOOSTS, EsIndex, build_query, bulk_actions, doc_source, index_template, parse_response

ALL = frozenset({"J013", "J012"})
BUILT_IN_FILTERS = {"cjk_width", "lowercase", "cjk_bigram"}


def test_template_uses_built_in_cjk_analysis_only() -> None:
    template = index_template("dangan")
    assert template["index_patterns"] == ["dangan-items-*"]
    settings = template["template"]["settings"]
    assert settings["number_of_shards"] == 1
    analysis = settings["analysis"]
    assert {f["type"] for f in analysis["filter"].values()} == {"cjk_bigram"}
    for analyzer in analysis["analyzer"].values():
        assert analyzer["tokenizer"] == "standard"
        used = {analysis["filter"].get(f, {"type": f})["type"] for f in analyzer["filter"]}
        assert used <= BUILT_IN_FILTERS
    assert analysis["filter"]["dangan_bigram_index"]["output_unigrams"] is True
    assert analysis["filter"]["dangan_bigram_search"]["output_unigrams"] is False
    text = json.dumps(template)
    assert "icu" not in text and "smartcn" not in text and "ik_" not in text  # plugins are not assumed
    props = template["template"]["mappings"]["properties"]
    assert props["body"]["analyzer"] == "dangan_index" and props["body"]["search_analyzer"] == "dangan_search"
    assert props["fonds_code"]["type"] == "keyword" and props["year"]["type"] == "integer"
    assert template["template"]["mappings"]["dynamic"] == "strict"


def test_doc_source_is_folded_like_the_fts_index() -> None:
    doc = SearchDoc("J012-WS·2023-Y-0001", "J012", 2023, "WS", "Y", "檔案管理制度", "20230101", "ＡＢＣ", "居民委員會")
    source = doc_source(doc)
    assert source["title"] == "档案管理制度" and source["title_display"] == "檔案管理制度"
    assert source["metadata"] == "j012-ws·2023-y-0001 abc"
    assert source["body"] == "居民委员会"
    assert source["code_key"] == "J012-WS·2023-Y-0001"
    assert set(source) == set(index_template("x")["template"]["mappings"]["properties"])  # strict mapping fits
    (action,) = bulk_actions("dangan-items", [doc])
    assert action["_id"] == "J012-WS·2023-Y-0001" and action["_op_type"] == "index"


def test_visibility_is_a_hard_filter_not_a_post_filter() -> None:
    body = build_query(Query("低保", ALL))
    assert "post_filter" not in body
    filters = body["query"]["bool"]["filter"]
    assert filters[0] == {"terms": {"fonds_code": ["J012", "J013"]}}
    assert set(body["aggs"]) == {"fonds", "year", "category", "retention"}
    assert body["aggs"]["fonds"]["terms"]["field"] == "fonds_code"
    assert body["track_total_hits"] is True


def test_filters_become_term_and_range_clauses() -> None:
    query = Query(
        "J012-WS·2024 低保",
        ALL,
        fonds="J012",
        year_from=2020,
        year_to=2024,
        category="WS",
        retention="D30",
        date_from="20200101",
        limit=10,
        offset=30,
    )
    body = build_query(query)
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"fonds_code": "J012"}} in filters
    assert {"term": {"category": "WS"}} in filters
    assert {"term": {"retention": "D30"}} in filters
    assert {"range": {"year": {"gte": 2020, "lte": 2024}}} in filters
    assert {"range": {"date": {"gte": "20200101"}}} in filters
    assert {"prefix": {"code_key": "J012-WS·2024"}} in filters
    assert body["from"] == 30 and body["size"] == 10


def test_terms_are_anded_alternatives_ored_with_boosts() -> None:
    body = build_query(Query('低保 "垃圾分类"', ALL))
    must = body["query"]["bool"]["must"]
    assert len(must) == 2
    dibao = must[0]["bool"]
    assert dibao["minimum_should_match"] == 1
    queries = [s["multi_match"]["query"] for s in dibao["should"]]
    assert queries == ["低保", "最低生活保障"]
    for clause in dibao["should"]:
        assert clause["multi_match"]["type"] == "phrase"
        assert clause["multi_match"]["fields"] == list(FIELD_BOOSTS) == ["title^10", "metadata^5", "body"]
        assert "analyzer" not in clause["multi_match"]  # a run of two or more characters: bigrams
    assert body["sort"][0] == "_score"
    assert body["highlight"]["pre_tags"] == ["【"] and body["highlight"]["post_tags"] == ["】"]


@pytest.mark.parametrize(
    ("text", "unigram"), [("梯", True), ("2024年", True), ('"居委会 低保"', True), ("低保", False)]
)
def test_unigram_analyzer_where_bigrams_cannot_express_the_term(text: str, unigram: bool) -> None:
    clause = build_query(Query(text, ALL))["query"]["bool"]["must"][0]["bool"]["should"][0]["multi_match"]
    assert (clause.get("analyzer") == "dangan_unigram") is unigram


def test_user_syntax_never_reaches_elasticsearch() -> None:
    body = build_query(Query('title:低保 AND "NEAR(*)" ^2 {x}', ALL))
    queries = [s["multi_match"]["query"] for m in body["query"]["bool"]["must"] for s in m["bool"]["should"]]
    assert all(set(q) <= set("abcdefghijklmnopqrstuvwxyz0123456789 低保") for q in queries), queries
    assert "query_string" not in json.dumps(body)


def test_listing_without_text_sorts_by_code() -> None:
    body = build_query(Query("", ALL, year_from=2020))
    assert body["query"]["bool"]["must"] == []
    assert body["sort"] == [{"archival_code": "asc"}]
    assert "highlight" not in body
    with pytest.raises(SearchQueryError, match="请输入检索词"):
        build_query(Query("", ALL))


def test_parse_response_reads_hits_snippets_and_facets() -> None:
    response = {
        "hits": {
            "total": {"value": 2, "relation": "eq"},
            "hits": [
                {
                    "_id": "J012-WS·2024-D30-0001",
                    "_score": 3.5,
                    "_source": {"archival_code": "J012-WS·2024-D30-0001", "title_display": "關於低保的通知"},
                    "highlight": {"body": ["无匹配的开头"], "title": ["关于【低保】的通知"]},
                },
                {"_id": "J013-X", "_score": None, "_source": {"archival_code": "J013-X", "title_display": "照片"}},
            ],
        },
        "aggregations": {
            "fonds": {"buckets": [{"key": "J013", "doc_count": 1}, {"key": "J012", "doc_count": 1}]},
            "year": {"buckets": [{"key": 2024, "doc_count": 2}]},
            "category": {"buckets": [{"key": "WS", "doc_count": 2}]},
            "retention": {"buckets": []},
        },
    }
    result = parse_response(response)
    assert result.total == 2
    assert result.hits[0].snippet == "关于【低保】的通知"  # the marked fragment wins over the no-match one
    assert result.hits[0].title == "關於低保的通知"
    assert result.hits[1].snippet == "照片" and result.hits[1].score == 0.0
    assert result.facets == {"fonds": {"J012": 1, "J013": 1}, "year": {2024: 2}, "category": {"WS": 2}, "retention": {}}


def test_unreachable_server_is_a_backend_error() -> None:
    # A closed local port: a real refused connection, no server is imitated.
    with pytest.raises(SearchBackendError, match="无法连接 Elasticsearch"):
        EsIndex("http://127.0.0.1:9", "dangan-test", timeout=2)
    with pytest.raises(SearchConfigError, match="地址无效"):
        EsIndex("not a url", "dangan-test")
