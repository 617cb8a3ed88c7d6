"""鉴定 (appraisal): decisions on expired records, and disposal holds (法律冻结).

A :class:`Decision` is what the 鉴定小组 decided for one 件 when its period ran out:
destroy it, keep it for a longer 定期 period, or keep it 永久. Every decision names a
person and gives a reason, because the 鉴定意见 is itself kept permanently.

A :class:`Hold` stops disposal while a lawsuit, audit or complaint needs the records.
It covers one 档号 or a whole class (全宗, optionally 门类, 保管期限 and a 年度 range),
and stays in force until it is lifted by a named person. Holds block destruction only:
appraisal and transfer go on, since neither loses anything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from archive.archival_code import MIDDLE_DOT
from archive.errors import DanganError
from archive.i18n import _, language
from archive.model import ItemMetadata
from metadata_profiles import normalise_code

from .errors import InvalidDecisionError, InvalidHoldError, NoRetentionRuleError
from .periods import PERMANENT, is_longer, period_years, retention_label

__all__ = [
    "Action",
    "Decision",
    "Hold",
    "check_decision",
    "holds_on",
    "invisible_chars",
    "is_held",
    "latest_decisions",
    "normalise_code",
]


class Action(StrEnum):
    """鉴定结论: what happens to an expired item.

    ``remove_copy`` is no 鉴定: it is what ``destroy propose`` records for a transferred
    record whose copy here has been kept long enough; the record lives on at the 镇馆.
    """

    destroy = "destroy"
    extend = "extend"
    permanent = "permanent"
    remove_copy = "remove_copy"

    @property
    def label(self) -> str:
        """The Chinese wording used in registers."""
        return _LABELS[self.value]


_LABELS = {"destroy": "销毁", "extend": "延长保管期限", "permanent": "改为永久保管", "remove_copy": "删除已移交副本"}

#: Builds the error to raise from (message, rule); see :func:`failing`.
Fail = Callable[[str, str], DanganError]


def failing(cls: type[DanganError], path: str | None) -> Fail:
    """An error factory for one class and one 档号 or id, used by the field checks below."""
    return lambda message, rule: cls(message, path=path or None, rule=rule)


def _field_name(what_zh: str, what_en: str) -> str:
    """A field's name as the person reads it: callers (disposition too) name it in both languages."""
    return what_en if language() == "en" else what_zh


def require_text(value: str | None, what_zh: str, what_en: str, fail: Fail) -> str:
    """The value stripped; a missing or blank value fails, naming the field."""
    text = (value or "").strip() if isinstance(value, str | None) else ""
    if not text:
        raise fail(_("{field}不能为空").format(field=_field_name(what_zh, what_en)), "appraisal:required-field")
    return text


#: Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside categories Cc/Cf/Cs:
#: combining joiners, variation selectors, Hangul fillers and reserved ignorables, all shown as nothing.
_IGNORABLE = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2065, 0x2065),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF),
)  # fmt: skip


def _invisible(ch: str) -> bool:
    # Cc controls, Cf format characters (U+200B, U+00AD, U+2060 …), Cs lone surrogates (undecodable
    # input). Not Co or Cn as such: rare name characters (生僻字) live in private use or in CJK
    # extensions newer than this Python's Unicode tables.
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
        return True
    return any(low <= ord(ch) <= high for low, high in _IGNORABLE)


def invisible_chars(text: str) -> list[str]:
    """The control, format and other invisible characters in ``text``, each as ``U+XXXX``."""
    return [f"U+{ord(ch):04X}" for ch in dict.fromkeys(text) if _invisible(ch)]


def strip_invisible(text: str) -> str:
    """``text`` without the characters :func:`invisible_chars` names."""
    return "".join(ch for ch in text if not _invisible(ch))


def require_person(value: str | None, what_zh: str, what_en: str, fail: Fail) -> str:
    """A person's name, stripped; blank, or holding a character that shows as nothing, fails.

    Registers name people as evidence, and the destruction rules compare them (never the
    proposer, all signers distinct): 张<U+200B>敏 prints as 张敏 yet would compare as someone else.
    """
    name = require_text(value, what_zh, what_en, fail)
    hidden = invisible_chars(name)
    if hidden:
        shown = "".join(f"<U+{ord(ch):04X}>" if _invisible(ch) else ch for ch in name)
        raise fail(
            _("{field}“{name}”含不可见字符或控制字符（{chars}），请删除后重新输入").format(
                field=_field_name(what_zh, what_en), name=shown, chars="、".join(hidden)
            ),
            "appraisal:person-name",
        )
    return name


