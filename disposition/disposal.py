"""鉴定与销毁 in an archive home: the library ``dangan retention`` and ``dangan destroy`` call.

The pure rules are in :mod:`retention.rules`, :mod:`retention.appraisal` and
:mod:`retention.destruction`; this module applies them to a home's catalogue and storage
and keeps what people decide in the home's ``registers/`` (:mod:`disposition._ledger`),
never only in the catalogue, which ``dangan reindex`` rebuilds from storage.

- 鉴定 (appraisal): :func:`due`, :func:`decide`; :func:`record_dates` for ``dangan show``.
- 冻结 (disposal holds): :func:`place_hold`, :func:`lift_hold`, :func:`list_holds`.
- 销毁 (destruction): :func:`propose`, :func:`approve`, :func:`batch_report`, :func:`run_batch`.

已移交副本 (the copies of transferred records, :mod:`disposition._sender_copies`) take the same
path once their keep period has ended: :func:`due` lists them, and :func:`propose` takes
them without a 鉴定, recording a ``remove_copy`` decision that names the transfer.

Example:
    >>> batch = propose(settings, catalogue, ["J012-WS·2010-D10-0001"], by="王档案")  # doctest: +SKIP
    >>> approve(settings, batch.batch_id, "李鉴定", Role.panel)  # doctest: +SKIP
    >>> run_batch(settings, catalogue, batch.batch_id).register_code  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from archive.catalogue import Catalogue, ItemRow
from archive.config import Settings
from archive.errors import DanganError, DestructionRefusedError, NotFoundError, UsageError
from archive.evidence import record_event
from archive.i18n import _
from archive.premis import Event
from archive.storage import open_locations
from metadata_profiles import class_codes
from retention.appraisal import Action, Decision, Hold, failing, latest_decisions, require_person
from retention.destruction import Approval, DestructionBatch, Role, batch_problems, person_key
from retention.errors import (
    ApprovalTimeError,
    InvalidBatchError,
    InvalidDecisionError,
    InvalidHoldError,
    MissingRoleError,
    NotDestroyDecisionError,
    RoleConflictError,
    SelfApprovalError,
    TooFewApproversError,
    UnknownItemError,
)
from retention.periods import retention_label
from retention.rules import DueReport, Schedule, SenderCopy, Status, home_schedule

from ._destroy_run import ItemOutcome, RunResult, run_batch
from ._home import BatchChangedError, item_row, metas_of, now, signed_batch, status_of
from ._ledger import Ledger, LedgerError, approval_to_dict, batch_digest, decision_to_dict, hold_to_dict
from ._sender_copies import copy_to_dict, removable_copies, removal_reason, sender_copies

__all__ = [
    "APPRAISAL",
    "BatchChangedError",
    "ItemOutcome",
    "LedgerError",
    "RunResult",
    "approve",
    "batch_report",
    "decide",
    "decision_to_dict",
    "due",
    "due_to_dict",
    "hold_to_dict",
    "home_schedule",
    "lift_hold",
    "list_holds",
    "place_hold",
    "propose",
    "record_dates",
    "run_batch",
]

#: PREMIS eventType (Library of Congress vocabulary) of an appraisal decision.
APPRAISAL = "appraisal"

#: Problems that only say the batch is not signed yet: not a reason to refuse a proposal.
_UNSIGNED = (TooFewApproversError, MissingRoleError, SelfApprovalError, RoleConflictError, ApprovalTimeError)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


# --- dates and the due list -----------------------------------------------------------------


def record_dates(source: Settings | Schedule, row: ItemRow, decision: Decision | None = None) -> dict[str, Any]:
    """The 到期鉴定, 移交 and 开放 dates of one catalogue row, for ``dangan show``.

    With ``Settings`` the home's schedule is used and, unless ``decision`` is given, the
    latest appraisal decision in its register. An item whose 保管期限 does not fit the
    schedule gets ``{"problem": …}`` instead of dates: ``show`` must never fail on it.
    """
    code = row.archival_code
    if isinstance(source, Schedule):
        schedule = source
    else:
        schedule = home_schedule(source)
        decision = decision or latest_decisions(Ledger(source.home).decisions()).get(code)
    try:
        dates = schedule.dates(row.metadata(), decision)
    except DanganError as exc:
        return {"problem": str(exc), "decision": decision_to_dict(decision) if decision else None}
    return {
        "rule": dates.rule_id,
        "retention": dates.retention,
        "appraisal_due": _day(dates.appraisal_due),
        "transfer_due": _day(dates.transfer_due),
        "opening": _day(dates.opening),
        "opening_review": dates.opening_review,
        "retain_until": _day(dates.retain_until),
        "decision": decision_to_dict(decision) if decision else None,
    }


def due(settings: Settings, catalogue: Catalogue, as_of: date | None = None) -> DueReport:
    """到期鉴定: items in the archive whose period has run out by ``as_of`` (today), and the
    已移交副本 whose keep period has ended by then (``sender_copy`` set), in date order.
    """
    as_of = as_of or now().date()
    ledger = Ledger(settings.home)
    decisions, holds = ledger.decisions(), ledger.holds()
    items = [(r.metadata(), status_of(r)) for r in catalogue.list()]
    schedule = home_schedule(settings)
    report = schedule.due_for_appraisal(items, as_of, decisions=decisions, holds=holds)
    copies = removable_copies(settings.home, catalogue, schedule, as_of, decisions=decisions, holds=holds)
    report.items = sorted([*report.items, *copies.items], key=lambda d: (d.due, d.meta.archival_code or ""))
    report.problems += copies.problems
    return report


def due_to_dict(report: DueReport, as_of: date) -> dict[str, Any]:
    return {
        "as_of": as_of.isoformat(),
        "total": len(report.items),
        "items": [
            {
                "archival_code": d.meta.archival_code,
                "title": d.meta.title,
                "category": d.meta.category,
                "year": d.meta.year,
                "retention": d.meta.retention,
                "kind": "transferred_copy" if d.sender_copy else "expired",
                "due": d.due.isoformat(),
                "held": d.held,
                "decision": decision_to_dict(d.decision) if d.decision else None,
                "transfer": copy_to_dict(d.sender_copy) if d.sender_copy else None,
            }
            for d in report.items
        ],
        "problems": [{"path": p.path, "message": p.message, "rule": p.rule} for p in report.problems],
    }


# --- appraisal decisions ------------------------------------------------------------------------


def decide(
    settings: Settings,
    catalogue: Catalogue,
    codes: Iterable[str],
    action: Action | str,
    reason: str,
    by: str,
    *,
    period: str | None = None,
    at: datetime | None = None,
) -> list[Decision]:
    """鉴定: one decision per item, all checked before any is recorded.

    Recorded in ``registers/decisions.jsonl`` and as a PREMIS ``appraisal`` event beside
    the AIP in every location holding it.

    Raises:
        UsageError: No codes.
        NotFoundError: An unknown 档号.
        InvalidDecisionError: No reason or person (or a name with invisible characters), an
            item not in the archive, a 永久 item, an extension not longer, or destruction of an
            item whose period has not run out.
    """
    at = at or now()
    codes = list(dict.fromkeys(codes))
    if not codes:
        raise UsageError(_("请给出至少一个档号"))
    by = require_person(by, "鉴定人", "decided_by", failing(InvalidDecisionError, None))
    ledger = Ledger(settings.home)
    schedule = home_schedule(settings)
    earlier = latest_decisions(ledger.decisions())
    decisions = [
        _checked_decision(schedule, item_row(catalogue, c), Decision(c, action, reason, by, at, period), earlier.get(c))
        for c in codes
    ]
    ledger.add_decisions(decisions)
    for d in decisions:
        _record_appraisal(settings, catalogue, d)
    return decisions


def _checked_decision(schedule: Schedule, row: ItemRow, decision: Decision, earlier: Decision | None) -> Decision:
    code = decision.archival_code
    if decision.action is Action.remove_copy or row.status == "transferred":
        raise InvalidDecisionError(
            _("已移交档案的本库副本无须鉴定：保留期满后直接用 destroy propose 提出销毁批次"),
            path=code,
            rule="appraisal:transferred",
        )
    if status_of(row) is not Status.active:
        raise InvalidDecisionError(
            _("只有在档的档案可以鉴定（现状态：{status}）").format(status=row.status),
            path=code,
            rule="appraisal:in-archive",
        )
    meta = row.metadata()
    schedule.dates(meta, decision)  # the decision fits the item and the schedule
    if decision.action is Action.destroy:
        # Due under the decision in force: an item extended or made 永久 is not due at its old date.
        current = schedule.dates(meta, earlier)
        if current.appraisal_due is None or current.appraisal_due > decision.time.date():
            until = current.appraisal_due.isoformat() if current.appraisal_due else retention_label("Y")
            raise InvalidDecisionError(
                _("保管期限未满（至 {until}），不能鉴定为销毁").format(until=until),
                path=code,
                rule="appraisal:destroy-when-due",
            )
    return decision


def _record_appraisal(settings: Settings, catalogue: Catalogue, d: Decision) -> None:
    row = catalogue.get(d.archival_code)
    held = catalogue.copies(d.archival_code)
    detail = f"鉴定意见 (appraisal): {d.action.label}"
    if d.new_period:
        detail += f"（新期限 {retention_label(d.new_period)}）"
    detail += f"; 理由: {d.reason}; 鉴定人: {d.decided_by}"
    when = d.time.astimezone(UTC).isoformat(timespec="seconds")
    for loc in open_locations(settings):
        if loc.name in held:
            event = Event(APPRAISAL, detail, "success", agent=d.decided_by, time=when, location=loc.name)
            record_event(catalogue, loc, row.aip_key, d.archival_code, event)


# --- holds --------------------------------------------------------------------------------------


def place_hold(
    settings: Settings,
    catalogue: Catalogue,
    *,
    reason: str,
    by: str,
    code: str | None = None,
    fonds: str | None = None,
    category: str | None = None,
    retention: str | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    at: datetime | None = None,
) -> Hold:
    """冻结: one 档号, or a class (全宗, optionally 门类, 保管期限, 年度 range); in force until lifted.

    The class codes are taken as typed in any case or width (``ws``, ``d10``) and must be
    codes of the archive's code lists: a hold on a code no record can carry would freeze
    nothing while looking as if it did.

    Raises:
        NotFoundError: An unknown 档号.
        UsageError: An unknown 全宗号.
        InvalidHoldError: No reason or person, a name with invisible characters, no scope or
            both scopes, or a 门类 or 保管期限 code that is not in the code lists.
    """
    at = at or now()
    by = require_person(by, "冻结人", "placed_by", failing(InvalidHoldError, None))
    if code:
        item_row(catalogue, code)
    fonds, category, retention = _hold_codes(settings, fonds, category, retention)
    ledger = Ledger(settings.home)
    with ledger.locked():
        hold = Hold(
            ledger.next_hold_id(at.date()), reason, by, at, archival_code=code, fonds_code=fonds, category=category,
            retention=retention, year_from=year_from, year_to=year_to,
        )  # fmt: skip
        ledger.add_hold(hold)
    return hold


def _hold_codes(
    settings: Settings, fonds: str | None, category: str | None, retention: str | None
) -> tuple[str | None, str | None, str | None]:
    """The class codes of a hold, normalised and checked against dangan.toml and the code lists."""
    fonds = class_codes(settings, fonds, None, None)[0]  # a UsageError naming the fonds the home holds
    try:
        category, retention = class_codes(settings, None, category, retention)[1:]
    except UsageError as exc:
        raise InvalidHoldError(_("冻结范围无效: {error}").format(error=exc.message), rule="hold:scope") from exc
    return fonds, category, retention


def lift_hold(settings: Settings, hold_id: str, by: str, at: datetime | None = None) -> Hold:
    """解除冻结 by a named person; the hold stays on record, lifted.

    Raises:
        NotFoundError: No such hold.
        InvalidHoldError: Already lifted, or no person.
    """
    by = require_person(by, "解除人", "lifted_by", failing(InvalidHoldError, hold_id))
    ledger = Ledger(settings.home)
    with ledger.locked():
        held = {h.hold_id: h for h in ledger.holds()}
        if hold_id not in held:
            raise NotFoundError(_("没有冻结 {hold_id}").format(hold_id=hold_id))
        lifted = held[hold_id].lift(by, at or now())
        ledger.add_hold(lifted)
    return lifted


def list_holds(settings: Settings) -> list[Hold]:
    """Every hold, in force or lifted, in the order placed."""
    return sorted(Ledger(settings.home).holds(), key=lambda h: (h.placed_at, h.hold_id))


# --- destruction batches ------------------------------------------------------------------------


def propose(
    settings: Settings, catalogue: Catalogue, codes: Iterable[str], by: str, at: datetime | None = None
) -> DestructionBatch:
    """提出销毁批次: items whose latest decision is destroy, due and not held; and 已移交副本
    whose keep period has ended, each under a ``remove_copy`` decision recorded here.

    Raises:
        InvalidBatchError: The proposer's name is blank or holds invisible characters.
        DestructionRefusedError: The first problem; ``details`` holds them all. Nothing is recorded.
    """
    at = at or now()
    codes = list(dict.fromkeys(codes))
    by = require_person(by, "提出人", "proposer", failing(InvalidBatchError, None))
    ledger = Ledger(settings.home)
    schedule = home_schedule(settings)
    latest = latest_decisions(ledger.decisions())
    copies = sender_copies(settings.home, catalogue, schedule, codes)
    found = [_proposable(catalogue, c, latest.get(c), copies.get(c), by, at) for c in codes]
    _raise_all([p for p in found if isinstance(p, DestructionRefusedError)])
    decisions = tuple(d for d in found if isinstance(d, Decision))
    candidate = DestructionBatch("新批次", by, at, decisions)
    problems = batch_problems(
        candidate, ledger.holds(), metas_of(catalogue, codes), schedule=schedule, as_of=at.date(),
        sender_copies=copies,
    )  # fmt: skip
    _raise_all([p for p in problems if not isinstance(p, _UNSIGNED)])
    new = [d for d in decisions if latest.get(d.archival_code) is not d]
    if new:
        ledger.add_decisions(new)
    return ledger.create_batch(lambda batch_id: replace(candidate, batch_id=batch_id), at.date())


def _proposable(
    catalogue: Catalogue, code: str, decision: Decision | None, copy: SenderCopy | None, by: str, at: datetime
) -> Decision | DestructionRefusedError:
    """The decision the item enters the batch with, or why it cannot."""
    row = catalogue.get(code)
    if row is None:
        return UnknownItemError(_("目录中没有这件档案"), path=code, rule="destruction:item")
    if copy is not None and row.status == "transferred":
        if decision is not None and decision.action is Action.remove_copy:
            return decision  # proposed before: the same decision, so an earlier batch keeps its signatures
        return Decision(code, Action.remove_copy, removal_reason(copy), by, at)
    if status_of(row) is not Status.active:
        return InvalidBatchError(
            _("不在档（{status}）").format(status=row.status), path=code, rule="destruction:in-archive"
        )
    if decision is None:
        return NotDestroyDecisionError(_("尚无鉴定意见"), path=code, rule="destruction:decision")
    return decision


def _raise_all(problems: list[DestructionRefusedError]) -> None:
    """Raise the first problem, carrying every one, so the archivist fixes them all in one pass."""
    if problems:
        first = problems[0]
        first.details = tuple(problems)
        raise first


def approve(
    settings: Settings, batch_id: str, by: str, role: Role | str, at: datetime | None = None
) -> DestructionBatch:
    """签署: one named person approves the batch's current content in one role.

    Raises:
        BatchChangedError: The batch changed since it was proposed.
        SelfApprovalError: The proposer signs.
        RoleConflictError / InvalidBatchError: The person has already signed this batch, or
            the name holds invisible or control characters (张<U+200B>敏 is refused, not compared).
    """
    approval = Approval(by, role, at or now())
    ledger = Ledger(settings.home)
    with ledger.locked():
        batch = signed_batch(ledger, batch_id)
        if ledger.run_state(batch_id).get("complete"):
            raise InvalidBatchError(_("该批次已执行完毕"), path=batch_id)
        if person_key(by) == person_key(batch.proposer):
            raise SelfApprovalError(
                _("提出人 {proposer} 不得批准自己提出的销毁批次").format(proposer=batch.proposer),
                path=batch_id,
                rule="destruction:not-proposer",
            )
        _refuse_second_signature(batch, approval)
        ledger.add_approval(batch_id, approval, batch_digest(batch))
    return batch.approve(approval)


def _refuse_second_signature(batch: DestructionBatch, approval: Approval) -> None:
    for a in batch.approvals:
        if person_key(a.person) != person_key(approval.person):
            continue
        if a.role is approval.role:
            raise InvalidBatchError(
                _("{person} 已以{role}身份签署").format(person=a.person, role=a.role),
                path=batch.batch_id,
                rule="destruction:sign-once",
            )
        raise RoleConflictError(
            _("{person} 已以{role}身份签署，不得再以{other}身份签署").format(
                person=a.person, role=a.role, other=approval.role
            ),
            path=batch.batch_id,
            rule="destruction:one-role-per-person",
        )


def batch_report(settings: Settings, catalogue: Catalogue, batch_id: str) -> dict[str, Any]:
    """What ``destroy show`` prints: items, signatures (valid or not), what still blocks the run."""
    ledger = Ledger(settings.home)
    schedule = home_schedule(settings)
    batch, _stored = ledger.read_batch(batch_id)
    digest = batch_digest(batch)
    state = ledger.run_state(batch_id)
    blocking: list[str] = []
    try:
        signed = signed_batch(ledger, batch_id)
        if not state.get("complete"):
            found = batch_problems(
                signed, ledger.holds(), metas_of(catalogue, batch.archival_codes), schedule=schedule,
                sender_copies=sender_copies(settings.home, catalogue, schedule, batch.archival_codes),
            )  # fmt: skip
            blocking = [str(p) for p in found]
    except DestructionRefusedError as exc:
        blocking = [str(exc)]
    return {
        "batch_id": batch.batch_id,
        "proposer": batch.proposer,
        "proposed_at": batch.proposed_at.isoformat(timespec="seconds"),
        "digest": digest,
        "items": [_item_entry(catalogue, d) for d in batch.decisions],
        "approvals": [
            {**approval_to_dict(s.approval), "valid": s.batch_digest == digest} for s in ledger.approvals(batch_id)
        ],
        "blocking": blocking,
        "run": state,
    }


def _item_entry(catalogue: Catalogue, d: Decision) -> dict[str, Any]:
    row = catalogue.get(d.archival_code)
    known = {k: getattr(row, k) for k in ("title", "year", "retention", "page_count", "status")} if row else {}
    return {"archival_code": d.archival_code, **known, "decision": decision_to_dict(d)}
