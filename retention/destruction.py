"""销毁 (destruction): a batch of expired items and the approvals it needs.

Common 鉴定销毁 practice (档案法 2020 art. 21): the 鉴定小组 reviews expired items one by one, the unit's leadership
(单位负责人) approves the 销毁清册, and at least two 监销人 check before and sign after
the destruction. :func:`check_approved` enforces that, and that nothing in the batch is
held, kept by its decision, or not yet due. Every violation is collected before the
first is raised, so one pass shows the archivist everything to fix.

A transferred record (``sender_copies``) goes the same way, with the same signatures,
but its copy here is due when the keep period after the transfer ends, not when its
保管期限 does (a 永久 record's copy too), and only under a ``remove_copy`` decision.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from archive.errors import DanganError, DestructionRefusedError
from archive.i18n import _
from archive.model import ItemMetadata

from .appraisal import (
    Action,
    Decision,
    Hold,
    failing,
    holds_on,
    require_aware,
    require_person,
    require_text,
    strip_invisible,
)
from .errors import (
    ApprovalTimeError,
    InvalidBatchError,
    ItemHeldError,
    MissingRoleError,
    NotDestroyDecisionError,
    NotDueError,
    RoleConflictError,
    SelfApprovalError,
    SenderCopyKeptError,
    TooFewApproversError,
    UnknownItemError,
)
from .rules import Schedule, SenderCopy, load_schedule

__all__ = ["Approval", "ApprovalPolicy", "DestructionBatch", "Role", "batch_problems", "check_approved"]


class Role(StrEnum):
    """审批角色: who signs a destruction batch."""

    panel = "鉴定小组"  # a member of the appraisal panel (incl. 居民代表 in a 社区)
    head = "单位负责人"  # the unit's leadership, approving the 销毁清册
    witness = "监销人"  # destruction witness: checks before, signs after


@dataclass(frozen=True)
class Approval:
    """签署: one named person's approval of a batch, in one role."""

    person: str
    role: Role
    time: datetime

    def __post_init__(self) -> None:
        fail = failing(InvalidBatchError, None)
        object.__setattr__(self, "person", require_person(self.person, "审批人", "person", fail))
        try:
            object.__setattr__(self, "role", Role(self.role))
        except ValueError:
            roles = "、".join(r.value for r in Role)
            raise InvalidBatchError(
                _("审批角色“{role}”无效，应为 {roles}").format(role=self.role, roles=roles), rule="destruction:role"
            ) from None
        require_aware(self.time, "审批时间", "approval time", fail)


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many distinct people must sign, in which roles.

    ``one_role_per_person``: a witness is a check on the people who decided, so by
    default nobody counts in two roles of one batch. A very small unit may relax this
    in its settings; the proposer may never approve.
    """

    required_roles: Mapping[Role, int] = field(
        default_factory=lambda: MappingProxyType({Role.panel: 1, Role.head: 1, Role.witness: 2})
    )
    min_approvers: int = 2
    one_role_per_person: bool = True


DEFAULT_POLICY = ApprovalPolicy()


@dataclass(frozen=True)
class DestructionBatch:
    """销毁批次: items proposed for destruction together, each with its decision."""

    batch_id: str
    proposer: str
    proposed_at: datetime
    decisions: tuple[Decision, ...]
    approvals: tuple[Approval, ...] = ()

    def __post_init__(self) -> None:
        fail = failing(InvalidBatchError, self.batch_id if isinstance(self.batch_id, str) else None)
        object.__setattr__(self, "batch_id", require_text(self.batch_id, "批次号", "batch id", fail))
        object.__setattr__(self, "proposer", require_person(self.proposer, "提出人", "proposer", fail))
        require_aware(self.proposed_at, "提出时间", "proposed_at", fail)
        object.__setattr__(self, "decisions", tuple(self.decisions))
        object.__setattr__(self, "approvals", tuple(self.approvals))
        if not self.decisions:
            raise InvalidBatchError(_("销毁批次没有档案"), path=self.batch_id, rule="destruction:items")
        codes = [d.archival_code for d in self.decisions]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise InvalidBatchError(
                _("同一档号在批次中出现多次：{codes}").format(codes="、".join(twice)),
                path=self.batch_id,
                rule="destruction:items",
            )

    @property
    def archival_codes(self) -> tuple[str, ...]:
        return tuple(d.archival_code for d in self.decisions)

    def approve(self, approval: Approval) -> DestructionBatch:
        """A copy with one more approval; approvals are only ever added."""
        return replace(self, approvals=(*self.approvals, approval))


def person_key(name: str) -> str:
    """Names compared as people: invisible characters and all whitespace dropped, compatibility
    forms (full width) folded, case folded.

    Names with invisible characters are refused where they enter (:func:`require_person`); this
    folds them anyway, so a name written into a register by other means still compares truly.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", strip_invisible(name)).casefold())
    return "".join(strip_invisible(folded).split())


def check_approved(
    batch: DestructionBatch,
    holds: Iterable[Hold],
    items_meta: Iterable[ItemMetadata] | Mapping[str, ItemMetadata],
    **options: Any,
) -> None:
    """Raise unless the batch may be destroyed now (``options`` as :func:`batch_problems` takes them).

    Raises:
        DestructionRefusedError: The first violation found (a subclass naming its rule);
            ``details`` holds every violation.
    """
    problems = batch_problems(batch, holds, items_meta, **options)
    if problems:
        first = problems[0]
        first.details = tuple(problems)
        raise first


