"""元数据检测: DA/T 70 归档-stage checks of one item's metadata against its profile.

Codes used (DA/T 70-2018, 真实性 and 完整性 at 归档):
GD-1-2 元数据项长度, GD-1-3 数据类型与格式, GD-1-4 值域符合度, GD-1-5 数据值合理性,
GD-1-6 含特殊字符, GD-2-4 必填著录项. Only failures and warnings are returned, so an
empty list means the metadata passed; callers record the 通过 verdicts themselves.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from archive.model import Finding, ItemMetadata, Verdict

from ._chars import char_problems
from ._codes import CodeLists
from ._profiles import FieldSpec, Profile, Profiles

_VERDICTS = {"failure": Verdict.failed, "warning": Verdict.warning}
_DATE = re.compile(r"[0-9]{8}")


def _show(value: object) -> str:
    """A value for messages: escapes invisible characters and cuts long text."""
    text = value if isinstance(value, str) else repr(value)
    shown = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:80])
    return shown + ("…" if len(text) > 80 else "")


def _finding(
    code: str,
    spec: FieldSpec,
    value: object,
    zh: str,
    en: str,
    *,
    verdict: Verdict = Verdict.failed,
    expected: str | None = None,
) -> Finding:
    return Finding(
        code=code,
        verdict=verdict,
        message=f"{spec.element}“{_show(value)}”{zh} / {spec.label_en} '{_show(value)}' {en}",
        expected=expected,
        found=_show(value),
    )


def _is_empty(value: object) -> bool:
    # Whitespace-only counts as empty for 必填 fields; in optional ones the character
    # check reports it instead of letting it pass silently.
    return value is None or (isinstance(value, str) and not value.strip())


def validate_metadata(
    meta: ItemMetadata, profile: Profile, codes: CodeLists, *, today: dt.date | None = None
) -> list[Finding]:
    """Check one item's 著录项 against a profile and the code lists (元数据检测).

    Args:
        meta: The item's metadata.
        profile: The profile for its 门类 (``profiles.for_category(meta.category)``).
        codes: The code lists (``profiles.codes``).
        today: The reference date for "not in the future" checks; defaults to today.

    Returns:
        Failures and warnings only, each with its DA/T 70 code and a message that
        names the field in Chinese and English and shows the value.
    """
    today = today or dt.date.today()
    findings: list[Finding] = []
    for attr, spec in profile.fields.items():
        findings.extend(_check_field(meta, getattr(meta, attr), spec, profile, codes, today))
    findings.extend(_check_date_year(meta, profile))
    return findings


def validate_fonds(code: str, name: str, profiles: Profiles, *, today: dt.date | None = None) -> list[Finding]:
    """全宗号 and 立档单位名称 checked as every item's will be, so that ``dangan init`` refuses a
    fonds no item could be archived under."""
    profile = profiles.profiles["default"]
    meta = ItemMetadata(fonds_code=code, fonds_name=name, category="", year=0, retention="", title="")
    today = today or dt.date.today()
    return [
        finding
        for attr in ("fonds_code", "fonds_name")
        for finding in _check_field(meta, getattr(meta, attr), profile.fields[attr], profile, profiles.codes, today)
    ]


def _check_field(
    meta: ItemMetadata, value: object, spec: FieldSpec, profile: Profile, codes: CodeLists, today: dt.date
) -> Iterator[Finding]:
    if _is_empty(value) and (profile.is_required(spec.attr) or not value):
        if profile.is_required(spec.attr):
            yield Finding(
                code="GD-2-4",
                verdict=Verdict.failed,
                message=f"{spec.element}为必填著录项，不能为空 / {spec.label_en} is required and must not be empty",
                expected="非空 / not empty",
                found=_show(value),
            )
        return
    if isinstance(value, str):
        char_findings = list(_check_text(value, spec, profile))
        yield from char_findings
        if any(f.failed and f.code == "GD-1-6" for f in char_findings):
            return  # later checks would only restate the same broken characters
    format_findings = list(_check_format(value, spec, today))
    yield from format_findings
    if not format_findings:
        yield from _check_codes(meta, value, spec, profile, codes)


def _check_text(value: str, spec: FieldSpec, profile: Profile) -> Iterator[Finding]:
    if spec.max_length is not None and len(value) > spec.max_length:
        yield _finding(
            "GD-1-2",
            spec,
            value,
            f"长度 {len(value)} 超过上限 {spec.max_length} 字",
            f"is {len(value)} characters, more than {spec.max_length}",
            expected=f"≤{spec.max_length}",
        )
    if spec.chars is None:
        return
    for problem in char_problems(value, profile.char_rules[spec.chars]):
        yield _finding("GD-1-6", spec, value, problem.zh, problem.en, verdict=_VERDICTS[problem.severity])


def _check_format(value: object, spec: FieldSpec, today: dt.date) -> Iterator[Finding]:
    """GD-1-3 (type and form) and, for dates and years, GD-1-5 (plausible values)."""
    if spec.type in ("text", "code"):
        if not isinstance(value, str):
            yield _finding("GD-1-3", spec, value, "应为文本", "must be text")
        elif spec.pattern and not re.fullmatch(spec.pattern, value):
            yield _finding("GD-1-3", spec, value, "格式不符", "has the wrong form", expected=spec.pattern)
    elif spec.type == "date":
        yield from _check_date(value, spec, today)
    elif spec.type == "gyear":
        yield from _check_year(value, spec, today)
    elif spec.type == "int":
        low = spec.min if spec.min is not None else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            yield _finding("GD-1-3", spec, value, f"应为不小于 {low} 的整数", f"must be an integer ≥ {low}")


def _check_date(value: object, spec: FieldSpec, today: dt.date) -> Iterator[Finding]:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        yield _finding(
            "GD-1-3", spec, value, "应为 8 位数字 YYYYMMDD", "must be 8 digits YYYYMMDD", expected="YYYYMMDD"
        )
        return
    try:
        day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        yield _finding("GD-1-3", spec, value, "不是真实存在的日期", "is not a real calendar date")
        return
    if day > today:
        yield _finding("GD-1-5", spec, value, "晚于今天", "is in the future", expected=f"≤{today:%Y%m%d}")


def is_real_date(value: object) -> bool:
    """A DA/T 22 日期: eight ASCII digits YYYYMMDD naming a day that exists."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return False
    return True


