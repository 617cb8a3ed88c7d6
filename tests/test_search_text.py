"""检索文本处理: folding, n-gram tokens, query parsing and snippets, shared by both backends."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search import SearchQueryError, load_synonyms, parse_query
from search.query import MAX_QUERY_CHARS, MAX_TERMS, needs_unigrams
from search.snippet import make_snippet, match_pattern
from search.text import fold, fold_with_map, index_tokens, query_tokens

SYN = load_synonyms()


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("檔案管理制度", "档案管理制度"),
        ("档案管理制度", "档案管理制度"),
        ("ＡＢＣ１２３", "abc123"),
        ("J012-WS·2024", "j012-ws·2024"),
        ("居民委員會", "居民委员会"),
        ("　低保　", " 低保 "),  # ideographic space
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize("raw", ["檔案……ＡＢＣ㈠低保", "ﬁ檔", "普通文字", "", "Straße 檔"])
def test_fold_with_map_points_back_to_the_original(raw: str) -> None:
    folded, origin = fold_with_map(raw)
    assert len(origin) == len(folded)
    assert origin == sorted(origin)
    for i, ch in enumerate(folded):
        assert ch in fold(raw[origin[i]]) or fold(raw[origin[i]]) == "", (raw, i)


def test_index_tokens_are_bigrams_plus_each_runs_last_character() -> None:
    assert index_tokens(fold("2024年低保户，J012 居委会")) == "2024 年低 低保 保户 户 j012 居委 委会 会"
    assert query_tokens("低保") == (["低保"], False)
    assert query_tokens("低") == (["低"], True)
    assert query_tokens("2024年") == (["2024", "年"], True)
    assert query_tokens("居委会 低保") == (["居委", "委会", "会", "低保"], False)


CJK = st.sampled_from("低保户档案社区居委会民")
ASCII = st.sampled_from("ab19")
TEXT = st.text(alphabet=st.one_of(CJK, ASCII, st.sampled_from(" ，。")), max_size=30)


@given(TEXT, st.data())
@settings(max_examples=200, deadline=None)
@example("城乡低保户", None)
def test_every_substring_is_found_by_its_token_phrase(text: str, data: st.DataObject | None) -> None:
    """The recall guarantee: a query that is a substring of the text has its token phrase in the text's tokens."""
    folded = fold(text)
    stream = index_tokens(folded).split()
    if data is None:
        start, end = 2, 4
    else:
        if not folded.strip():
            return
        start = data.draw(st.integers(0, len(folded) - 1))
        end = data.draw(st.integers(start + 1, len(folded)))
    term = folded[start:end]
    tokens, prefix = query_tokens(term)
    if not tokens:
        return
    if not _word_aligned(folded, start, end):
        return  # a cut through a Latin or digit word is not a word: the index matches those whole
    assert _contains(stream, tokens, prefix), (text, term, tokens, stream)


def _word_aligned(folded: str, start: int, end: int) -> bool:
    def ascii_word(c: str) -> bool:
        return c.isascii() and c.isalnum()

    before = start > 0 and ascii_word(folded[start - 1]) and ascii_word(folded[start])
    after = end < len(folded) and ascii_word(folded[end - 1]) and ascii_word(folded[end])
    return not before and not after


def _contains(stream: list[str], tokens: list[str], prefix: bool) -> bool:
    n = len(tokens)
    for i in range(len(stream) - n + 1):
        window = stream[i : i + n]
        if window[:-1] == tokens[:-1] and (window[-1].startswith(tokens[-1]) if prefix else window[-1] == tokens[-1]):
            return True
    return False


def test_parse_terms_phrases_codes_and_synonyms() -> None:
    parsed = parse_query('低保  "居委会 换届"  J012-WS·2024 ＡＢＣ', SYN)
    assert [t.alternatives for t in parsed.terms] == [
        ("低保", "最低生活保障"),
        ("居委会 换届",),
        ("abc",),
    ]
    assert [t.phrase for t in parsed.terms] == [False, True, False]
    assert parsed.code_prefixes == ("J012-WS·2024",)
    assert parse_query("“入户调查”", SYN).terms[0].phrase
    assert parse_query("居民委員會", SYN).terms[0].alternatives == ("居民委员会", "居委会")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("，。、！", "没有可检索的文字"),
        ("档" * (MAX_QUERY_CHARS + 1), "检索词过长"),
        (" ".join(f"词{n}" for n in range(MAX_TERMS + 1)), "检索词太多"),
    ],
)
def test_parse_refuses_with_a_message(text: str, says: str) -> None:
    with pytest.raises(SearchQueryError, match=says):
        parse_query(text, SYN)


