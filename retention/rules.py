"""保管期限表 (retention schedule): rules as data, and the dates they give each record.

The schedule is ``retention/schedule.toml`` (read its header for how periods, transfer
and opening are counted), layered with an archive's own rules file and the
``[retention]`` table of ``dangan.toml``::

    [retention]
    file = "保管期限表.toml"            # optional; resolved against the home by the caller
    [retention.schedule]
    transfer_after_years = 5
    [[retention.rule]]                  # same keys as [[rule]] in schedule.toml
    id = "ZY·DB"
    retention = ["Y", "D30"]            # narrow 低保 to the province's table

The item's own 保管期限 code decides how long it is kept; its rule (the most specific
for its 门类) says whether that code is allowed, what the clock counts from, whether the
record is transferred, and whether opening needs a review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archive.archival_code import DEFAULT_PATTERNS, MIDDLE_DOT
from archive.config import Settings
from archive.errors import ConfigError, RetentionError
from archive.i18n import _
from archive.model import ItemMetadata

from ._schedule_file import BUNDLED, LAYER_KEYS, OVERRIDE_KEYS, WHERE, merge_layers, read_bundled, read_layer
from .appraisal import Action, Decision, Hold, check_decision, is_held, latest_decisions
from .errors import BelowMinimumError, NoRetentionRuleError
from .periods import PERMANENT, is_longer, normalise, period_years, retention_label

__all__ = [
    "CountsFrom",
    "Due",
    "DueReport",
    "RecordDates",
    "RetentionRule",
    "Schedule",
    "SenderCopy",
    "Status",
    "load_schedule",
]

ANY = "*"


class CountsFrom(StrEnum):
    """起算时间: what a rule's clock counts from."""

    year_end = "year_end"  # 1 January of the year after 年度
    fiscal_year_end = "fiscal_year_end"  # 会计: the day after the fiscal year ends (会计法 Art.11: 31 December)


class Status(StrEnum):
    """保管状态 of an item, as the catalogue reports it to the due-date helpers."""

    active = "在档"
    transferred = "已移交"
    destroyed = "已销毁"


@dataclass(frozen=True)
class RetentionRule:
    """保管期限规则: one row of the schedule, for one 门类 (or every 门类, ``*``).

    Attributes:
        retention: Accepted 保管期限 codes; ``("*",)`` accepts any code at or above ``minimum``.
        record_types: Record type → minimum code, from the regulation's table (会计).
        minimum_since: First 年度 the minimum applies to; older records keep the codes they were given.
        transfer_after_years: Transfer is due from 1 January of 年度 + this (the Nth year after 年度).
        transfer_periods: Codes that are transferred at all (永久 and 定期30年 by default).
        opening_review: Why opening needs a review first (personal data), or "".
    """

    id: str
    title: str
    category: str
    retention: tuple[str, ...]
    counts_from: CountsFrom
    opening_years: int
    transfer_after_years: int
    transfer_periods: tuple[str, ...]
    record_types: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    minimum_since: int | None = None
    opening_review: str = ""
    source: str = ""

    @property
    def minimum(self) -> str | None:
        """The shortest code in ``record_types``: nothing of this 门类 may be kept less."""
        shortest = None
        for code in self.record_types.values():
            if shortest is None or is_longer(shortest, code):
                shortest = code
        return shortest

    def clock_start(self, year: int) -> date:
        """起算日: 1 January after 年度, or the day after the fiscal year that is 年度 ends."""
        if self.counts_from is CountsFrom.fiscal_year_end:
            return date(year, 12, 31) + timedelta(days=1)
        return date(year + 1, 1, 1)


@dataclass(frozen=True)
class RecordDates:
    """The dates one record's rule gives it.

    Attributes:
        appraisal_due: 到期鉴定日, None for 永久.
        transfer_due: First day of the year in which it is due for 移交, None when not transferred.
        opening: 开放日 (25 years after 年度 ends); check ``opening_review`` first when set.
        retain_until: S3 Object Lock date: the appraisal date for 定期 records, the schedule's
            far-future date for 永久 ones.
        retention: The code the dates were computed from (after any appraisal decision).
    """

    rule_id: str
    retention: str
    clock_start: date
    appraisal_due: date | None
    transfer_due: date | None
    opening: date
    retain_until: date
    opening_review: str = ""


