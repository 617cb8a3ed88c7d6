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