def _check_year(value: object, spec: FieldSpec, today: dt.date) -> Iterator[Finding]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 9999:
        yield _finding("GD-1-3", spec, value, "应为 4 位年份", "must be a 4-digit year", expected="YYYY")
        return
    low = spec.min if isinstance(spec.min, int) else 1
    high = today.year if spec.max == "current" else spec.max if isinstance(spec.max, int) else 9999
    if not low <= value <= high:
        yield _finding(
            "GD-1-5", spec, value, f"不在 {low}–{high} 年之间", f"is outside {low}-{high}", expected=f"{low}-{high}"
        )


def _check_codes(
    meta: ItemMetadata, value: object, spec: FieldSpec, profile: Profile, codes: CodeLists
) -> Iterator[Finding]:
    """GD-1-4 值域符合度: code lists, legacy 保管期限 codes and per-profile subsets."""
    if spec.code_list is None or not isinstance(value, str):
        return
    if spec.code_list == "category":
        problem = codes.category_problem(value)
        if problem:
            yield _finding("GD-1-4", spec, value, problem[0], problem[1])
        return
    clist = codes[spec.code_list]
    if value not in clist:
        known = "、".join(c or "（空）" for c in clist.all_codes())
        yield _finding(
            "GD-1-4", spec, value, f"不在代码表中（可用：{known}）", "is not in the code list", expected=known
        )
        return
    if clist.is_legacy(value):
        yield from _check_legacy(meta, value, spec, clist.legacy_before_year)
    allowed = {"retention": profile.allowed_retention, "carrier": profile.allowed_carriers}.get(spec.code_list)
    if allowed is not None and value not in allowed:
        shown = "、".join(sorted(allowed))
        yield _finding(
            "GD-1-4",
            spec,
            value,
            f"不适用于门类 {profile.category}（可用：{shown}）",
            f"is not allowed for category {profile.category} (allowed: {shown})",
            expected=shown,
        )


def _check_legacy(meta: ItemMetadata, value: str, spec: FieldSpec, before: int | None) -> Iterator[Finding]:
    # 长期/短期 ended with the 2006 8号令; a newer record carrying them was mis-appraised.
    if before is not None and (not isinstance(meta.year, int) or meta.year >= before):
        yield _finding(
            "GD-1-4",
            spec,
            value,
            f"为旧保管期限代码，仅适用于 {before} 年以前的年度（本件年度 {meta.year}）",
            f"is a legacy code, allowed only for years before {before} (year {meta.year})",
        )


def _check_date_year(meta: ItemMetadata, profile: Profile) -> Iterator[Finding]:
    """GD-1-5: 日期's year should equal 年度 (DA/T 22 files by 签发日期)."""
    if profile.date_year_mismatch == "ignore" or "date" not in profile.fields or "year" not in profile.fields:
        return
    date, year = meta.date, meta.year
    if not is_real_date(date) or isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999:
        return  # the format checks have already reported it
    if int(date[:4]) != year:
        yield _finding(
            "GD-1-5",
            profile.fields["date"],
            date,
            f"的年份与年度 {year} 不一致（跨年度的计划、总结等按签发日期归年度，请核对）",
            f"does not fall in year {year} (cross-year plans and reports are filed by signing date; please check)",
            verdict=_VERDICTS[profile.date_year_mismatch],
            expected=str(year),
        )