@dataclass(frozen=True)
class SenderCopy:
    """已移交副本: a record this archive transferred, whose copy it keeps until ``removable_on``.

    Attributes:
        transferred_on: The day the 接收回执 was confirmed (the 移交 took effect).
        removable_on: ``transferred_on`` + ``keep_copy_years``: from this day the copy may be
            removed through an approved destruction batch.
        receiver: 接收单位 as recorded when the package was prepared ("" when unknown).
        receipt: SHA-256 of the package the 接收回执 acknowledges (the receipt's own name at
            the 镇馆); "" when the sender's record of the transfer cannot be read.
    """

    archival_code: str
    transfer_id: str
    transferred_on: date
    removable_on: date
    receiver: str = ""
    receipt: str = ""


@dataclass(frozen=True)
class Due:
    """One item due for appraisal or transfer, with the date it became due.

    ``sender_copy`` is set when the item is not expired but a transferred record whose
    copy here may now be removed; ``due`` is then the day it became removable.
    """

    meta: ItemMetadata
    dates: RecordDates
    due: date
    held: bool = False
    decision: Decision | None = None
    sender_copy: SenderCopy | None = None


@dataclass
class DueReport:
    """The items due, in date order, and every item whose 保管期限 does not fit the schedule."""

    items: list[Due] = field(default_factory=list)
    problems: list[RetentionError] = field(default_factory=list)


@dataclass(frozen=True)
class Schedule:
    """保管期限表: the rules of one archive, and what they say about each record."""

    rules: tuple[RetentionRule, ...]
    legacy_periods: Mapping[str, int]
    keep_copy_years: int
    permanent_retain_until: date

    def rule_for(self, category: str) -> RetentionRule:
        """The most specific rule for a 门类: ``KU·PZ``, then ``KU``, then ``*``."""
        by_category = {r.category: r for r in self.rules}
        levels = category.split(MIDDLE_DOT)
        for depth in range(len(levels), 0, -1):
            rule = by_category.get(MIDDLE_DOT.join(levels[:depth]))
            if rule is not None:
                return rule
        return by_category[ANY]

    def check(self, meta: ItemMetadata, retention: str | None = None) -> RetentionRule:
        """The item's rule, after checking its code (or ``retention``) against it.

        Raises:
            NoRetentionRuleError: The code is unknown or not one the rule accepts.
            BelowMinimumError: The code is shorter than the rule's legal minimum.
        """
        code = retention or meta.retention
        rule = self.rule_for(meta.category)
        where = meta.archival_code or meta.title
        period_years(code, self.legacy_periods)  # an unknown code fails here
        if code not in self.legacy_periods and ANY not in rule.retention and code not in rule.retention:
            raise NoRetentionRuleError(
                _("{title}（{category}）不使用保管期限 {code}，可用：{accepted}").format(
                    title=rule.title,
                    category=meta.category,
                    code=retention_label(code),
                    accepted="、".join(map(retention_label, rule.retention)),
                ),
                path=where,
                rule=f"retention:rule {rule.id}",
            )
        minimum = rule.minimum
        applies = rule.minimum_since is None or meta.year >= rule.minimum_since
        if minimum is not None and applies and is_longer(minimum, code, self.legacy_periods):
            types = "、".join(t for t, c in rule.record_types.items() if c == minimum)
            raise BelowMinimumError(
                _("{title}的最低保管期限为{minimum}（{types}），不能定为{code}").format(
                    title=rule.title, minimum=retention_label(minimum), types=types, code=retention_label(code)
                ),
                path=where,
                rule=f"retention:minimum {rule.id}",
            )
        return rule

    def dates(self, meta: ItemMetadata, decision: Decision | None = None) -> RecordDates:
        """The appraisal, transfer, opening and lock dates of one record.

        A ``decision`` of ``extend`` or ``permanent`` changes the code the dates are
        counted from; the clock start stays the same.
        """
        code = self._effective_code(meta, decision)
        rule = self.check(meta, code)
        start = rule.clock_start(meta.year)
        years = period_years(code, self.legacy_periods)
        appraisal = None if years is None else _plus_years(start, years)
        transfer = None
        if normalise(code, self.legacy_periods) in rule.transfer_periods:
            # The 1st year after 年度 begins on the clock start, so the Nth begins N-1 years later.
            transfer = _plus_years(start, rule.transfer_after_years - 1)
        return RecordDates(
            rule_id=rule.id,
            retention=code,
            clock_start=start,
            appraisal_due=appraisal,
            transfer_due=transfer,
            opening=_plus_years(start, rule.opening_years),
            retain_until=appraisal or self.permanent_retain_until,
            opening_review=_opening_review(rule, meta),
        )

    def _effective_code(self, meta: ItemMetadata, decision: Decision | None) -> str:
        if decision is None:
            return meta.retention
        check_decision(decision, meta, self.legacy_periods)
        if decision.action is Action.permanent:
            return PERMANENT
        if decision.action is Action.extend:
            return decision.new_period or meta.retention
        return meta.retention

    def sender_copy_until(self, transferred_on: date) -> date:
        """Until when the 居委会 keeps its copy after a transfer (2012 rule: 5 more years)."""
        return _plus_years(transferred_on, self.keep_copy_years)

    def due_for_appraisal(
        self,
        items: Iterable[tuple[ItemMetadata, str]],
        as_of: date,
        *,
        decisions: Iterable[Decision] = (),
        holds: Iterable[Hold] = (),
    ) -> DueReport:
        """到期鉴定: items in the archive (status 在档) whose period has run out by ``as_of``.

        The latest decision per 档号 is applied first, so an extended item drops out until
        its new date; an item already decided for destruction stays listed with its decision.
        Held items are listed too (a hold stops destruction, not appraisal), flagged ``held``.
        """
        latest = latest_decisions(decisions)
        holds = tuple(holds)
        report = DueReport()
        for meta, status in items:
            if Status(status) is not Status.active:
                continue
            decision = latest.get(meta.archival_code or "")
            try:
                dates = self.dates(meta, decision)
            except RetentionError as exc:
                report.problems.append(exc)
                continue
            if dates.appraisal_due is not None and dates.appraisal_due <= as_of:
                report.items.append(Due(meta, dates, dates.appraisal_due, is_held(meta, holds), decision))
        report.items.sort(key=lambda d: (d.due, d.meta.archival_code or ""))
        return report

    def due_for_transfer(
        self, items: Iterable[tuple[ItemMetadata, str]], as_of: date, *, decisions: Iterable[Decision] = ()
    ) -> DueReport:
        """到期移交: items still in the archive whose transfer year has begun by ``as_of``."""
        latest = latest_decisions(decisions)
        report = DueReport()
        for meta, status in items:
            if Status(status) is not Status.active:
                continue
            try:
                dates = self.dates(meta, latest.get(meta.archival_code or ""))
            except RetentionError as exc:
                report.problems.append(exc)
                continue
            if dates.transfer_due is not None and dates.transfer_due <= as_of:
                report.items.append(Due(meta, dates, dates.transfer_due))
        report.items.sort(key=lambda d: (d.due, d.meta.archival_code or ""))
        return report


