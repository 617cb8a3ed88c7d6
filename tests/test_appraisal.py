"""鉴定与销毁: decisions, holds on items and classes, and destruction approvals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from archive.errors import AppraisalError, DestructionRefusedError
from archive.model import ItemMetadata
from retention import (
    Action,
    Approval,
    ApprovalPolicy,
    Decision,
    DestructionBatch,
    Hold,
    Role,
    check_approved,
    check_decision,
    holds_on,
    is_held,
    latest_decisions,
    load_schedule,
)
from retention.destruction import person_key
from retention.errors import (
    ApprovalTimeError,
    InvalidBatchError,
    InvalidDecisionError,
    InvalidHoldError,
    ItemHeldError,
    MissingRoleError,
    NotDestroyDecisionError,
    NotDueError,
    RoleConflictError,
    SelfApprovalError,
    TooFewApproversError,
    UnknownItemError,
)

BEIJING = timezone(timedelta(hours=8))
PROPOSED = datetime(2026, 2, 10, 9, 0, tzinfo=BEIJING)
SIGNED = PROPOSED + timedelta(days=3)
AS_OF = date(2026, 3, 1)
PROPOSER = "王档案"


def item(category: str, year: int, retention: str, number: int = 1, fonds: str = "J012") -> ItemMetadata:
    code = f"{fonds}-{category}·{year}-{retention}-{number:04d}"
    return ItemMetadata(fonds, "振兴社区居民委员会", category, year, retention, f"题名{number}", archival_code=code)


def destroy(meta: ItemMetadata) -> Decision:
    return Decision(meta.archival_code, Action.destroy, "保管期限已满，无继续保存价值", "李鉴定", PROPOSED)


def approvals(*pairs: tuple[str, Role]) -> tuple[Approval, ...]:
    return tuple(Approval(person, role, SIGNED) for person, role in pairs)


FULL = (("李鉴定", Role.panel), ("张主任", Role.head), ("陈监销", Role.witness), ("刘监销", Role.witness))


@pytest.fixture
def schedule():
    return load_schedule()


@pytest.fixture
def metas():
    return [item("WS", 2015, "D10", 1), item("WS", 2015, "D10", 2)]


def batch_of(metas, signers=FULL, decisions=None, proposer=PROPOSER) -> DestructionBatch:
    return DestructionBatch(
        "XH-2026-001", proposer, PROPOSED, tuple(decisions or map(destroy, metas)), approvals(*signers)
    )


# ── decisions ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"reason": "  "}, "appraisal:required-field"),
        ({"decided_by": ""}, "appraisal:required-field"),
        ({"time": datetime(2026, 1, 5, 9, 0)}, "appraisal:aware-time"),
        ({"action": "shred"}, "appraisal:action"),
        ({"action": Action.extend}, "appraisal:new-period"),
        ({"action": Action.extend, "new_period": "Y"}, "appraisal:new-period"),
        ({"action": Action.extend, "new_period": "D3X"}, "appraisal:new-period"),
        ({"new_period": "D30"}, "appraisal:new-period"),
    ],
)
def test_invalid_decisions(kwargs, rule):
    fields = {"archival_code": "J012-WS·2015-D10-0001", "action": Action.destroy, "reason": "无保存价值"}
    fields |= {"decided_by": "李鉴定", "time": PROPOSED} | kwargs
    with pytest.raises(InvalidDecisionError) as exc:
        Decision(**fields)
    assert exc.value.rule == rule
    assert isinstance(exc.value, AppraisalError)


def test_decision_text_is_trimmed_and_action_coerced():
    d = Decision(" J012-WS·2015-D10-0001 ", "extend", " 仍有查考价值 ", " 李鉴定 ", PROPOSED, new_period="D30")
    assert (d.archival_code, d.action, d.reason, d.decided_by) == (
        "J012-WS·2015-D10-0001",
        Action.extend,
        "仍有查考价值",
        "李鉴定",
    )


def test_decision_must_fit_its_item():
    d10 = item("WS", 2015, "D10")
    with pytest.raises(InvalidDecisionError, match="须长于"):
        check_decision(Decision(d10.archival_code, Action.extend, "r", "p", PROPOSED, new_period="D10"), d10)
    with pytest.raises(InvalidDecisionError) as exc:
        check_decision(destroy(item("WS", 2015, "D10", 2)), d10)
    assert exc.value.rule == "appraisal:same-item"
    permanent = item("WS", 2015, "Y")
    with pytest.raises(InvalidDecisionError) as exc:
        check_decision(destroy(permanent), permanent)
    assert exc.value.rule == "appraisal:permanent-final"


def test_decisions_change_the_dates(schedule):
    d10 = item("WS", 2015, "D10")
    extend = Decision(d10.archival_code, Action.extend, "仍有查考价值", "李鉴定", PROPOSED, new_period="D30")
    dates = schedule.dates(d10, extend)
    assert dates.appraisal_due == date(2046, 1, 1)  # counted from the original clock start
    assert dates.transfer_due == date(2020, 1, 1)  # 定期30年 now, so it is transferable
    keep = Decision(d10.archival_code, Action.permanent, "具有长远价值", "李鉴定", PROPOSED)
    assert schedule.dates(d10, keep).appraisal_due is None
    assert schedule.dates(d10, keep).retain_until == date(2100, 1, 1)
    assert schedule.dates(d10, destroy(d10)).appraisal_due == date(2026, 1, 1)


def test_latest_decision_wins():
    d10 = item("WS", 2015, "D10")
    first = destroy(d10)
    later = Decision(d10.archival_code, Action.permanent, "复审认为有长远价值", "赵组长", PROPOSED + timedelta(days=1))
    assert latest_decisions([later, first])[d10.archival_code] is later


# ── holds ───────────────────────────────────────────────────────────────────────────


def test_hold_on_one_item():
    a, b = item("WS", 2015, "D10", 1), item("WS", 2015, "D10", 2)
    hold = Hold("H-1", "诉讼证据", "张主任", PROPOSED, archival_code=a.archival_code)
    assert is_held(a, [hold])
    assert not is_held(b, [hold])


def test_hold_on_a_class():
    hold = Hold(
        "H-2", "低保资金审计", "张主任", PROPOSED, fonds_code="J012", category="ZY", year_from=2014, year_to=2016
    )
    assert is_held(item("ZY·DB", 2015, "D10"), [hold])  # second level within ZY
    assert is_held(item("ZY", 2014, "D30"), [hold])
    assert not is_held(item("ZY·DB", 2017, "D10"), [hold])  # outside the years
    assert not is_held(item("WS", 2015, "D10"), [hold])  # another 门类
    assert not is_held(item("ZYX", 2015, "D10"), [hold])  # a prefix is not a parent
    assert not is_held(item("ZY·DB", 2015, "D10", fonds="J013"), [hold])  # another fonds


def test_hold_on_a_whole_fonds_and_retention():
    hold = Hold("H-3", "撤并清点", "街道办", PROPOSED, fonds_code="J012", retention="D10")
    assert is_held(item("KU·QT", 2001, "D10"), [hold])
    assert not is_held(item("KU·QT", 2001, "D30"), [hold])


def test_lifted_hold_no_longer_holds():
    meta = item("WS", 2015, "D10")
    hold = Hold("H-1", "诉讼证据", "张主任", PROPOSED, archival_code=meta.archival_code)
    lifted = hold.lift("张主任", SIGNED)
    assert hold.active and not lifted.active
    assert (lifted.lifted_by, lifted.lifted_at) == ("张主任", SIGNED)
    assert not is_held(meta, [lifted])
    assert holds_on(meta, [hold, lifted]) == [hold]
    with pytest.raises(InvalidHoldError):
        lifted.lift("张主任", SIGNED)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # no scope at all
        {"archival_code": "J012-WS·2015-D10-0001", "fonds_code": "J012"},  # both scopes
        {"fonds_code": "J012", "year_from": 2016, "year_to": 2015},
        {"fonds_code": "J012", "lifted_by": "张主任"},  # lifted without a time
        {"fonds_code": "J012", "lifted_by": "张主任", "lifted_at": PROPOSED - timedelta(days=1)},
        {"fonds_code": "J012", "reason": ""},
        {"fonds_code": "J012", "placed_by": " "},
        {"fonds_code": "J012", "placed_at": datetime(2026, 2, 10)},
    ],
)
def test_invalid_holds(kwargs):
    fields = {"hold_id": "H-9", "reason": "审计", "placed_by": "张主任", "placed_at": PROPOSED} | kwargs
    with pytest.raises(InvalidHoldError):
        Hold(**fields)


# ── destruction approvals ───────────────────────────────────────────────────────────


def test_a_fully_approved_batch_passes(schedule, metas):
    assert check_approved(batch_of(metas), [], metas, schedule=schedule, as_of=AS_OF) is None


def test_one_approver_is_refused(schedule, metas):
    with pytest.raises(TooFewApproversError) as exc:
        check_approved(batch_of(metas, [("李鉴定", Role.panel)]), [], metas, schedule=schedule, as_of=AS_OF)
    assert exc.value.rule == "destruction:two-approvers"
    assert exc.value.path == "XH-2026-001"


def test_proposer_cannot_approve_own_batch(schedule, metas):
    signers = ((PROPOSER, Role.panel), *FULL[1:])
    with pytest.raises(SelfApprovalError) as exc:
        check_approved(batch_of(metas, signers), [], metas, schedule=schedule, as_of=AS_OF)
    assert exc.value.rule == "destruction:not-proposer"
    # The proposer's signature does not count, so the panel is missing as well.
    assert {type(d) for d in exc.value.details} == {SelfApprovalError, MissingRoleError}


def test_two_approvers_of_the_same_role_are_refused(schedule, metas):
    signers = (("陈监销", Role.witness), ("刘监销", Role.witness))
    with pytest.raises(MissingRoleError) as exc:
        check_approved(batch_of(metas, signers), [], metas, schedule=schedule, as_of=AS_OF)
    assert Role.panel in exc.value.rule
    missing = {d.rule for d in exc.value.details}
    assert missing == {f"destruction:role {Role.panel}", f"destruction:role {Role.head}"}


def test_two_witnesses_are_required(schedule, metas):
    with pytest.raises(MissingRoleError) as exc:
        check_approved(batch_of(metas, FULL[:3]), [], metas, schedule=schedule, as_of=AS_OF)
    assert Role.witness in exc.value.rule


def test_one_name_written_twice_is_one_person(schedule, metas):
    signers = (*FULL[:3], ("陈 监销", Role.witness))  # the same witness, spaced differently
    with pytest.raises(MissingRoleError):
        check_approved(batch_of(metas, signers), [], metas, schedule=schedule, as_of=AS_OF)


def test_one_person_in_two_roles_is_refused_unless_the_policy_allows(schedule, metas):
    signers = (("李鉴定", Role.panel), ("李鉴定", Role.witness), ("张主任", Role.head), ("刘监销", Role.witness))
    with pytest.raises(RoleConflictError):
        check_approved(batch_of(metas, signers), [], metas, schedule=schedule, as_of=AS_OF)
    relaxed = ApprovalPolicy(one_role_per_person=False)
    check_approved(batch_of(metas, signers), [], metas, schedule=schedule, as_of=AS_OF, policy=relaxed)


def test_approval_before_the_proposal_is_refused(schedule, metas):
    batch = batch_of(metas, FULL[1:]).approve(Approval("李鉴定", Role.panel, PROPOSED - timedelta(hours=1)))
    with pytest.raises(ApprovalTimeError):
        check_approved(batch, [], metas, schedule=schedule, as_of=AS_OF)


def test_held_item_is_refused(schedule, metas):
    hold = Hold("H-1", "信访复查", "张主任", PROPOSED, archival_code=metas[1].archival_code)
    with pytest.raises(ItemHeldError) as exc:
        check_approved(batch_of(metas), [hold], metas, schedule=schedule, as_of=AS_OF)
    assert exc.value.path == metas[1].archival_code
    assert "H-1" in exc.value.message
    check_approved(batch_of(metas), [hold.lift("张主任", SIGNED)], metas, schedule=schedule, as_of=AS_OF)


def test_item_under_a_class_hold_is_refused(schedule, metas):
    hold = Hold("H-2", "审计", "张主任", PROPOSED, fonds_code="J012", category="WS", year_from=2015, year_to=2015)
    with pytest.raises(ItemHeldError) as exc:
        check_approved(batch_of(metas), [hold], metas, schedule=schedule, as_of=AS_OF)
    assert len(exc.value.details) == 2  # both items


def test_not_yet_due_is_refused(schedule, metas):
    with pytest.raises(NotDueError) as exc:
        check_approved(batch_of(metas), [], metas, schedule=schedule, as_of=date(2025, 12, 31))
    assert "2026-01-01" in exc.value.message
    check_approved(batch_of(metas), [], metas, schedule=schedule, as_of=date(2026, 1, 1))


def test_permanent_item_is_never_due(schedule):
    permanent = [item("WS", 1990, "Y")]
    with pytest.raises(NotDueError, match="永久"):
        check_approved(batch_of(permanent), [], permanent, schedule=schedule, as_of=AS_OF)


def test_decision_other_than_destroy_is_refused(schedule, metas):
    keep = Decision(metas[0].archival_code, Action.extend, "仍有价值", "李鉴定", PROPOSED, new_period="D30")
    with pytest.raises(NotDestroyDecisionError):
        check_approved(batch_of(metas, decisions=[keep, destroy(metas[1])]), [], metas, schedule=schedule, as_of=AS_OF)


def test_unknown_item_is_refused(schedule, metas):
    with pytest.raises(UnknownItemError):
        check_approved(batch_of(metas), [], metas[:1], schedule=schedule, as_of=AS_OF)


def test_every_violation_is_reported(schedule, metas):
    hold = Hold("H-1", "信访复查", "张主任", PROPOSED, archival_code=metas[0].archival_code)
    with pytest.raises(DestructionRefusedError) as exc:
        check_approved(batch_of(metas, [("李鉴定", Role.panel)]), [hold], metas, schedule=schedule, as_of=AS_OF)
    kinds = [type(d) for d in exc.value.details]
    assert kinds[0] is TooFewApproversError  # approvals are checked first
    assert ItemHeldError in kinds and MissingRoleError in kinds


@pytest.mark.parametrize(
    "change",
    [
        {"decisions": ()},
        {"batch_id": ""},
        {"proposer": " "},
        {"proposed_at": datetime(2026, 2, 10)},
    ],
)
def test_invalid_batches(metas, change):
    fields = {
        "batch_id": "XH-1",
        "proposer": PROPOSER,
        "proposed_at": PROPOSED,
        "decisions": tuple(map(destroy, metas)),
    }
    with pytest.raises(InvalidBatchError):
        DestructionBatch(**(fields | change))


def test_item_listed_twice_is_refused(metas):
    with pytest.raises(InvalidBatchError, match="多次"):
        DestructionBatch("XH-1", PROPOSER, PROPOSED, (destroy(metas[0]), destroy(metas[0])))


def test_approvals_need_a_name_a_known_role_and_a_zone():
    with pytest.raises(InvalidBatchError):
        Approval("", Role.panel, SIGNED)
    with pytest.raises(InvalidBatchError):
        Approval("李鉴定", "组长", SIGNED)
    with pytest.raises(InvalidBatchError):
        Approval("李鉴定", Role.panel, datetime(2026, 2, 13))
    assert Approval("李鉴定", "监销人", datetime(2026, 2, 13, tzinfo=UTC)).role is Role.witness


# ── names compared as people, codes compared as codes ─────────────────────────────


INVISIBLE = ["张\u200b敏", "张敏\u00ad", "张敏\u200c", "\u2060张敏", "张\ufe0f敏", "张\u3164敏", "张\r\n敏", "张\x00敏"]


def _code_points(name: str) -> str:
    return "-".join(f"{ord(c):04X}" for c in name if c not in "张敏")


@pytest.mark.parametrize("name", INVISIBLE, ids=_code_points)
def test_names_with_invisible_characters_are_refused_everywhere_a_person_signs(name, metas):
    """张<U+200B>敏 prints as 张敏: as proposer, signer, appraiser or holder it would pass for someone else."""
    with pytest.raises(InvalidBatchError, match="不可见字符") as exc:
        Approval(name, Role.witness, SIGNED)
    assert exc.value.rule == "appraisal:person-name" and "U+" in exc.value.message
    with pytest.raises(InvalidBatchError, match="提出人"):
        DestructionBatch("XH-1", name, PROPOSED, tuple(map(destroy, metas)))
    with pytest.raises(InvalidDecisionError, match="鉴定人"):
        Decision(metas[0].archival_code, Action.destroy, "无保存价值", name, PROPOSED)
    with pytest.raises(InvalidHoldError, match="冻结人"):
        Hold("H-1", "诉讼", name, PROPOSED, fonds_code="J012")
    with pytest.raises(InvalidHoldError, match="解除人"):
        Hold("H-1", "诉讼", "张主任", PROPOSED, fonds_code="J012").lift(name, SIGNED)


@pytest.mark.parametrize(
    ("lang", "named", "unnamed"), [("C", "鉴定人", "decided_by"), ("en_US.UTF-8", "decided_by", "鉴定人")]
)
def test_a_missing_field_is_named_in_one_language_the_persons(monkeypatch, lang, named, unnamed):
    """The field checks are shared with disposition, which names each field in both languages: one is said."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", lang)
    with pytest.raises(InvalidDecisionError) as exc:
        Decision("J012-WS·2015-D10-0001", Action.destroy, "无保存价值", " ", PROPOSED)
    assert named in exc.value.message and unnamed not in exc.value.message


