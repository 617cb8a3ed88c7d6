"""中文检索文本处理: the folding and token rules shared by every search backend.

Both backends index and query the same *folded* text, so they agree on what matches:

* 全角/半角 (full-width/half-width) and compatibility forms: Unicode NFKC, so ``ＡＢＣ１２３`` is ``ABC123``;
* 繁体→简体 (traditional → simplified): OpenCC ``t2s``, so ``檔案`` and ``档案`` are one word;
* 大小写 (case): ``str.casefold``.

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
            raise MissingDependencyError(
                "缺少 OpenCC, 无法进行繁简转换; 请安装: pip install opencc "
                "(OpenCC is missing: simplified/traditional folding needs it)"
            ) from exc
        conv = opencc.OpenCC(config)
        setattr(_local, config, conv)
    return conv


def fold(text: str) -> str:
    """检索归一化: NFKC (full-width → half-width), traditional → simplified, case fold."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    return converter().convert(text).casefold()


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` and map each folded character back to its index in ``text``.

    The map lets snippets highlight the *original* characters. NFKC may change the length
    of one character (``…`` → ``...``), so it runs character by character outside the long
    stretches of ASCII and unified ideographs, which it leaves alone. OpenCC converts
    phrases; when that changes the length (rare) the text is converted character by character.
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
    if len(folded) == len(simplified):
        return folded, origin
    chars: list[str] = []
    folded_origin: list[int] = []
    for ch, i in zip(simplified, origin, strict=True):
        low = ch.casefold()
        chars.append(low)
        folded_origin.extend([i] * len(low))
    return "".join(chars), folded_origin


def _nfkc_chars(text: str, start: int, end: int, pieces: list[str], origin: list[int]) -> None:
    for i in range(start, end):
        norm = unicodedata.normalize("NFKC", text[i])
        pieces.append(norm)
        origin.extend([i] * len(norm))


def runs(folded: str) -> list[tuple[bool, str]]:
    """Split folded text into ``(is_cjk, text)`` runs; punctuation and spaces separate runs."""
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
