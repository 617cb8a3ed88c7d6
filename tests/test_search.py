"""检索 (search): one behavioural suite run over every backend, plus the shared text rules.

The suite in :class:`TestBehaviour` runs against SQLite FTS5 always and against Elasticsearch
when ``DANGAN_ES_URL`` names a live server (see ``tests/test_search_es_live.py`` for the
Elasticsearch-only checks). Expected answers are computed by brute force over the same small,
hand-written documents, so a backend cannot agree with itself by accident.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search import (
    Query,
    SearchConfigError,
    SearchDoc,
    SearchIndex,
    SearchQueryError,
    SearchResult,
    fold,
    load_synonyms,
    open_index,
)

ES_URL_ENV = "DANGAN_ES_URL"
ES_SKIP_REASON = "DANGAN_ES_URL 未设置, 未连接 Elasticsearch (no Elasticsearch at DANGAN_ES_URL; live tests skipped)"
ALL = frozenset({"J012", "J013", "J014"})


def d(code: str, year: int, category: str, retention: str, title: str, date: str = "", meta: str = "", body: str = ""):
    return SearchDoc(code, code[:4], year, category, retention, title, date, meta, body)


DOCS = [
    d("J012-WS·2024-D30-0001", 2024, "WS", "D30", "关于低保户年度审核的通知", "20240315",
      "振兴社区居委会 振社〔2024〕1号", "各网格员：请于三月底前完成低保户家庭收入核查，逾期不报的取消资格。"),
    d("J012-WS·2024-D30-0002", 2024, "WS", "D30", "社区工作报告", "20240401", "振兴社区居民委员会",
      "本年度共办理最低生活保障申请十二件，相关材料已整理归档。"),
    d("J012-WS·2023-Y-0001", 2023, "WS", "Y", "檔案管理制度", "20230101", "振興社區居民委員會",
      "本制度規定了居民委員會檔案的收集、整理與保管。"),
    d("J012-WS·2023-Y-0002", 2023, "WS", "Y", "档案室安全检查记录", "20230610", "", "对档案室进行防火、防潮检查。"),
    d("J012-KU·2023-D30-0001", 2023, "KU", "D30", "2023年度办公经费收支凭证", "20231231", "会计 凭证号ＡＢＣ１２３",
      "凭证编号 ＡＢＣ１２３，共计三十页。"),
    d("J012-ZP·2022-Y-0001", 2022, "ZP", "Y", "垃圾分类宣传活动照片", "20220505"),
    d("J012-WS·2022-D10-0001", 2022, "WS", "D10", "关于开展计生宣传月活动的通知", "", "",
      "计划生育宣传月期间，各楼组长做好入户宣传。"),
    d("J012-WS·2022-D10-0002", 2022, "WS", "D10", "关于加装电梯的请示", "20220801", "", "申请为三号楼加装一部电梯。"),
    d("J012-WS·2022-D10-0003", 2022, "WS", "D10", "社区工作简报", "20220901", "",
      "本月开展了环境卫生整治、消防安全检查和老年人助餐服务，" * 6 + "另有居民咨询电梯事宜。"),
    d("J013-WS·2024-D10-0001", 2024, "WS", "D10", "低保公示", "20240101", "和平社区居委会",
      "低保名单公示，公示期七天。"),
    d("J013-WS·2024-D10-0002", 2024, "WS", "D10", "最低生活保障复核情况报告", "20240202", "", "复核档案三十份。"),
    d("J014-WS·2024-Y-0001", 2024, "WS", "Y", "居民委员会换届选举工作方案", "20240303", "",
      "选举委员会由五人组成，负责低保等民生事项公开。"),
]  # fmt: skip
# Items that mention none of the words the tests look for: they give BM25 a realistic document frequency.
FILLER = [
    d(
        f"J012-WS·2021-D10-{n:04d}",
        2021,
        "WS",
        "D10",
        f"第{n}次居务会议纪要",
        "20210110",
        body="会议讨论了绿化和停车管理。",
    )
    for n in range(1, 16)
]
CORPUS = DOCS + FILLER


# -- backends -----------------------------------------------------------------------------------


class Backend:
    """Opens fresh handles on one backend's storage: a second handle is a second reader."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.prefix = f"dangan-test-{uuid.uuid4().hex[:12]}"
        self.path = tmp_path / "search.db"
        self.opened: list[SearchIndex] = []

    def open(self) -> SearchIndex:
        if self.kind == "sqlite":
            index = open_index("sqlite", path=self.path)
        else:
            index = open_index("elasticsearch", url=os.environ[ES_URL_ENV], index_prefix=self.prefix, refresh=True)
        self.opened.append(index)
        return index

    def cleanup(self) -> None:
        if self.kind == "elasticsearch" and self.opened:
            client = self.opened[0].client  # type: ignore[attr-defined]
            client.indices.delete(index=f"{self.prefix}-items-*", ignore_unavailable=True)
            client.options(ignore_status=404).indices.delete_index_template(name=f"{self.prefix}-items")
        for index in self.opened:
            index.close()