def test_names_compare_without_invisible_characters_width_case_or_spaces():
    for variant in ("张\u200b敏", "张敏\u00ad", "\u2060张 敏", "张\u3000敏", "张\ufe0f敏"):
        assert person_key(variant) == person_key("张敏"), repr(variant)
    assert person_key("Ｌｉ Ｍｉｎｇ") == person_key("li ming")
    assert person_key("张敏") != person_key("张民")


def test_proposer_signing_under_a_disguised_name_is_still_the_proposer(schedule, metas):
    """A register written by other means (not through Approval's checks) still compares people truly."""
    batch = batch_of(metas, proposer="张敏")
    for disguised, role in (("张 敏", Role.panel), ("ＺＨＡＮＧ", Role.head)):
        batch = batch.approve(Approval(disguised, role, SIGNED))
    sneaky = object.__new__(Approval)  # bypasses __post_init__, as a hand-edited register line would
    object.__setattr__(sneaky, "person", "张\u200b敏")
    object.__setattr__(sneaky, "role", Role.witness)
    object.__setattr__(sneaky, "time", SIGNED)
    with pytest.raises(DestructionRefusedError) as exc:
        check_approved(batch.approve(sneaky), [], metas, schedule=schedule, as_of=AS_OF)
    self_approvals = [d for d in exc.value.details if isinstance(d, SelfApprovalError)]
    assert len(self_approvals) == 2  # 张 敏 and 张<U+200B>敏 are both the proposer


def test_hold_codes_in_any_case_or_width_cover_the_class():
    hold = Hold("H-4", "审计", "张主任", PROPOSED, fonds_code="j012", category="ｚｙ・db", retention=" d10 ")
    assert (hold.fonds_code, hold.category, hold.retention) == ("J012", "ZY·DB", "D10")
    assert is_held(item("ZY·DB", 2015, "D10"), [hold])
    assert not is_held(item("ZY·DB", 2015, "D30"), [hold])
