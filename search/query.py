"""检索式解析 (query parsing): user text → terms a backend can run safely.

Rules, the same for both backends:

* terms separated by spaces are ANDed; ``"…"`` (or “…”, 「…」) makes a phrase that keeps its spaces;
* every term is folded (:func:`search.text.fold`) and reduced to its letters, digits and CJK
  characters, so no character of user text reaches FTS5 or Elasticsearch as syntax
  (``AND``, ``NEAR``, ``*``, ``^``, ``:`` and quotes are plain words or separators);
* a term holding a character OpenCC simplifies by the word around it (乾: 干 alone, 乾 in
  乾隆) is searched in each form it may have in the text (:func:`search.text.fold_variants`);
* a term equal to a synonym (``低保``) becomes the OR of its group (``低保 | 最低生活保障``);
* a term shaped like the start of an 档号 under the bundled rules (全宗号 letters+digits, ``-``,
  then nothing or the 门类 letters and what follows: ``J012-``, ``J012-WS·2024``) becomes a
  prefix filter on the 档号, so the whole code or any leading part of it finds its records.
  Anything else is text: ``B2-301`` (a room number) is searched as the words ``b2 301``, and
  since every 档号 is indexed as words too, a code of another shape is still found as text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from archive.i18n import _
from search.errors import SearchQueryError
from search.synonyms import Synonyms
from search.text import fold_variants, runs, searchable

MAX_QUERY_CHARS = 256  # a longer text is a pasted paragraph, not a query: refused with a message
MAX_TERMS = 16

_PIECE = re.compile(r'"([^"]*)(?:"|$)|[“「『]([^”」』]*)(?:[”」』]|$)|([^\s"“「『]+)')
# 全宗号, "-", then the 门类 code's letters (DA/T 22 and DA/T 13 both begin so): a room
# number (B2-301), a standard (GB2312-80) or a date (2024-03) is not an 档号.
_CODE = re.compile(r"[A-Z]+[0-9]+-(?:[A-Z]+(?:[·.\-][A-Z0-9·\-.]*)?)?")
_DOTS = str.maketrans({"\u30fb": "·", "\uff65": "·", "\u2022": "·", "\u2027": "·", "\u2219": "·"})


@dataclass(frozen=True)
class Term:
    """检索词: one ANDed term; a document matches when it contains any of ``alternatives``.

    Each alternative is folded text, its runs (CJK runs, words) joined by one space.
    """

    alternatives: tuple[str, ...]
    phrase: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """The backend-neutral form of a query's text."""

    terms: tuple[Term, ...] = ()
    code_prefixes: tuple[str, ...] = ()  # normalised 档号 prefixes (see :func:`code_key`)

    @property
    def is_empty(self) -> bool:
        return not self.terms and not self.code_prefixes


def code_key(code: str) -> str:
    """档号 in comparable form: NFKC, upper case, every middle-dot variant as ``·``."""
    return unicodedata.normalize("NFKC", code).translate(_DOTS).upper().strip()


def parse_query(text: str, synonyms: Synonyms) -> ParsedQuery:
    """Parse the user's text; raises :class:`SearchQueryError` with a Chinese message when it cannot run.

    The length limit counts the normalised text without the spaces at its ends, a run of
    spaces inside it as one: spaces only separate terms.
    """
    text = unicodedata.normalize("NFKC", text)
    size = len(" ".join(text.split()))
    if size > MAX_QUERY_CHARS:
        raise SearchQueryError(
            _("检索词过长 ({size} 字), 最多 {max} 字; 请只输入关键词").format(size=size, max=MAX_QUERY_CHARS)
        )
    terms: list[Term] = []
    codes: list[str] = []
    for m in _PIECE.finditer(text):
        phrase = m.group(1) if m.group(1) is not None else m.group(2)
        word = m.group(3)
        if word is not None and _CODE.fullmatch(key := code_key(word)):
            codes.append(key)
            continue
        forms = [searchable(f) for f in fold_variants(phrase if phrase is not None else word)]
        if forms[0]:
            terms.append(Term(_alternatives(forms, synonyms), phrase=phrase is not None))
    terms = list(dict.fromkeys(terms))
    codes = list(dict.fromkeys(codes))
    if len(terms) + len(codes) > MAX_TERMS:
        raise SearchQueryError(_("检索词太多, 最多 {max} 个").format(max=MAX_TERMS))
    if text.strip() and not terms and not codes:
        raise SearchQueryError(_("检索词中没有可检索的文字 (只有标点或符号); 请输入汉字、字母或数字"))
    return ParsedQuery(tuple(terms), tuple(codes))


def _alternatives(forms: list[str], synonyms: Synonyms) -> tuple[str, ...]:
    """The term's folded forms (:func:`search.text.fold` first), then its synonyms' (each found by the first form)."""
    return tuple(dict.fromkeys([*forms, *synonyms.get(forms[0], ())]))


def needs_unigrams(alternative: str) -> bool:
    """True when a bigram phrase cannot express the alternative exactly.

    A lone CJK character has no bigram of its own, and a phrase crossing from one CJK run to
    another (``居委会 低保``, ``2024年``) needs one position per character to line up.
    """
    parts = runs(alternative)
    has_cjk = any(is_cjk for is_cjk, _ in parts)
    return has_cjk and (len(parts) > 1 or any(is_cjk and len(t) == 1 for is_cjk, t in parts))
