"""From an item-list row (or a bare file) and the command line to an item's metadata (著录项).

Values from the row win over the class given on the command line; 年度 falls back to
the year of 日期 (DA/T 22: 年度 follows the signing date). Values that cannot be
converted become GD-1-3 findings rather than exceptions, so the archivist sees every
problem of the row at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive.config import Settings
from archive.errors import ConfigError, UsageError
from archive.i18n import _
from archive.model import Finding, ItemMetadata, Verdict
from archive.numbers import whole_number
from metadata_profiles import Profiles

# Fields only the command line can give in bare-folder mode: attribute → (option, 著录项).
_CLASS_OPTIONS = {
    "category": ("--category", "门类"), "retention": ("--retention", "保管期限"), "author": ("--author", "责任者"),
    "date": ("--date", "日期"), "org_code": ("--org", "机构(问题)"),
}  # fmt: skip


@dataclass(frozen=True)
class ClassDefaults:
    """The class an archivist gives on the command line (``--fonds --category --year --retention``)."""

    fonds: str | None = None
    category: str | None = None
    year: int | None = None
    retention: str | None = None
    carrier: str | None = None
    org_code: str | None = None
    author: str | None = None
    date: str | None = None


def _int_field(fields: dict[str, str], key: str, label: str, findings: list[Finding]) -> int | None:
    raw = (fields.get(key) or "").strip()
    if not raw:
        return None
    try:
        return whole_number(raw)  # bounded: a 5,000-digit 页数 is a finding, not a crash or a SQLite overflow
    except ValueError as exc:
        findings.append(
            Finding(
                "GD-1-3",
                Verdict.failed,
                f"{label}应为整数 ({label} must be a whole number): {exc}",
                expected="整数",
                found=raw[:40],
            )
        )
        return None


def build_metadata(
    fields: dict[str, str], defaults: ClassDefaults, settings: Settings
) -> tuple[ItemMetadata, list[Finding]]:
    """The item's metadata and the findings met while converting the raw values."""
    findings: list[Finding] = []
    fonds = settings.fonds_by_code(fields.get("fonds_code") or defaults.fonds)
    date = (fields.get("date") or defaults.date or "").strip()
    year = _int_field(fields, "year", "年度", findings) or defaults.year
    if year is None and len(date) >= 4 and date[:4].isascii() and date[:4].isdigit():  # int() fails on "²019"
        year = int(date[:4])
    if year is None:
        findings.append(
            Finding("GD-2-4", Verdict.failed, "缺少年度, 请在目录或命令行 --year 中给出 (年度 is required)")
        )
    meta = ItemMetadata(
        fonds_code=fonds.code,
        fonds_name=fonds.name,
        category=(fields.get("category") or defaults.category or "").strip(),
        year=year or 0,
        retention=(fields.get("retention") or defaults.retention or "").strip(),
        title=(fields.get("title") or "").strip(),
        author=(fields.get("author") or defaults.author or "").strip(),
        date=date,
        doc_number=(fields.get("doc_number") or "").strip(),
        classification=(fields.get("classification") or "").strip(),
        page_count=_int_field(fields, "page_count", "页数", findings),
        carrier=(fields.get("carrier") or defaults.carrier or "").strip(),  # "": judged from the files at ingest
        org_code=(fields.get("org_code") or defaults.org_code or "").strip(),
        remarks=(fields.get("remarks") or "").strip(),
    )
    return meta, findings


def require_class_options(defaults: ClassDefaults, profiles: Profiles) -> None:
    """Refuse a batch without an item list that lacks options (``--retention`` …) for fields its
    门类's profile requires: no row can give them there, so every item would be refused alike,
    and one message naming the options says it once, before any file is read.

    Raises:
        UsageError: naming every missing option and its 著录项.
    """
    try:
        profile = profiles.for_category(defaults.category or "")
    except ConfigError:  # no or an unknown 门类: the default profile's list, the 门类 itself is checked per item
        profile = profiles.profiles["default"]
    missing = [
        f"{option} ({label})"
        for attr, (option, label) in _CLASS_OPTIONS.items()
        if (attr == "category" or profile.is_required(attr)) and not (getattr(defaults, attr) or "").strip()
    ]
    date = (defaults.date or "").strip()
    if defaults.year is None and not (date[:4].isascii() and date[:4].isdigit() and len(date) >= 4):
        missing.insert(1, "--year (年度)")  # build_metadata falls back to the year of --date
    if missing:
        raise UsageError(
            _("缺少 {missing}: 不用归档文件目录 (--catalog) 时, 这些必填著录项只能在命令行给出, 未归档任何一件").format(
                missing=_("、").join(missing)
            )
        )
