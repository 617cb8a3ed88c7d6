"""保管期限表: dates per class, the 会计 table, overrides, and the due-date helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from archive.errors import ConfigError
from archive.model import ItemMetadata
from retention import Action, Decision, Hold, Status, load_schedule
from retention.errors import BelowMinimumError, NoRetentionRuleError
from retention.rules import CountsFrom

WHEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def item(category: str, year: int, retention: str, number: int = 1, **kw: object) -> ItemMetadata:
    code = f"J012-{category}·{year}-{retention}-{number:04d}"
    return ItemMetadata(
        "J012", "振兴社区居民委员会", category, year, retention, f"题名{number}", archival_code=code, **kw
    )


@pytest.fixture
def schedule():
    return load_schedule()


def test_ws_d10_of_2015_is_due_on_2026_01_01(schedule):
    dates = schedule.dates(item("WS", 2015, "D10"))
    assert dates.clock_start == date(2016, 1, 1)
    assert dates.appraisal_due == date(2026, 1, 1)
    assert dates.retain_until == date(2026, 1, 1)
    assert dates.transfer_due is None  # 定期10年 stays with the 居委会
    assert dates.opening == date(2041, 1, 1)
    assert dates.rule_id == "WS"


@pytest.mark.parametrize(
    ("retention", "appraisal", "transfer"),
    [("Y", None, date(2020, 1, 1)), ("D30", date(2046, 1, 1), date(2020, 1, 1)), ("D10", date(2026, 1, 1), None)],
)
def test_ws_periods(schedule, retention, appraisal, transfer):
    dates = schedule.dates(item("WS", 2015, retention))
    assert dates.appraisal_due == appraisal
    assert dates.transfer_due == transfer  # the 5th year after 年度 2015 is 2020


def test_permanent_has_no_appraisal_and_a_far_lock(schedule):
    dates = schedule.dates(item("WS", 2023, "Y"))
    assert dates.appraisal_due is None
    assert dates.retain_until == date(2100, 1, 1)
    assert dates.retain_until < date(2106, 2, 7)  # fits 32-bit unsigned seconds (old Ceph RGW truncates beyond)


def test_opening_is_25_years_after_the_end_of_the_year(schedule):
    assert schedule.dates(item("WS", 2000, "Y")).opening == date(2026, 1, 1)
    assert schedule.dates(item("WS", 2000, "Y")).opening_review == ""


@pytest.mark.parametrize(
    ("category", "year", "retention", "appraisal", "rule_id"),
    [
        ("KU·PZ", 2016, "D30", date(2047, 1, 1), "KU·PZ"),  # 凭证 30 years
        ("KU·ZB", 2016, "D30", date(2047, 1, 1), "KU·ZB"),  # 账簿 30 years
        ("KU·BG", 2016, "Y", None, "KU·BG"),  # 年度财务会计报告 永久
        ("KU·BG", 2016, "D10", date(2027, 1, 1), "KU·BG"),  # 月/季报 10 years
        ("KU·QT", 2016, "D10", date(2027, 1, 1), "KU·QT"),  # 银行对账单 10 years
        ("KU·PZ", 2016, "Y", None, "KU·PZ"),  # the table is a minimum: longer is allowed
        ("KU", 2016, "D10", date(2027, 1, 1), "KU"),  # no second level: the whole table's minimum
        ("KU·PZ", 2014, "D15", date(2030, 1, 1), "KU·PZ"),  # pre-2016 period kept as written
    ],
)
def test_accounting_rules(schedule, category, year, retention, appraisal, rule_id):
    dates = schedule.dates(item(category, year, retention))
    assert dates.appraisal_due == appraisal
    assert dates.rule_id == rule_id


def test_accounting_counts_from_the_fiscal_year_end(schedule):
    rule = schedule.rule_for("KU·PZ")
    assert rule.counts_from is CountsFrom.fiscal_year_end
    assert rule.clock_start(2016) == date(2017, 1, 1)
    assert rule.record_types["原始凭证"] == "D30"
    assert schedule.rule_for("KU·BG").record_types["年度财务会计报告"] == "Y"


@pytest.mark.parametrize(("category", "retention"), [("KU·PZ", "D10"), ("KU·ZB", "D10"), ("KU·PZ", "D15")])
def test_accounting_below_the_minimum_is_refused(schedule, category, retention):
    with pytest.raises(BelowMinimumError) as exc:
        schedule.dates(item(category, 2016, retention))
    assert "定期30年" in exc.value.message
    assert exc.value.rule.startswith("retention:minimum")


def test_community_series_need_review_before_opening(schedule):
    dates = schedule.dates(item("ZY·DB", 2016, "D30"))
    assert dates.rule_id == "ZY·DB"
    assert "个人信息" in dates.opening_review
    assert dates.transfer_due == date(2021, 1, 1)
    assert schedule.rule_for("ZY·XX").id == "ZY"  # an unknown series falls back to 专门档案


def test_classified_items_need_review_before_opening(schedule):
    assert "密级" in schedule.dates(item("WS", 2016, "Y", classification="秘密")).opening_review


def test_other_categories_use_the_default_rule(schedule):
    assert schedule.rule_for("ZP").id == "default"
    assert schedule.dates(item("ZP", 2016, "D30")).appraisal_due == date(2047, 1, 1)


def test_legacy_codes_before_2006(schedule):
    long_term = schedule.dates(item("WS", 2001, "C"))
    assert long_term.appraisal_due == date(2032, 1, 1)  # 长期 counted as 30 years
    assert long_term.transfer_due == date(2006, 1, 1)  # and transferred like 定期30年
    assert schedule.dates(item("WS", 2001, "D")).appraisal_due == date(2012, 1, 1)


@pytest.mark.parametrize("retention", ["D20", "X", "D0", ""])
def test_codes_the_rule_does_not_accept(schedule, retention):
    with pytest.raises(NoRetentionRuleError):
        schedule.dates(item("WS", 2016, retention))


def test_sender_keeps_its_copy_five_more_years(schedule):
    assert schedule.sender_copy_until(date(2025, 3, 1)) == date(2030, 3, 1)


#: Any D<n> accepted, so the property below covers every period length; immutable, so shared.
ANY_PERIOD = load_schedule({"rule": [{"id": "default", "retention": ["*"]}]})


@given(year=st.integers(1950, 2150), years=st.integers(1, 99), category=st.sampled_from(["ZP", "LY", "SW·XX"]))
@example(year=2015, years=10, category="ZP")
def test_definite_periods_end_on_1_january(year, years, category):
    dates = ANY_PERIOD.dates(item(category, year, f"D{years}"))
    assert dates.appraisal_due == date(year + 1 + years, 1, 1)
    assert dates.retain_until == dates.appraisal_due
    assert dates.opening == date(year + 26, 1, 1)


# ── overrides ────────────────────────────────────────────────────────────────────────


def test_override_narrows_a_series():
    schedule = load_schedule({"rule": [{"id": "ZY·DB", "retention": ["Y", "D30"]}]})
    assert schedule.rule_for("ZY·DB").title == "低保档案"  # untouched keys survive
    assert schedule.dates(item("ZY·DB", 2016, "D30")).appraisal_due == date(2047, 1, 1)
    with pytest.raises(NoRetentionRuleError):
        schedule.dates(item("ZY·DB", 2016, "D10"))


def test_override_schedule_settings():
    schedule = load_schedule(
        {"schedule": {"transfer_after_years": 10, "permanent_retain_until": "2099-12-31"}, "file": "ignored.toml"}
    )
    assert schedule.dates(item("WS", 2015, "D30")).transfer_due == date(2025, 1, 1)
    assert schedule.dates(item("WS", 2015, "Y")).retain_until == date(2099, 12, 31)


def test_override_adds_and_removes_rules():
    schedule = load_schedule(
        {
            "rule": [
                {"id": "ZP", "title": "照片档案", "category": "ZP", "retention": ["Y"], "transfer_periods": ["Y"]},
                {"id": "ZY·JK", "remove": True},
            ]
        }
    )
    assert schedule.rule_for("ZP").title == "照片档案"
    with pytest.raises(NoRetentionRuleError):
        schedule.dates(item("ZP", 2016, "D30"))
    assert schedule.rule_for("ZY·JK").id == "ZY"


def test_rules_file_then_dangan_toml(tmp_path: Path):
    rules = tmp_path / "保管期限表.toml"
    rules.write_text(
        '[[rule]]\nid = "ZY·DB"\nretention = ["D30"]\n\n[legacy_periods]\nC = 50\n',
        encoding="utf-8",
    )
    from_file = load_schedule(extra_file=rules)
    assert from_file.rule_for("ZY·DB").retention == ("D30",)
    assert from_file.dates(item("WS", 2001, "C")).appraisal_due == date(2052, 1, 1)
    both = load_schedule({"rule": [{"id": "ZY·DB", "retention": ["Y"]}]}, extra_file=rules)
    assert both.rule_for("ZY·DB").retention == ("Y",)  # dangan.toml wins over the file


@pytest.mark.parametrize(
    "overrides",
    [
        {"unknown": 1},
        {"schedule": {"opening_year": 25}},
        {"schedule": {"transfer_after_years": 0}},
        {"rule": [{"id": "ZY·DB", "retention": ["D3X"]}]},
        {"rule": [{"id": "ZY·DB", "counts_from": "signing_date"}]},
        {"rule": [{"id": "new", "category": "zp"}]},
        {"rule": [{"id": "twin", "category": "WS"}]},
        {"rule": [{"id": "default", "remove": True}]},
        {"rule": [{"id": "nothing-here", "remove": True}]},
        {"rule": [{"title": "无 id"}]},
        {"schedule": {"permanent_retain_until": "next century"}},
    ],
)
def test_bad_overrides_are_config_errors(overrides):
    with pytest.raises(ConfigError):
        load_schedule(overrides)


# ── due-date helpers ─────────────────────────────────────────────────────────────────


def test_due_for_appraisal(schedule):
    due = item("WS", 2015, "D10", 1)
    later = item("WS", 2016, "D10", 2)
    gone = item("WS", 2015, "D10", 3)
    permanent = item("WS", 2015, "Y", 4)
    broken = item("KU·PZ", 2016, "D10", 5)
    items = [(later, Status.active), (due, "在档"), (gone, Status.destroyed), (permanent, "在档"), (broken, "在档")]
    report = schedule.due_for_appraisal(items, date(2026, 1, 1))
    assert [d.meta.archival_code for d in report.items] == [due.archival_code]
    assert report.items[0].due == date(2026, 1, 1)
    assert [type(p) for p in report.problems] == [BelowMinimumError]
    assert report.problems[0].path == broken.archival_code
    assert schedule.due_for_appraisal(items, date(2025, 12, 31)).items == []


def test_due_for_appraisal_applies_decisions_and_flags_holds(schedule):
    extended, destroyed = item("WS", 2015, "D10", 1), item("WS", 2015, "D10", 2)
    decisions = [
        Decision(extended.archival_code, Action.extend, "仍有查考价值", "李鉴定", WHEN, new_period="D30"),
        Decision(destroyed.archival_code, Action.destroy, "无保存价值", "李鉴定", WHEN),
    ]
    hold = Hold("H-1", "信访复查", "张主任", WHEN, archival_code=destroyed.archival_code)
    report = schedule.due_for_appraisal(
        [(extended, "在档"), (destroyed, "在档")], date(2026, 6, 1), decisions=decisions, holds=[hold]
    )
    assert [d.meta.archival_code for d in report.items] == [destroyed.archival_code]
    assert report.items[0].held is True
    assert report.items[0].decision.action is Action.destroy


def test_due_for_transfer(schedule):
    d30 = item("WS", 2020, "D30", 1)
    d10 = item("WS", 2020, "D10", 2)
    moved = item("WS", 2020, "Y", 3)
    items = [(d30, "在档"), (d10, "在档"), (moved, Status.transferred)]
    assert schedule.due_for_transfer(items, date(2024, 12, 31)).items == []
    report = schedule.due_for_transfer(items, date(2025, 1, 1))
    assert [d.meta.archival_code for d in report.items] == [d30.archival_code]
    assert report.items[0].due == date(2025, 1, 1)


def test_unknown_status_is_a_bug_not_a_silent_skip(schedule):
    with pytest.raises(ValueError):
        schedule.due_for_transfer([(item("WS", 2020, "D30"), "lost")], date(2030, 1, 1))