def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year: the period ends once the day has fully passed
        return date(day.year + years, 3, 1)


def _opening_review(rule: RetentionRule, meta: ItemMetadata) -> str:
    reasons = [rule.opening_review] if rule.opening_review else []
    if meta.classification.strip() and meta.classification.strip() != "无":
        # 档案法 Art.27 lets security-sensitive records open later than 25 years.
        reasons.append(_("有密级（{classification}），开放前须审核").format(classification=meta.classification))
    return "；".join(reasons)


def load_schedule(overrides: Mapping[str, Any] | None = None, extra_file: Path | None = None) -> Schedule:
    """The bundled schedule, then ``extra_file``, then ``overrides`` (dangan.toml's ``[retention]``).

    Raises:
        ConfigError: A layer is unreadable, has unknown keys, or a value is invalid.
    """
    layers: list[tuple[Mapping[str, Any], str, set[str]]] = [(read_bundled(), BUNDLED, LAYER_KEYS)]
    if extra_file is not None:
        layers.append((read_layer(extra_file), str(extra_file), LAYER_KEYS))
    if overrides:
        layers.append((overrides, "dangan.toml [retention]", OVERRIDE_KEYS))
    return _build(merge_layers(layers))


def home_schedule(settings: Settings) -> Schedule:
    """The 保管期限表 of a home: the bundled one, its rules file (``[retention] file``), then ``[retention]``.

    Built from the settings loaded once per command, never by reading ``dangan.toml``
    again, so every step of one command counts with the same schedule.
    """
    extra = settings.retention.get("file")
    return load_schedule(settings.retention, settings.home / str(extra) if extra else None)