def test_codes_need_letters_digits_and_a_separator() -> None:
    assert parse_query("J012-WS", SYN).code_prefixes == ("J012-WS",)
    assert parse_query("covid-19", SYN).code_prefixes == ()  # a word, not a 档号
    assert parse_query("2024-03", SYN).code_prefixes == ()
    assert parse_query("J012", SYN).terms[0].alternatives == ("j012",)


@pytest.mark.parametrize(("alt", "expected"), [("低", True), ("2024 年", True), ("低保", False), ("abc 12", False)])
def test_needs_unigrams(alt: str, expected: bool) -> None:
    assert needs_unigrams(alt) is expected


def test_snippet_marks_original_characters_of_a_traditional_record() -> None:
    pattern = match_pattern(parse_query("档案 低保", SYN))
    snippet = make_snippet(["這是檔案，低保户ＡＢＣ的檔案。"], pattern)
    assert snippet == "這是【檔案】，【低保】户ＡＢＣ的【檔案】。"


def test_snippet_is_a_window_around_the_first_match() -> None:
    body = "前言。" * 100 + "本社区最低生活保障工作" + "后记。" * 100
    snippet = make_snippet([body, "", "题名"], match_pattern(parse_query("低保", SYN)))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "【最低生活保障】" in snippet
    assert len(snippet) < 100


def test_snippet_without_a_match_is_the_start_of_the_text() -> None:
    assert make_snippet(["", "", "居务会议纪要"], match_pattern(parse_query("低保", SYN))) == "居务会议纪要"
    assert make_snippet(["正文\n第二行"], None) == "正文 第二行"


