"""中文检索文本处理: the folding and token rules shared by every search backend.

Both backends index and query the same *folded* text, so they agree on what matches:

* 全角/半角 (full-width/half-width) and compatibility forms: Unicode NFKC, so ``ＡＢＣ１２３`` is ``ABC123``;
* 繁体→简体 (traditional → simplified): OpenCC ``t2s``, so ``檔案`` and ``档案`` are one word;
* 大小写 (case): ``str.casefold``;
* 换行 (line and page breaks): the spaces around a line or page break between two CJK
  characters are removed, so a word that a PDF text layer or OCR broke across lines
  (``垃圾\n分类``) is one run again. A run of spaces alone still separates, and between
  Latin words or digits a line break stays a separator.

OpenCC converts whole words, so a few traditional characters simplify differently by the
word they stand in (乾 is 干 alone, but stays 乾 in 乾隆; 瞭 stays 瞭 alone but is 了 in
瞭解). A query is shorter than the text around it, so :func:`fold_variants` gives every form
such a character may have taken in the indexed text, and a query searches them all.

:func:`index_tokens` and :func:`query_tokens` turn folded text into the n-gram tokens the
SQLite FTS5 backend stores (see :mod:`search.fts` for why bigrams); :func:`runs` splits
text into CJK runs and words, which query parsing and snippets share.
"""

from __future__ import annotations

import operator
import re
import threading
import unicodedata
from collections.abc import Iterator

from archive.errors import MissingDependencyError
from archive.i18n import _

# Han (BMP, extension A and the supplementary planes), compatibility ideographs, kana and
# hangul: scripts written without spaces, indexed as character bigrams.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_RUN = re.compile(f"(?P<cjk>[{CJK_RANGES}]+)|(?P<word>[^\\W_{CJK_RANGES}]+)")

# NFKC leaves ASCII, CJK punctuation and the unified ideographs unchanged: no per-character
# work there. The full-width forms common in Chinese text (，：；（）), the ideographic space and
# a few more become one character each, so a translation table maps them in one pass first.
_NFKC_STABLE = re.compile(r"[\x00-\x7f\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff]+")
_NFKC_ONE_TO_ONE = {
    c: n
    for c in (*range(0x3000, 0x3040), *range(0xFF00, 0xFFF0))
    if len(n := unicodedata.normalize("NFKC", chr(c))) == 1 and n != chr(c)
}

# Line and page breaks (str.splitlines' set). PDFium ends each line with \r\n and each page
# with \f, OCR engines end lines with \n; Chinese wraps wherever a line is full.
_BREAKS = "\n\r\f\v\x1c\x1d\x1e\x85\u2028\u2029"
# Whitespace between two CJK characters holding at least one break: the first whitespace
# character must follow a CJK one (the pattern starts with \s, so the scan skips text fast).
_LINE_JOIN = re.compile(
    f"\\s(?<=[{CJK_RANGES}]\\s)(?:(?<=[{_BREAKS}])|[^\\S{_BREAKS}]*[{_BREAKS}])\\s*(?=[{CJK_RANGES}])"
)

# Traditional characters OpenCC t2s converts by the word they stand in, with the forms its
# phrase table gives them besides the one it gives the character alone (OpenCC 1.4.2:
# TSPhrases against TSCharacters; the test suite checks the table still covers OpenCC's).
# Folded text holds whichever form the word gave, so a query searches each of them.
_WORD_FORMS = {
    w[0]: w[1:]
    for w in (
        "么幺 乾乾 俱具 剋剋 劄劄 吒吒 哩里 噁𫫇 坏坯 彷仿 徵徵 扞扞 於於 昇昇 氾氾 沈沉 濛濛 甦苏 畫划 "
        "瞭了 祕祕 脩脩 蒐蒐 薹薹 藉借 衹只 袷袷 覆复 計計 谿谿 逕迳 釐釐 鉅钜 鍊链 鍾锺 陞陞 麼麽 麽麽"
    ).split()
}
MAX_VARIANTS = 16  # folded forms of one query term; more only in contrived queries
# Bump when fold() gives other text for the same input: every index stores folded text and
# must then be rebuilt. 2: no line breaks between CJK characters.
FOLD_VERSION = "fold-2"

_local = threading.local()


def converter(config: str = "t2s"):
    """One OpenCC converter per configuration and thread (the C library object is not documented as thread-safe).

    Args:
        config: an OpenCC configuration name: ``t2s`` (traditional → simplified), ``s2t``…
    """
    conv = getattr(_local, config, None)
    if conv is None:
        try:
            import opencc
        except ImportError as exc:  # pragma: no cover - opencc is a declared dependency
            raise MissingDependencyError(_("缺少 OpenCC, 无法进行繁简转换; 请安装: pip install opencc")) from exc
        conv = opencc.OpenCC(config)
        setattr(_local, config, conv)
    return conv


def fold_stamp() -> str:
    """What folded an index's text (these rules and OpenCC's version): kept with the index."""
    import opencc

    return f"{FOLD_VERSION}; opencc {getattr(opencc, '__version__', '?')}"