def require_aware(value: object, what_zh: str, what_en: str, fail: Fail) -> None:
    """Refuse naive datetimes: registers are evidence, and a time without a zone is ambiguous."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise fail(_("{field}必须是带时区的时间").format(field=_field_name(what_zh, what_en)), "appraisal:aware-time")


@dataclass(frozen=True)
class Decision:
    """鉴定意见: the appraisal decision for one 件.

    Attributes:
        archival_code: 档号 of the item.
        action: destroy | extend | permanent.
        reason: 鉴定理由, required: the register prints it.
        decided_by: The named person who decided (鉴定小组 member), required.
        time: When, timezone-aware.
        new_period: For ``extend`` only: the new 定期 code (``D30``), counted from the
            original clock start, and longer than the item's current code.
    """

    archival_code: str
    action: Action
    reason: str
    decided_by: str
    time: datetime
    new_period: str | None = None

    def __post_init__(self) -> None:
        try:
            action = Action(self.action)
        except ValueError:
            raise InvalidDecisionError(
                _("鉴定结论“{action}”无效，应为 destroy/extend/permanent/remove_copy").format(action=self.action),
                path=self.archival_code,
                rule="appraisal:action",
            ) from None
        fail = failing(InvalidDecisionError, self.archival_code if isinstance(self.archival_code, str) else None)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "archival_code", require_text(self.archival_code, "档号", "archival code", fail))
        object.__setattr__(self, "reason", require_text(self.reason, "鉴定理由", "reason", fail))
        object.__setattr__(self, "decided_by", require_person(self.decided_by, "鉴定人", "decided_by", fail))
        require_aware(self.time, "鉴定时间", "decision time", fail)
        self._check_new_period()

    def _check_new_period(self) -> None:
        if self.action is not Action.extend:
            if self.new_period is not None:
                raise InvalidDecisionError(
                    _("只有“延长保管期限”需要新期限"),
                    path=self.archival_code,
                    rule="appraisal:new-period",
                )
            return
        if not self.new_period or self.new_period == PERMANENT:
            raise InvalidDecisionError(
                _("延长保管期限须给出新的定期期限（如 D30）；改为永久请用 permanent"),
                path=self.archival_code,
                rule="appraisal:new-period",
            )
        try:
            period_years(self.new_period)
        except NoRetentionRuleError as exc:
            raise InvalidDecisionError(exc.message, path=self.archival_code, rule="appraisal:new-period") from None


def check_decision(decision: Decision, meta: ItemMetadata, legacy: Mapping[str, int] | None = None) -> None:
    """Check that a decision fits the item it is about.

    Raises:
        InvalidDecisionError: The 档号 differs, the item is 永久 already (only a transferred
            copy of it may be removed), or an extension is not longer than the current period.
    """
    code = decision.archival_code
    if meta.archival_code != code:
        raise InvalidDecisionError(
            _("鉴定意见的档号 {code} 与档案 {item} 不符").format(code=code, item=meta.archival_code),
            path=code,
            rule="appraisal:same-item",
        )
    if meta.retention == PERMANENT and decision.action is not Action.remove_copy:
        raise InvalidDecisionError(
            _("永久保管的档案不再鉴定，也不得销毁"),
            path=code,
            rule="appraisal:permanent-final",
        )
    if decision.action is Action.extend and not is_longer(decision.new_period or "", meta.retention, legacy):
        raise InvalidDecisionError(
            _("新期限 {new} 须长于现期限 {current}").format(
                new=retention_label(decision.new_period or ""), current=retention_label(meta.retention)
            ),
            path=code,
            rule="appraisal:extend-longer",
        )


def latest_decisions(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The most recent decision per 档号: a later appraisal supersedes an earlier one."""
    latest: dict[str, Decision] = {}
    for d in decisions:
        if d.archival_code not in latest or d.time >= latest[d.archival_code].time:
            latest[d.archival_code] = d
    return latest