def batch_problems(
    batch: DestructionBatch,
    holds: Iterable[Hold],
    items_meta: Iterable[ItemMetadata] | Mapping[str, ItemMetadata],
    *,
    schedule: Schedule | None = None,
    as_of: date | None = None,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    sender_copies: Mapping[str, SenderCopy] | None = None,
) -> list[DestructionRefusedError]:
    """Every rule the batch breaks: approvals first (cheap), then each item.

    ``sender_copies`` names the transferred records among the items (any status), by 档号.
    """
    schedule = schedule or load_schedule()
    copies = sender_copies or {}
    as_of = as_of or date.today()
    if isinstance(items_meta, Mapping):
        metas = dict(items_meta)
    else:
        metas = {m.archival_code: m for m in items_meta if m.archival_code}
    problems = _approval_problems(batch, policy)
    holds = tuple(holds)
    for decision in batch.decisions:
        code = decision.archival_code
        problems.extend(_item_problems(decision, metas.get(code), holds, schedule, as_of, copies.get(code)))
    return problems


def _approval_problems(batch: DestructionBatch, policy: ApprovalPolicy) -> list[DestructionRefusedError]:
    problems: list[DestructionRefusedError] = []
    where = batch.batch_id
    proposer = person_key(batch.proposer)
    roles_of: dict[str, set[Role]] = {}
    names: dict[str, str] = {}  # person key → the name as first signed, for messages
    for a in batch.approvals:
        if person_key(a.person) == proposer:
            problems.append(
                SelfApprovalError(
                    _("提出人 {person} 不得批准自己提出的销毁批次").format(person=batch.proposer),
                    path=where,
                    rule="destruction:not-proposer",
                )
            )
            continue
        if a.time < batch.proposed_at:
            problems.append(
                ApprovalTimeError(
                    _("{person}（{role}）的批准时间早于批次提出时间").format(person=a.person, role=a.role),
                    path=where,
                    rule="destruction:approval-after-proposal",
                )
            )
        names.setdefault(person_key(a.person), a.person)
        roles_of.setdefault(person_key(a.person), set()).add(a.role)
    if policy.one_role_per_person:
        for person, roles in roles_of.items():
            if len(roles) > 1:
                problems.append(
                    RoleConflictError(
                        _("{person} 同时以{roles}身份签署").format(
                            person=names[person], roles="、".join(sorted(roles))
                        ),
                        path=where,
                        rule="destruction:one-role-per-person",
                    )
                )
    if len(roles_of) < policy.min_approvers:
        problems.append(
            TooFewApproversError(
                _("除提出人外至少需要 {needed} 位不同的审批人，现有 {have} 位").format(
                    needed=policy.min_approvers, have=len(roles_of)
                ),
                path=where,
                rule="destruction:two-approvers",
            )
        )
    for role, needed in policy.required_roles.items():
        have = sum(1 for roles in roles_of.values() if role in roles)
        if have < needed:
            problems.append(
                MissingRoleError(
                    _("需要 {needed} 位{role}签署，现有 {have} 位").format(needed=needed, role=role, have=have),
                    path=where,
                    rule=f"destruction:role {role}",
                )
            )
    return problems


def _item_problems(
    decision: Decision,
    meta: ItemMetadata | None,
    holds: tuple[Hold, ...],
    schedule: Schedule,
    as_of: date,
    copy: SenderCopy | None,
) -> list[DestructionRefusedError]:
    code = decision.archival_code
    if meta is None:
        return [UnknownItemError(_("目录中没有这件档案"), path=code, rule="destruction:item")]
    problems: list[DestructionRefusedError] = []
    if copy is None and decision.action is not Action.destroy:
        problems.append(
            NotDestroyDecisionError(
                _("鉴定意见为“{action}”，不是销毁").format(action=decision.action.label),
                path=code,
                rule="destruction:decision-destroy",
            )
        )
    for hold in holds_on(meta, holds):
        problems.append(
            ItemHeldError(
                _("处于冻结 {hold}（{reason}）中，不得销毁").format(hold=hold.hold_id, reason=hold.reason),
                path=code,
                rule="destruction:no-hold",
            )
        )
    problems.extend(_copy_problems(decision, copy, as_of) if copy else _due_problems(meta, schedule, as_of))
    return problems


def _copy_problems(decision: Decision, copy: SenderCopy, as_of: date) -> list[DestructionRefusedError]:
    """A transferred record: only its copy here may go, under a remove_copy decision, once kept long enough."""
    code, until = decision.archival_code, copy.removable_on.isoformat()
    if decision.action is not Action.remove_copy:
        return [
            NotDestroyDecisionError(
                _(
                    "已于 {date} 移交（{transfer}），只能作为已移交副本删除，"
                    "不能按鉴定意见“{action}”销毁；请重新提出批次"
                ).format(date=copy.transferred_on.isoformat(), transfer=copy.transfer_id, action=decision.action.label),
                path=code,
                rule="destruction:sender-copy",
            )
        ]
    if copy.removable_on > as_of:
        return [
            SenderCopyKeptError(
                _("已移交副本保留至 {until}（移交后保留期），期满前不得删除").format(until=until),
                path=code,
                rule="destruction:sender-copy-kept",
            )
        ]
    return []


def _due_problems(meta: ItemMetadata, schedule: Schedule, as_of: date) -> list[DestructionRefusedError]:
    code = meta.archival_code
    try:
        due = schedule.dates(meta).appraisal_due
    except DanganError as exc:
        return [NotDueError(_("保管期限无法确定：{reason}").format(reason=exc.message), path=code, rule=exc.rule)]
    if due is None:
        return [NotDueError(_("永久保管的档案不得销毁"), path=code, rule="destruction:due")]
    if due > as_of:
        return [
            NotDueError(
                _("保管期限至 {date} 才届满").format(date=due.isoformat()),
                path=code,
                rule="destruction:due",
            )
        ]
    return []