@pytest.fixture(params=["sqlite", "elasticsearch"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "elasticsearch" and not os.environ.get(ES_URL_ENV):
        pytest.skip(ES_SKIP_REASON)
    b = Backend(request.param, tmp_path)
    yield b
    b.cleanup()


@pytest.fixture
def index(backend: Backend) -> SearchIndex:
    ix = backend.open()
    ix.upsert(CORPUS)
    return ix


def q(text: str, visible: frozenset[str] = ALL, **filters) -> Query:
    return Query(text, visible, **filters)


def codes(result: SearchResult) -> set[str]:
    return {h.archival_code for h in result.hits}


def brute(words: tuple[str, ...], visible: frozenset[str] = ALL, keep: Callable[[SearchDoc], bool] = lambda d: True):
    """The documents a correct index returns: folded text containing any of ``words``."""

    def text(doc: SearchDoc) -> str:
        return fold(" ".join((doc.title, doc.archival_code, doc.metadata_text, doc.body)))

    return [
        doc for doc in CORPUS if doc.fonds_code in visible and keep(doc) and any(fold(w) in text(doc) for w in words)
    ]


def brute_facets(docs: list[SearchDoc]) -> dict[str, dict]:
    return {
        "fonds": dict(Counter(x.fonds_code for x in docs)),
        "year": dict(Counter(x.year for x in docs)),
        "category": dict(Counter(x.category for x in docs)),
        "retention": dict(Counter(x.retention for x in docs)),
    }


# -- the behavioural suite, every backend ---------------------------------------------------------


class TestBehaviour:
    def test_two_character_query_has_complete_recall_with_synonyms(self, index: SearchIndex) -> None:
        result = index.search(q("低保", limit=50))
        expected = {x.archival_code for x in brute(("低保", "最低生活保障"))}
        assert len(expected) == 5  # 低保户, 最低生活保障 in a body and in a title, 低保 in J013 and J014
        assert codes(result) == expected
        assert result.total == len(expected)

    def test_synonym_works_from_the_long_form_too(self, index: SearchIndex) -> None:
        assert codes(index.search(q("最低生活保障", limit=50))) == codes(index.search(q("低保", limit=50)))
        assert codes(index.search(q("居民委员会", limit=50))) >= {"J012-WS·2024-D30-0001"}  # it says 居委会

    def test_traditional_finds_simplified_and_back(self, index: SearchIndex) -> None:
        simplified = codes(index.search(q("档案", limit=50)))
        traditional = codes(index.search(q("檔案", limit=50)))
        assert simplified == traditional == {x.archival_code for x in brute(("档案",))}
        assert "J012-WS·2023-Y-0001" in simplified  # written 檔案
        assert "J012-WS·2023-Y-0002" in traditional  # written 档案
        assert codes(index.search(q("檔案管理制度"))) == {"J012-WS·2023-Y-0001"}

    def test_full_width_and_case_fold(self, index: SearchIndex) -> None:
        assert codes(index.search(q("abc123"))) == {"J012-KU·2023-D30-0001"}
        assert codes(index.search(q("ＡＢＣ１２３"))) == {"J012-KU·2023-D30-0001"}

    def test_archival_code_whole_or_prefix(self, index: SearchIndex) -> None:
        assert codes(index.search(q("J012-WS·2024-D30-0002"))) == {"J012-WS·2024-D30-0002"}
        prefix = index.search(q("J012-WS·2024", limit=50))
        assert codes(prefix) == {"J012-WS·2024-D30-0001", "J012-WS·2024-D30-0002"}
        assert codes(index.search(q("j012-ws・2024", limit=50))) == codes(prefix)  # case and dot variants
        assert index.search(q("J012-WS·2019")).total == 0
        assert codes(index.search(q("J012-WS·2024 归档"))) == {"J012-WS·2024-D30-0002"}

    def test_terms_are_anded_and_quotes_make_a_phrase(self, index: SearchIndex) -> None:
        assert codes(index.search(q("低保 公示"))) == {"J013-WS·2024-D10-0001"}
        assert codes(index.search(q('"加装一部电梯"'))) == {"J012-WS·2022-D10-0002"}
        assert index.search(q('"电梯加装"')).total == 0

    def test_single_character_query(self, index: SearchIndex) -> None:
        expected = {x.archival_code for x in brute(("梯",))}
        assert codes(index.search(q("梯", limit=50))) == expected == {"J012-WS·2022-D10-0002", "J012-WS·2022-D10-0003"}

    def test_a_word_broken_across_lines_or_pages_is_found(self, index: SearchIndex) -> None:
        broken = d("J014-WS·2024-Y-0002", 2024, "WS", "Y", "宣传工作记录", "20240310",
                   body="本月开展垃圾\n分类宣传，发放防汛\f物资清单。\nwaste\nsorting")  # fmt: skip
        index.upsert([broken])
        result = index.search(q("垃圾分类", limit=50))
        assert codes(result) == {"J012-ZP·2022-Y-0001", "J014-WS·2024-Y-0002"}
        snippet = next(h.snippet for h in result.hits if h.archival_code == "J014-WS·2024-Y-0002")
        marked = snippet.replace("】【", "").split("【", 1)[1].split("】", 1)[0]
        assert marked.replace(" ", "") == "垃圾分类", snippet  # the original 垃圾, the break, 分类
        assert codes(index.search(q("防汛物资"))) == {"J014-WS·2024-Y-0002"}
        assert codes(index.search(q("waste sorting"))) == {"J014-WS·2024-Y-0002"}
        assert index.search(q("wastesorting")).total == 0  # between Latin words a break still separates

    def test_a_room_number_shaped_like_an_archival_code_is_text(self, index: SearchIndex) -> None:
        resident = d(
            "J013-WS·2024-D10-0003", 2024, "WS", "D10", "住户信息登记表", "20240105", meta="住址紫藤小区B2-301室"
        )
        index.upsert([resident])
        assert codes(index.search(q("B2-301"))) == {resident.archival_code}
        assert codes(index.search(q("b2-301"))) == codes(index.search(q("B2-301室"))) == {resident.archival_code}
        assert codes(index.search(q("J013-WS·2024", limit=50))) == {
            "J013-WS·2024-D10-0001",
            "J013-WS·2024-D10-0002",
            resident.archival_code,
        }

    def test_a_character_simplified_by_its_word_is_found_alone(self, index: SearchIndex) -> None:
        place = d("J014-WS·2024-Y-0003", 2024, "WS", "Y", "地名沿革", "20240106",
                  body="乾隆年间建成，旧称乾坤巷。據瞭解，計畫明年修繕。")  # fmt: skip
        index.upsert([place])
        for text in ("乾", "乾隆", "坤", "乾坤巷", "瞭", "了解", "瞭解", "计划", "計畫", "畫"):
            assert place.archival_code in codes(index.search(q(text, limit=50))), text
        assert index.search(q("干")).total == 0  # a simplified 干 is not the 乾 of 乾隆

    def test_full_width_dates_filter_as_ascii_ones_do(self, index: SearchIndex) -> None:
        plain = index.search(q("低保", date_from="20240101", date_to="20240331", limit=50))
        wide = index.search(q("低保", date_from="２０２４０１０１", date_to="２０２４０３３１", limit=50))
        assert codes(wide) == codes(plain) and wide.total == plain.total == 4

    def test_spaces_do_not_count_towards_the_length_limit(self, index: SearchIndex) -> None:
        assert index.search(q("档案" + " " * 300)).total == index.search(q("档案")).total > 0

    @pytest.mark.parametrize(
        ("filters", "keep"),
        [
            ({"year_from": 2023, "year_to": 2023}, lambda x: x.year == 2023),
            ({"category": "WS", "retention": "Y"}, lambda x: x.category == "WS" and x.retention == "Y"),
            ({"fonds": "J013"}, lambda x: x.fonds_code == "J013"),
            ({"date_from": "20240101", "date_to": "20240331"}, lambda x: "20240101" <= x.date <= "20240331"),
        ],
    )
    def test_filters_and_facets_match_brute_force(self, index: SearchIndex, filters: dict, keep) -> None:
        for text, words in (("低保", ("低保", "最低生活保障")), ("档案", ("档案",)), ("社区", ("社区",))):
            expected = brute(words, keep=keep)
            result = index.search(q(text, limit=50, **filters))
            assert codes(result) == {x.archival_code for x in expected}, (text, filters)
            assert result.total == len(expected)
            assert result.facets == brute_facets(expected)

    def test_facets_cover_the_whole_result_not_the_page(self, index: SearchIndex) -> None:
        result = index.search(q("低保", limit=1))
        assert len(result.hits) == 1
        assert result.facets == brute_facets(brute(("低保", "最低生活保障")))
        assert sum(result.facets["fonds"].values()) == result.total == 5

    def test_empty_text_with_a_filter_lists_the_filtered_items(self, index: SearchIndex) -> None:
        result = index.search(q("", category="KU"))
        assert codes(result) == {"J012-KU·2023-D30-0001"}
        listing = index.search(q("", year_from=2022, year_to=2022, limit=50))
        assert [h.archival_code for h in listing.hits] == sorted(x.archival_code for x in CORPUS if x.year == 2022)

    def test_visible_fonds_never_leaks(self, index: SearchIndex) -> None:
        only = frozenset({"J012"})
        for text in ("低保", "档案", "居民委员会", "", "J013-WS·2024"):
            filters = {} if text else {"year_from": 2000}
            result = index.search(q(text, only, limit=50, **filters))
            assert all(h.archival_code.startswith("J012-") for h in result.hits), text
            assert set(result.facets["fonds"]) <= {"J012"}, text
            assert result.total == sum(result.facets["fonds"].values())
        assert index.search(q("低保", only)).total == 2  # J013 has two more, J014 one
        hidden = index.search(q("低保", only, fonds="J013"))
        assert hidden.total == 0 and hidden.hits == [] and hidden.facets["year"] == {}

    @pytest.mark.parametrize("text", ["社区", "低保"])  # 低保: title matches, then body-only matches
    def test_pagination_is_stable_and_complete(self, index: SearchIndex, text: str) -> None:
        whole = index.search(q(text, limit=50))
        assert whole.total == 5
        for size in (1, 2, 3):
            pages = [index.search(q(text, limit=size, offset=o)) for o in range(0, whole.total, size)]
            paged = [h.archival_code for p in pages for h in p.hits]
            assert paged == [h.archival_code for h in whole.hits], size
            assert all(p.total == whole.total for p in pages)
        assert index.search(q(text, limit=2, offset=whole.total)).hits == []

    def test_title_match_ranks_above_body_only_match(self, index: SearchIndex) -> None:
        hits = index.search(q("电梯")).hits
        assert [h.archival_code for h in hits] == ["J012-WS·2022-D10-0002", "J012-WS·2022-D10-0003"]
        assert hits[0].score > hits[1].score

    def test_snippets_mark_the_match(self, index: SearchIndex) -> None:
        for hit in index.search(q("低保", limit=50)).hits:
            marked = hit.snippet.replace("】【", "").split("【", 1)[1].split("】", 1)[0]
            assert fold(marked) in {"低保", "最低生活保障"}, hit.snippet
        body_hit = index.search(q("档案室")).hits[0]
        assert "【档案室】" in body_hit.snippet.replace("】【", "")  # ES may mark overlapping bigrams apart
        traditional = index.search(q("档案管理")).hits[0]
        assert fold(traditional.snippet.replace("】【", "").split("【")[1].split("】")[0]) == "档案管理"

    def test_upsert_replaces_and_delete_removes(self, backend: Backend, index: SearchIndex) -> None:
        changed = d("J012-WS·2022-D10-0002", 2022, "WS", "D10", "关于更换消防器材的请示", "20220801")
        assert index.upsert([changed]) == 1
        assert "J012-WS·2022-D10-0002" not in codes(index.search(q("电梯")))
        assert codes(index.search(q("消防器材"))) == {"J012-WS·2022-D10-0002"}
        assert index.delete(["J012-WS·2022-D10-0002", "J099-XX·1999-Y-0001"]) == 1
        assert index.search(q("消防器材")).total == 0
        assert index.codes() == {x.archival_code for x in CORPUS} - {"J012-WS·2022-D10-0002"}
        assert backend.open().codes() == index.codes()  # another handle sees the same index

    def test_rebuild_swaps_atomically(self, backend: Backend, index: SearchIndex) -> None:
        reader = backend.open()
        during: list[int] = []
        replacement = [d(f"J012-WS·2020-Y-{n:04d}", 2020, "WS", "Y", f"新建低保台账{n}") for n in range(1, 5)]

        def feed() -> Iterator[SearchDoc]:
            for n, doc in enumerate(replacement):
                if n == 2:  # half-way through the new index, readers still see the old one whole
                    during.append(reader.search(q("低保", limit=50)).total)
                    during.append(len(reader.codes()))
                yield doc

        assert index.rebuild(feed()) == 4
        assert during == [5, len(CORPUS)]
        assert reader.codes() == {x.archival_code for x in replacement}
        assert reader.search(q("低保")).total == 4
        assert index.search(q("档案")).total == 0

    @pytest.mark.parametrize(
        "text",
        ['"', '""', "*", "低保*", "NEAR(低保 档案)", "低保 AND 档案", "低保 OR", "NOT 档案", "^低保", "title:低保",
         "body : 档案", "(((", "低保\"", "'; DROP TABLE docs; --", "\x00", "低\u200b保", "{title}: x", "-", "+低保"],
    )  # fmt: skip
    def test_query_syntax_is_never_passed_through(self, index: SearchIndex, text: str) -> None:
        try:
            result = index.search(q(text))
        except SearchQueryError as exc:
            assert exc.message and exc.exit_code == 2
        else:
            assert result.total >= 0

    def test_fts_operators_are_plain_words(self, index: SearchIndex) -> None:
        assert index.search(q("低保 AND")).total == 0  # "and" is a word no record contains
        assert index.search(q("低保*")).total == index.search(q("低保")).total  # * is a separator

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("", "请输入检索词"),
            ("   ", "请输入检索词"),
            ("，。！？……——", "没有可检索的文字"),
            ("《》【】", "没有可检索的文字"),
            ("档" * 10_000, "检索词过长"),
        ],
    )
    def test_bad_queries_get_a_chinese_message(self, index: SearchIndex, text: str, says: str) -> None:
        with pytest.raises(SearchQueryError, match=says):
            index.search(q(text))


