"""The class codes a person types to filter or hold records (全宗号, 门类, 保管期限), in the form the
catalogue writes them, or refused with the values the archive knows: a code that can match nothing
is a typing mistake, never an empty result."""

from __future__ import annotations

import re
import unicodedata

from archive.archival_code import MIDDLE_DOT, normalise_dots
from archive.config import Settings
from archive.errors import UsageError
from archive.i18n import _, language

from ._profiles import load_profiles

_RETENTION_NAMES = {
    "Y": "Y", "永久": "Y", "D30": "D30", "定期30年": "D30", "30年": "D30", "D10": "D10", "定期10年": "D10",
    "10年": "D10", "C": "C", "长期": "C", "D": "D", "短期": "D",
}  # fmt: skip


def normalise_code(value: str | None) -> str | None:
    """A code typed by a person in comparable form: NFKC, look-alike dots as ``·``, upper case, no blanks."""
    if value is None:
        return None
    return "".join(normalise_dots(unicodedata.normalize("NFKC", value)).split()).upper()


def normalise_retention(text: str) -> str:
    """Names and codes of 保管期限 become codes (永久 → Y); unknown values pass unchanged."""
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()
    return _RETENTION_NAMES.get(key, text.strip())


def class_codes(
    settings: Settings, fonds: str | None, category: str | None, retention: str | None
) -> tuple[str | None, str | None, str | None]:
    """全宗号, 门类 and 保管期限 as the catalogue writes them (j012 → J012, ws → WS, 永久 → Y).

    Raises:
        UsageError: a fonds the home does not hold, or a code not in the code lists (the
            message names the known values).
    """
    if fonds is not None:
        typed = normalise_code(fonds)
        known_fonds = [f.code for f in settings.fonds]
        fonds = next((code for code in known_fonds if normalise_code(code) == typed), None)
        if fonds is None:
            raise UsageError(
                _("本库没有全宗号 {fonds}, 本库全宗: {known}").format(fonds=typed, known=", ".join(known_fonds))
            )
    codes = load_profiles(settings.profiles_dir).codes
    if category is not None:
        category = normalise_code(category) or ""
        problem = codes.category_problem(category)
        # the code lists give their reason in both languages (it is a finding's text too): the one the person reads
        reason = None if problem is None else problem[1] if language() == "en" else problem[0]
        if reason is None and not all(level.isascii() and level.isalnum() for level in category.split(MIDDLE_DOT)):
            reason = _("门类代码只能由字母和数字组成, 各级以“·”分隔")
        if reason is not None:
            raise UsageError(_("门类代码“{category}”无效: {reason}").format(category=category, reason=reason))
    if retention is not None:
        retention = normalise_retention(retention)
        if retention not in codes["retention"].values:
            known = "、".join(codes["retention"].values)
            raise UsageError(
                _("保管期限代码“{retention}”不在代码表中 (可用: {known})").format(retention=retention, known=known)
            )
    return fonds, category, retention