def _build(data: Mapping[str, Any]) -> Schedule:
    settings, where = data["schedule"], _("保管期限表 [schedule]")
    legacy = {str(k): _int(v, f"legacy_periods.{k}", where, 1) for k, v in data["legacy_periods"].items()}
    defaults = {
        "opening_years": _int(settings.get("opening_years"), "opening_years", where, 1),
        "transfer_after_years": _int(settings.get("transfer_after_years"), "transfer_after_years", where, 1),
        "transfer_periods": _codes(settings.get("transfer_periods"), "transfer_periods", where, legacy),
    }
    rules = tuple(_build_rule(entry, defaults, legacy) for entry in data["rule"])
    categories = [r.category for r in rules]
    for category in set(categories):
        if categories.count(category) > 1:
            raise ConfigError(_("门类 {category} 有多条规则").format(category=category), rule="schedule:category")
    if ANY not in categories:
        raise ConfigError(_('保管期限表须有一条 category = "*" 的默认规则'), path=where)
    return Schedule(
        rules=rules,
        legacy_periods=MappingProxyType(legacy),
        keep_copy_years=_int(settings.get("keep_copy_years"), "keep_copy_years", where, 0),
        permanent_retain_until=_date(settings.get("permanent_retain_until"), where),
    )


def _build_rule(entry: Mapping[str, Any], defaults: Mapping[str, Any], legacy: Mapping[str, int]) -> RetentionRule:
    where = f"{entry[WHERE]} [[rule]] {entry['id']}"
    category = entry.get("category")
    if category != ANY and not _is_category(category):
        raise ConfigError(
            _("门类代码无效：{category}").format(category=repr(category)), path=where, rule="schedule:category"
        )
    counts_from = entry.get("counts_from", CountsFrom.year_end.value)
    if counts_from not in CountsFrom.__members__:
        raise ConfigError(
            _("counts_from 无效：{value}，应为 {choices}").format(
                value=repr(counts_from), choices="/".join(CountsFrom.__members__)
            ),
            path=where,
        )
    record_types = entry.get("record_types", {})
    if not isinstance(record_types, Mapping):
        raise ConfigError(_("record_types 必须是表"), path=where)
    retention = entry.get("retention", [ANY])
    since = entry.get("minimum_since")
    return RetentionRule(
        id=str(entry["id"]),
        title=str(entry.get("title", entry["id"])),
        category=category,
        retention=(ANY,) if retention == [ANY] else _codes(retention, "retention", where, legacy),
        counts_from=CountsFrom(counts_from),
        opening_years=_int(entry.get("opening_years", defaults["opening_years"]), "opening_years", where, 1),
        transfer_after_years=_int(
            entry.get("transfer_after_years", defaults["transfer_after_years"]), "transfer_after_years", where, 1
        ),
        transfer_periods=_codes(entry.get("transfer_periods", defaults["transfer_periods"]), "transfer_periods", where),
        record_types=MappingProxyType(
            {str(k): _codes([v], f"record_types.{k}", where)[0] for k, v in record_types.items()}
        ),
        minimum_since=None if since is None else _int(since, "minimum_since", where, 1),
        opening_review=str(entry.get("opening_review", "")),
        source=str(entry.get("source", "")),
    )


def _is_category(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(DEFAULT_PATTERNS["category"], value) is not None


def _int(value: Any, key: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            _("{key} 须为不小于 {minimum} 的整数：{value}").format(key=key, minimum=minimum, value=repr(value)),
            path=where,
        )
    return value


def _codes(value: Any, key: str, where: str, legacy: Mapping[str, int] | None = None) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(_("{key} 须为保管期限代码列表").format(key=key), path=where)
    for code in value:
        try:
            period_years(code, legacy)
        except RetentionError as exc:
            raise ConfigError(f"{key}: {exc.message}", path=where, rule="schedule:code") from None
    return tuple(value)


def _date(value: Any, where: str) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ConfigError(
            _("permanent_retain_until 须为日期（如 2100-01-01）：{value}").format(value=repr(value)), path=where
        )
    return value