def fold(text: str) -> str:
    """检索归一化: NFKC (full-width → half-width), traditional → simplified, case fold, and
    no line breaks between CJK characters."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    return _LINE_JOIN.sub("", converter().convert(text).casefold())


def fold_variants(text: str) -> list[str]:
    """Every folded form ``text`` may have inside a longer folded text, :func:`fold` first.

    OpenCC converts some characters by the word around them (:data:`_WORD_FORMS`); a query
    may hold only part of that word (乾 of 乾隆), so each such character is tried in each
    form it takes (乾 → 干 or 乾). Other characters fold alike in every context. At most
    :data:`MAX_VARIANTS` forms, spent on the characters nearest the query's ends first: only
    there can the word around a character run past the query, so a character further in
    keeps the form :func:`fold` gave it in the query's own context, which is the text's.
    """
    first = fold(text)
    folded, origin = fold_with_map(text)
    options: list[tuple[int, tuple[str, ...]]] = []
    count = 1
    for i in sorted(range(len(folded)), key=lambda i: (min(i, len(folded) - 1 - i), i)):
        source = unicodedata.normalize("NFKC", text[origin[i]])
        forms = _WORD_FORMS.get(source)
        if forms is None:
            continue
        choices = tuple(dict.fromkeys((folded[i], converter().convert(source), *forms)))
        if len(choices) > 1 and count * len(choices) <= MAX_VARIANTS:
            options.append((i, choices))
            count *= len(choices)
    variants = [folded]
    for i, choices in options:
        variants = [v[:i] + c + v[i + 1 :] for v in variants for c in choices]
    return list(dict.fromkeys([first, *variants]))


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` and map each folded character back to its index in ``text``.

    The map lets snippets highlight the *original* characters. NFKC may change the length
    of one character (``…`` → ``...``), so it runs character by character outside the long
    stretches of ASCII and unified ideographs, which it leaves alone. OpenCC converts
    phrases; when that changes the length (rare) the text is converted character by character.
    The whitespace :func:`fold` removes at a line break between CJK characters is left out
    of the folded text too, so a match across it maps to the original characters around it.
    """
    text = text.translate(_NFKC_ONE_TO_ONE)  # one character for one: the indices stay the original's
    pieces: list[str] = []
    origin: list[int] = []
    pos = 0
    for m in _NFKC_STABLE.finditer(text):
        _nfkc_chars(text, pos, m.start(), pieces, origin)
        pieces.append(m.group())
        origin.extend(range(m.start(), m.end()))
        pos = m.end()
    _nfkc_chars(text, pos, len(text), pieces, origin)
    nfkc = "".join(pieces)
    conv = converter()
    simplified = conv.convert(nfkc)
    if len(simplified) != len(nfkc):
        simplified = "".join(c2 if len(c2 := conv.convert(c)) == 1 else c for c in nfkc)
    folded = simplified.casefold()
    if len(folded) != len(simplified):
        chars: list[str] = []
        folded_origin: list[int] = []
        for ch, i in zip(simplified, origin, strict=True):
            low = ch.casefold()
            chars.append(low)
            folded_origin.extend([i] * len(low))
        folded, origin = "".join(chars), folded_origin
    return _join_lines(folded, origin)


def _join_lines(folded: str, origin: list[int]) -> tuple[str, list[int]]:
    """:data:`_LINE_JOIN` on folded text, the map kept for the characters that stay."""
    kept: list[str] = []
    kept_origin: list[int] = []
    pos = 0
    for m in _LINE_JOIN.finditer(folded):
        kept.append(folded[pos : m.start()])
        kept_origin += origin[pos : m.start()]
        pos = m.end()
    if not kept:
        return folded, origin
    kept.append(folded[pos:])
    kept_origin += origin[pos:]
    return "".join(kept), kept_origin


def _nfkc_chars(text: str, start: int, end: int, pieces: list[str], origin: list[int]) -> None:
    for i in range(start, end):
        norm = unicodedata.normalize("NFKC", text[i])
        pieces.append(norm)
        origin.extend([i] * len(norm))


def runs(folded: str) -> list[tuple[bool, str]]:
    """Split folded text into ``(is_cjk, text)`` runs; punctuation and spaces separate runs
    (a line break between CJK characters is gone from folded text: it separates nothing)."""
    return [(m.lastgroup == "cjk", m.group()) for m in _RUN.finditer(folded)]


def _bigrams(run: str) -> Iterator[str]:
    return map(operator.add, run, run[1:])


def index_tokens(folded: str) -> str:
    """The token stream FTS5 stores for folded text, as space-separated tokens.

    Every CJK run gives its overlapping bigrams plus its last character alone, so a
    one-character query finds a character at the end of a run too (``低*`` matches ``低保``
    and a final ``低``). Words (Latin letters, digits) are whole tokens.
    """
    out: list[str] = []
    for cjk, word in _RUN.findall(folded):  # one of the two groups matched; findall makes no match objects
        if cjk:
            out.extend(_bigrams(cjk))
            out.append(cjk[-1])
        else:
            out.append(word)
    return " ".join(out)


def query_tokens(folded_term: str) -> tuple[list[str], bool]:
    """The token phrase that finds ``folded_term`` in an :func:`index_tokens` stream.

    Returns ``(tokens, last_is_prefix)``. Inside the term a CJK run ends where the text's run
    ends, so it keeps its final unigram as indexed; the *last* run may continue in the text
    (``低保`` inside ``低保户``), so it keeps only its bigrams, or, when it is one character,
    becomes a prefix token that matches any bigram starting with it.
    """
    parts = runs(folded_term)
    tokens: list[str] = []
    last_is_prefix = False
    for n, (is_cjk, text) in enumerate(parts):
        last = n == len(parts) - 1
        if not is_cjk:
            tokens.append(text)
        elif last and len(text) == 1:
            tokens.append(text)
            last_is_prefix = True
        else:
            tokens.extend(_bigrams(text))
            if not last:
                tokens.append(text[-1])
    return tokens, last_is_prefix


def searchable(folded: str) -> str:
    """The term with its separators normalised: runs joined by one space ('' when nothing is searchable)."""
    return " ".join(text for _, text in runs(folded))