# -- checks of the interface that need no backend ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"visible_fonds": frozenset()}, "可见全宗"),
        ({"visible_fonds": "J012"}, "visible_fonds"),
        ({"limit": 0}, "每页条数"),
        ({"limit": 101}, "每页条数"),
        ({"offset": 9_990, "limit": 20}, "翻页超出范围"),
        ({"date_from": "2024-01-01"}, "YYYYMMDD"),
        ({"date_from": "20231399"}, "日期不存在"),
        ({"date_to": "20230229"}, "日期不存在"),
        ({"date_from": "00000101"}, "00000101"),
        ({"date_from": "\u0662\u0660\u0662\u0663\u0660\u0663\u0661\u0665"}, "YYYYMMDD"),  # Arabic-Indic digits
        ({"year_from": "2024"}, "年度应为整数"),
    ],
)
def test_query_is_validated(kwargs: dict, says: str) -> None:
    args = {"text": "低保", "visible_fonds": ALL, **kwargs}
    with pytest.raises(SearchQueryError, match=says):
        Query(**args)


def test_full_width_date_digits_are_normalised() -> None:
    query = Query("低保", ALL, date_from="２０２３０３１５", date_to=" 20240229 ")
    assert (query.date_from, query.date_to) == ("20230315", "20240229")