@dataclass(frozen=True)
class Hold:
    """冻结 (法律冻结 / disposal hold): no item it covers may be destroyed while it is in force.

    Scope is either ``archival_code`` (one 件) or a class: ``fonds_code`` with optional
    ``category`` (``ZY`` also covers ``ZY·DB``), ``retention`` and an inclusive 年度 range.
    The class codes are kept normalised (:func:`normalise_code`), so they compare with the
    catalogue's; whether they are codes at all is checked against the code lists by
    :func:`disposition.disposal.place_hold`, which knows the archive's lists.
    """

    hold_id: str
    reason: str
    placed_by: str
    placed_at: datetime
    archival_code: str | None = None
    fonds_code: str | None = None
    category: str | None = None
    retention: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    lifted_by: str | None = None
    lifted_at: datetime | None = None

    def __post_init__(self) -> None:
        where = self.hold_id if isinstance(self.hold_id, str) and self.hold_id.strip() else _("冻结")
        fail = failing(InvalidHoldError, where)
        object.__setattr__(self, "hold_id", require_text(self.hold_id, "冻结编号", "hold_id", fail))
        object.__setattr__(self, "reason", require_text(self.reason, "冻结理由", "reason", fail))
        object.__setattr__(self, "placed_by", require_person(self.placed_by, "冻结人", "placed_by", fail))
        require_aware(self.placed_at, "冻结时间", "placed_at", fail)
        for name in ("fonds_code", "category", "retention"):  # ws, d10 and Ｗ Ｓ mean WS and D10
            object.__setattr__(self, name, normalise_code(getattr(self, name)) or None)
        self._check_scope(where)
        self._check_lift(where)

    def _check_scope(self, where: str) -> None:
        class_fields = (self.fonds_code, self.category, self.retention, self.year_from, self.year_to)
        if self.archival_code and any(v is not None for v in class_fields):
            raise InvalidHoldError(
                _("冻结范围只能是一个档号或一个类别，不能同时给出"),
                path=where,
                rule="hold:scope",
            )
        if not self.archival_code and not self.fonds_code:
            raise InvalidHoldError(
                _("冻结须指定档号，或至少指定全宗号"),
                path=where,
                rule="hold:scope",
            )
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise InvalidHoldError(
                _("年度范围 {start}–{end} 颠倒").format(start=self.year_from, end=self.year_to),
                path=where,
                rule="hold:scope",
            )

    def _check_lift(self, where: str) -> None:
        if (self.lifted_by is None) != (self.lifted_at is None):
            raise InvalidHoldError(
                _("解除冻结须同时给出解除人和解除时间"),
                path=where,
                rule="hold:lift",
            )
        if self.lifted_at is not None:
            fail = failing(InvalidHoldError, where)
            object.__setattr__(self, "lifted_by", require_person(self.lifted_by, "解除人", "lifted_by", fail))
            require_aware(self.lifted_at, "解除时间", "lifted_at", fail)
            if self.lifted_at < self.placed_at:
                raise InvalidHoldError(_("解除时间早于冻结时间"), path=where, rule="hold:lift")

    @property
    def active(self) -> bool:
        """True until the hold is lifted."""
        return self.lifted_at is None

    def lift(self, by: str, at: datetime) -> Hold:
        """A copy of this hold, lifted by a named person at a time (the original stays on record)."""
        if not self.active:
            raise InvalidHoldError(_("该冻结已解除"), path=self.hold_id, rule="hold:lift")
        return replace(self, lifted_by=by, lifted_at=at)

    def covers(self, meta: ItemMetadata) -> bool:
        """True when the item falls within this hold's scope (lifted or not)."""
        if self.archival_code:
            return meta.archival_code == self.archival_code
        if normalise_code(meta.fonds_code) != self.fonds_code:
            return False
        if self.category and not _category_within(normalise_code(meta.category) or "", self.category):
            return False
        if self.retention and normalise_code(meta.retention) != self.retention:
            return False
        if self.year_from is not None and meta.year < self.year_from:
            return False
        return self.year_to is None or meta.year <= self.year_to


def _category_within(category: str, scope: str) -> bool:
    """``ZY·DB`` is within ``ZY``; ``ZYX`` is not within ``ZY``."""
    return category == scope or category.startswith(scope + MIDDLE_DOT)


def holds_on(meta: ItemMetadata, holds: Iterable[Hold]) -> list[Hold]:
    """The holds in force that cover an item."""
    return [h for h in holds if h.active and h.covers(meta)]


def is_held(meta: ItemMetadata, holds: Iterable[Hold]) -> bool:
    """True when any hold in force covers the item: it must not be destroyed."""
    return bool(holds_on(meta, holds))