# -- line breaks, word-dependent characters, 档号-shaped words, lengths -----------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("垃圾\n分类", "垃圾分类"),  # PDFium: a line ending …垃圾, the next starting 分类…
        ("垃圾\r\n分类", "垃圾分类"),
        ("垃圾 \n  分类", "垃圾分类"),  # a space before the break, indentation after it
        ("垃圾\n\f分类", "垃圾分类"),  # a page break
        ("垃圾　\n　分类", "垃圾分类"),  # ideographic spaces
        ("垃圾  分类", "垃圾  分类"),  # spaces alone still separate
        ("waste\nsorting", "waste\nsorting"),  # between Latin words a break stays a separator
        ("垃圾\nabc", "垃圾\nabc"),
        ("垃圾。\n分类", "垃圾。\n分类"),
    ],
)
def test_fold_joins_cjk_across_line_and_page_breaks(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_a_word_broken_across_lines_is_indexed_whole() -> None:
    assert "圾分" in index_tokens(fold("开展垃圾\n分类宣传")).split()
    assert index_tokens(fold("waste\nsorting")) == "waste sorting"
    folded, origin = fold_with_map("檔案\n管理…垃圾 \n分类")
    assert folded == "档案管理...垃圾分类"
    assert [origin[folded.index(c)] for c in "案管圾分"] == [1, 3, 7, 10]


def test_snippet_marks_a_match_across_a_line_break() -> None:
    pattern = match_pattern(parse_query("垃圾分类", SYN))
    assert make_snippet(["本月开展垃圾\n分类宣传。"], pattern) == "本月开展【垃圾 分类】宣传。"
    body = "前言。" * 100 + "本月开展垃圾\r\n分类宣传" + "后记。" * 100
    snippet = make_snippet([body], pattern)
    assert "【垃圾 分类】" in snippet and snippet.startswith("…")


def test_a_character_opencc_simplifies_by_its_word_is_searched_in_each_form() -> None:
    # OpenCC: 乾 alone is 干, in 乾隆 and 乾坤 it stays 乾; 瞭 alone stays, in 瞭解 it is 了.
    assert fold("乾隆年间的乾坤巷") == "乾隆年间的乾坤巷" and fold("乾") == "干"
    assert parse_query("乾", SYN).terms[0].alternatives == ("干", "乾")
    assert parse_query("瞭", SYN).terms[0].alternatives == ("瞭", "了")
    assert parse_query("低保", SYN).terms[0].alternatives == ("低保", "最低生活保障")  # no such character: as before
    pattern = match_pattern(parse_query("乾", SYN))
    assert make_snippet(["乾隆年间的乾坤巷"], pattern) == "【乾】隆年间的【乾】坤巷"


WORDS = st.sampled_from(["乾隆", "乾坤", "乾淨", "瞭解", "計畫", "回覆", "深沈", "樊於期", "低保", "檔案", "ab", "19"])
PIECES = st.one_of(WORDS, st.sampled_from("乾瞭覆沈於干了低保户档案"), st.sampled_from([" ", "，", "\n", " \n ", "\f"]))


@given(st.lists(PIECES, max_size=14).map("".join), st.data())
@settings(max_examples=300, deadline=None)
@example("乾隆年间，乾坤巷", None)
def test_every_substring_of_the_original_is_found(text: str, data: st.DataObject | None) -> None:
    """Recall from the user's side: any piece of the original text, as a query, finds the text,
    whatever OpenCC made of it in context and wherever a line broke it."""
    if data is None:
        start, end = 0, 1  # 乾
    else:
        if not text.strip():
            return
        start = data.draw(st.integers(0, len(text) - 1))
        end = data.draw(st.integers(start + 1, len(text)))
    if not _word_aligned(text, start, end):
        return
    stream = index_tokens(fold(text)).split()
    try:
        parsed = parse_query(f'"{text[start:end]}"', SYN)
    except SearchQueryError:
        return  # only punctuation
    if not parsed.terms:
        return
    found = [alt for alt in parsed.terms[0].alternatives if _contains(stream, *query_tokens(alt))]
    assert found, (text, text[start:end], parsed.terms[0].alternatives, stream)


def test_word_forms_cover_the_installed_opencc_phrase_table(tmp_path) -> None:
    """Every character OpenCC's t2s phrase table converts otherwise than alone is in the table."""
    import os
    import subprocess

    import opencc

    from search.text import _WORD_FORMS, converter

    clib = os.path.join(os.path.dirname(opencc.__file__), "clib")
    tool, source = os.path.join(clib, "bin", "opencc_dict"), os.path.join(clib, "share", "opencc", "TSPhrases.ocd2")
    if not (os.path.exists(tool) and os.path.exists(source)):
        pytest.skip("this OpenCC wheel has no opencc_dict tool or TSPhrases.ocd2 to read the phrase table with")
    out = tmp_path / "TSPhrases.txt"
    subprocess.run([tool, "-i", source, "-o", str(out), "-f", "ocd2", "-t", "text"], check=True, timeout=60)
    missing = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        phrase, outputs = line.split("\t")
        for ch, simplified in zip(phrase, outputs.split(" ")[0], strict=True):
            if simplified != converter().convert(ch) and simplified not in _WORD_FORMS.get(ch, ""):
                missing.add((ch, simplified))
    assert not missing, f"add to search.text._WORD_FORMS: {sorted(missing)}"


def test_only_the_archives_code_shape_is_an_archival_code() -> None:
    assert parse_query("B2-301", SYN).code_prefixes == ()  # a room number: 住址紫藤小区B2-301室
    assert parse_query("B2-301", SYN).terms[0].alternatives == ("b2 301",)
    for word in ("GB2312-80", "A3-B201", "ISO9001-2015", "J012·WS"):
        assert parse_query(word, SYN).code_prefixes == (), word
    for code in ("J012-", "J012-W", "J012-WS", "J012-WS·2024", "J012-ZY·DB·2023-D30-0001", "j012-ws・2024"):
        assert parse_query(code, SYN).code_prefixes, code


def test_query_length_is_counted_without_the_spaces_around_terms() -> None:
    assert parse_query("档案" + " " * 300, SYN).terms[0].alternatives == ("档案",)
    assert parse_query("  档案" + "　" * 300 + "低保\t\t", SYN).terms[1].alternatives[0] == "低保"
    with pytest.raises(SearchQueryError, match=f"检索词过长 \\({MAX_QUERY_CHARS + 1} 字\\)"):
        parse_query(" " * 50 + "档" * (MAX_QUERY_CHARS + 1) + " " * 50, SYN)


def test_many_ambiguous_characters_spend_the_variants_at_the_query_ends():
    """Hypothesis found it: five 乾 in one query are more than the variant cap allows, and the
    lone 乾 at the end (干 alone, 乾 in the text's 乾隆) must be among the forms tried."""
    text = "乾隆乾隆乾隆乾隆乾隆"
    stream = index_tokens(fold(text)).split()
    parsed = parse_query(f'"{text[:9]}"', SYN)
    assert any(_contains(stream, *query_tokens(alt)) for alt in parsed.terms[0].alternatives)