def test_elasticsearch_gets_the_folded_text_and_knows_an_index_folded_otherwise() -> None:
    from search.es import EsIndex, doc_source, index_template

    doc = SearchDoc("J012-WS·2024-Y-0001", "J012", 2024, "WS", "Y", "题名", body="开展垃圾\n分类宣传")
    assert doc_source(doc)["body"] == "开展垃圾分类宣传"  # cjk_bigram joins only characters that touch

    class Indices:
        mapping: dict = {}

        def put_index_template(self, **_: object) -> None:
            pass

        def exists_alias(self, **_: object) -> bool:
            return True

        def get_mapping(self, **_: object) -> dict:
            return {"dangan-items-1": {"mappings": self.mapping}}

    class Client:
        indices = Indices()

        def close(self) -> None:
            pass

    index = EsIndex("http://127.0.0.1:9", "dangan", client=Client())
    Indices.mapping = {"dynamic": "strict", "properties": {}}  # made before the rules were recorded
    assert "重建" in (index.outdated() or "")
    Indices.mapping = index_template("dangan")["template"]["mappings"]
    assert index.outdated() is None
    index.close()


def test_result_to_dict_shape() -> None:
    from search import Hit

    result = SearchResult(
        3, [Hit("J012-WS·2024-D30-0001", "题名", "【低保】", 1.5)], {"fonds": {"J012": 3}, "year": {2024: 3}}
    )
    assert result.to_json() == {
        "total": 3,
        "hits": [{"archival_code": "J012-WS·2024-D30-0001", "title": "题名", "snippet": "【低保】", "score": 1.5}],
        "facets": {"fonds": {"J012": 3}, "year": {"2024": 3}, "category": {}, "retention": {}},
    }


