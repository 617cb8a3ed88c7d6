"""摘要 (snippets): a window of the original text around the first match, matches marked 【】.

Matching runs on folded text (:func:`search.text.fold`) and is mapped back to the original
characters, so a traditional-script record shows its own characters with the simplified
query's words marked. Only the page of hits being returned is ever given snippets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from search.query import ParsedQuery
from search.text import CJK_RANGES, fold, fold_with_map, runs

OPEN, CLOSE = "【", "】"
WIDTH = 80  # characters of original text in one snippet
_SPACE = re.compile(r"\s+")
_WORD_EDGE_BEFORE = f"(?<![^\\W_{CJK_RANGES}])"
_WORD_EDGE_AFTER = f"(?![^\\W_{CJK_RANGES}])"


def match_pattern(parsed: ParsedQuery) -> re.Pattern[str] | None:
    """One regex over folded text that finds any alternative of any term, longest first."""
    alternatives = sorted({alt for term in parsed.terms for alt in term.alternatives}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile("|".join(_alternative_regex(alt) for alt in alternatives))


def _alternative_regex(alternative: str) -> str:
    parts = []
    for is_cjk, text in runs(alternative):
        # Words match whole, as the index tokens do; CJK runs match anywhere.
        parts.append(re.escape(text) if is_cjk else _WORD_EDGE_BEFORE + re.escape(text) + _WORD_EDGE_AFTER)
    return r"[\W_]*".join(parts)


def make_snippet(fields: Sequence[str], pattern: re.Pattern[str] | None, width: int = WIDTH) -> str:
    """The snippet from the first of ``fields`` (body, metadata, title) that matches; else the start of the first."""
    if pattern is not None:
        for text in fields:
            if text and (found := _marked_window(text, pattern, width)) is not None:
                return found
    for text in fields:
        if text:
            return _clean(text[:width]) + ("…" if len(text) > width else "")
    return ""


def _marked_window(text: str, pattern: re.Pattern[str], width: int) -> str | None:
    first = _first_match(text, pattern)
    if first is None:
        return None
    start = max(0, first - width // 4)
    end = min(len(text), start + width)
    # Fold only the window (with a margin for a match running past its edge): long bodies stay cheap.
    margin = min(len(text), end + 16)
    folded, origin = fold_with_map(text[start:margin])
    out: list[str] = ["…"] if start > 0 else []
    pos = start
    for m in pattern.finditer(folded):
        s, e = start + origin[m.start()], start + origin[m.end() - 1] + 1
        if m.end() == m.start() or e <= pos:
            continue
        if s >= end:
            break
        s, e = max(s, pos), min(e, end)
        out += [_clean(text[pos:s]), OPEN, _clean(text[s:e]), CLOSE]
        pos = e
    out.append(_clean(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


def _first_match(text: str, pattern: re.Pattern[str]) -> int | None:
    """Where the first match starts in ``text``, folding only the part before the first raw match."""
    raw = pattern.search(text)  # most records are already simplified, half-width text
    head = text[: raw.start() + 32] if raw else text  # a folded match may begin just before the raw one
    folded = fold(head)
    if len(folded) == len(head):
        found = pattern.search(folded)
        start = found.start() if found else None
    else:
        folded, origin = fold_with_map(head)
        found = pattern.search(folded)
        start = origin[found.start()] if found else None
    if start is None or (raw is not None and raw.start() < start):
        return raw.start() if raw else None
    return start


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text)
