"""保管期限代码: reading retention codes (Y, D30, D10, legacy C/D) as periods.

A code is ``Y`` (永久, no end), ``D<n>`` (定期 n 年; D30 and D10 today, D15/D25 in
pre-2016 会计 records), or a legacy code (长期 C, 短期 D before 2006) whose length in
years the schedule supplies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from archive.i18n import _

from .errors import NoRetentionRuleError

__all__ = ["PERMANENT", "is_longer", "normalise", "period_years", "retention_label"]

#: 永久
PERMANENT = "Y"

_DEFINITE = re.compile(r"D([1-9][0-9]{0,2})")
_LEGACY_LABELS = {"C": "长期", "D": "短期"}


def period_years(code: str, legacy: Mapping[str, int] | None = None) -> int | None:
    """Years a code keeps a record, or None for 永久.

    Raises:
        NoRetentionRuleError: The code is neither Y, D<n>, nor a legacy code in ``legacy``.
    """
    if code == PERMANENT:
        return None
    match = _DEFINITE.fullmatch(code)
    if match:
        return int(match.group(1))
    if legacy and code in legacy:
        return legacy[code]
    raise NoRetentionRuleError(
        _("无法识别的保管期限代码“{code}”，应为 Y、D<年数> 或旧代码 {legacy}").format(
            code=code, legacy="、".join(legacy or {}) or _("（无）")
        ),
        rule="retention:period-code",
    )


def normalise(code: str, legacy: Mapping[str, int] | None = None) -> str:
    """The current code with the same length: legacy ``C`` → ``D30`` when 长期 counts as 30 years."""
    years = period_years(code, legacy)
    return PERMANENT if years is None else f"D{years}"


def is_longer(code: str, other: str, legacy: Mapping[str, int] | None = None) -> bool:
    """True when ``code`` keeps a record strictly longer than ``other`` (永久 is longest)."""
    a, b = period_years(code, legacy), period_years(other, legacy)
    if a is None:
        return b is not None
    return b is not None and a > b


def retention_label(code: str) -> str:
    """The Chinese name of a code for registers: 永久, 定期30年, 长期 …"""
    if code == PERMANENT:
        return "永久"
    match = _DEFINITE.fullmatch(code)
    if match:
        return f"定期{match.group(1)}年"
    return _LEGACY_LABELS.get(code, code)