def test_open_index_refuses_unknown_kinds_and_options(tmp_path: Path) -> None:
    with pytest.raises(SearchConfigError, match="未知的检索后端"):
        open_index("whoosh", path=tmp_path / "x")
    with pytest.raises(SearchConfigError, match="参数有误"):
        open_index("sqlite", file=tmp_path / "x")


def test_synonyms_bundled_and_extra_file(tmp_path: Path) -> None:
    bundled = load_synonyms()
    assert "最低生活保障" in bundled["低保"] and "低保" in bundled["最低生活保障"]
    assert "居民委员会" in bundled["居委会"]
    assert len({frozenset((w, *alts)) for w, alts in bundled.items()}) >= 12
    extra = tmp_path / "本馆同义词.txt"
    extra.write_text("# 本馆\n帮扶 = 幫扶對象 = 结对帮扶\n低保 = 低保金\n", encoding="utf-8")
    merged = load_synonyms(extra)
    assert set(merged["帮扶"]) == {"帮扶对象", "结对帮扶"}  # folded to simplified
    assert "低保金" in merged["最低生活保障"]  # groups sharing 低保 joined into one class
    extra.write_text("孤词\n", encoding="utf-8")
    with pytest.raises(SearchConfigError, match="至少需要两个"):
        load_synonyms(extra)
    with pytest.raises(SearchConfigError, match="无法读取同义词表"):
        load_synonyms(tmp_path / "missing.txt")
