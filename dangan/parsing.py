"""What a person types, read into values the library takes: year ranges, sizes, day ranges.

The CLI and the web service pass the text as given; a bad value is a :class:`UsageError`
that names the form expected.
"""

from __future__ import annotations

import re
import unicodedata

from archive.errors import UsageError
from archive.i18n import _

_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def year_range(value: str | None) -> tuple[int | None, int | None]:
    """``2023``, ``2015-2023``, or open-ended ``2015-`` / ``-2023`` (full-width digits too)."""
    if not value:
        return None, None
    first, dash, last = unicodedata.normalize("NFKC", value).strip().partition("-")
    years = (first, last if dash else first)
    if not all(re.fullmatch(r"[0-9]{4}", y) or (dash and not y) for y in years) or years == ("", ""):
        raise UsageError(_("年度应为 2023、2015-2023、2015- 或 -2023: {value}").format(value=value))
    low, high = (int(y) if y else None for y in years)
    if low is not None and high is not None and low > high:
        raise UsageError(_("起始年度晚于结束年度: {value}").format(value=value))
    return low, high


def size(value: str | int | None) -> int | None:
    """``500M``, ``10G``, ``1T`` or plain bytes."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip().upper().removesuffix("B")
    try:
        if text and text[-1] in _SIZE_UNITS:
            return int(float(text[:-1]) * _SIZE_UNITS[text[-1]])
        return int(text)
    except (ValueError, OverflowError):  # OverflowError: int(float("1e400")), an infinite size
        raise UsageError(_("无法识别的大小: {value}; 例如 500M, 10G").format(value=value)) from None


def day_range(value: str | None) -> tuple[str | None, str | None]:
    """``YYYYMMDD-YYYYMMDD``, open at either end, or one day; checked by the search query."""
    first, dash, last = unicodedata.normalize("NFKC", value or "").strip().partition("-")
    if not dash:
        last = first  # one day
    return first or None, last or None
