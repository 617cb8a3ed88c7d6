"""档号 rule engine: pinned examples from DA/T 22-2015 and DA/T 13-2022, strict parsing, round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from archive.archival_code import (
    LOOKALIKE_DOTS,
    MIDDLE_DOT,
    ArchivalCodeRule,
    available_rules,
    load_rule,
    normalise_dots,
)
from archive.errors import ConfigError, MetadataError
from archive.model import ItemMetadata

DAT22 = load_rule("dat22")
DAT13 = load_rule("dat13")


def meta(
    category: str = "WS", year: int = 2023, retention: str = "D30", org: str = "", fonds: str = "J012"
) -> ItemMetadata:
    return ItemMetadata(fonds, "振兴社区居民委员会", category, year, retention, "题名", org_code=org)


@pytest.mark.parametrize(
    ("rule", "item", "number", "expected"),
    [
        (DAT22, meta(), 1, "J012-WS·2023-D30-0001"),
        (DAT22, meta(retention="Y", org="BGS"), 7, "J012-WS·2023-Y-BGS-0007"),
        (DAT22, meta(category="ZY·DB"), 1, "J012-ZY·DB·2023-D30-0001"),
        (DAT22, meta(fonds="Z109", year=2011, retention="Y", org="BGS"), 1, "Z109-WS·2011-Y-BGS-0001"),
        (DAT13, meta(), 1, "J012-WS·2023·D30-0001"),
        (DAT13, meta(category="ZY·DB"), 1, "J012-ZY·DB·2023·D30-0001"),
        (DAT13, meta(fonds="Z109", year=2011, retention="Y", org="办公室"), 1, "Z109-WS·2011·Y·办公室-0001"),
    ],
)
def test_standards_examples_render_and_parse(
    rule: ArchivalCodeRule, item: ItemMetadata, number: int, expected: str
) -> None:
    assert rule.render(item, number) == expected
    parts = rule.parse(expected)
    assert parts == {
        "fonds": item.fonds_code,
        "category": item.category,
        "year": item.year,
        "retention": item.retention,
        "org": item.org_code,
        "number": number,
    }
    assert rule.is_valid(expected)


def test_default_rule_is_dat22() -> None:
    assert load_rule() == DAT22
    assert {"dat22", "dat13"} <= set(available_rules())


def test_dat13_examples_with_per_category_width() -> None:
    # DA/T 13-2022 examples pad 3 digits, WY 5: expressible with width overrides.
    rule = ArchivalCodeRule.from_table(
        {
            "template": "{fonds}-{category}·{year}·{retention}[·{org}]-{number}",
            "number_width": 3,
            "category_width": {"WY": 5},
        },
        name="dat13-3",
    )
    assert rule.parse("Z008-WS·2019·Y-037")["number"] == 37
    assert rule.parse("A439-WS·2015·D30·003-005")["org"] == "003"
    assert rule.parse("C015-WY·TZGG·2019·D10-00001")["category"] == "WY·TZGG"
    assert (
        rule.render(meta(category="WY·TZGG", fonds="C015", year=2019, retention="D10"), 1)
        == "C015-WY·TZGG·2019·D10-00001"
    )
    assert not rule.is_valid("C015-WY·TZGG·2019·D10-001")


def test_second_level_width_beats_first_level() -> None:
    rule = ArchivalCodeRule.from_table(
        {"template": "{fonds}-{category}·{year}-{retention}-{number}", "category_width": {"ZY": 3, "ZY·DB": 5}}
    )
    assert rule.width_for("ZY·DB") == 5
    assert rule.width_for("ZY·JS") == 3
    assert rule.width_for("WS") == 4


@pytest.mark.parametrize("dot", sorted(LOOKALIKE_DOTS))
def test_lookalike_dots_refused_with_advice(dot: str) -> None:
    code = f"J012-WS{dot}2023-D30-0001"
    with pytest.raises(MetadataError, match="U\\+00B7"):
        DAT22.parse(code)
    assert not DAT22.is_valid(code)
    with pytest.raises(MetadataError, match="U\\+00B7"):
        DAT22.render(meta(category=f"ZY{dot}DB"), 1)
    assert normalise_dots(code) == "J012-WS·2023-D30-0001"


@pytest.mark.parametrize(
    "code",
    [
        "J012-WS·2023-D30-001",  # too short
        "J012-WS·2023-D30-00001",  # too long
        "J012-WS·2023-D30-0000",  # 件号 starts at 1
        "J012-WS·2023-D30-0001 ",  # trailing space
        " J012-WS·2023-D30-0001",
        "J012-WS-2023-D30-0001",  # wrong separator inside 类别号
        "J012-WS·2023·D30-0001",  # DA/T 13 form under the DA/T 22 rule
        "J012-ws·2023-D30-0001",  # lower case
        "J012-WS·23-D30-0001",
        "J012-WS·2023--0001",
        "J012--WS·2023-D30-0001",
        "J012-WS·2023-D30-BGS-",
        "J012-WS·2023-D30-０００１",  # full-width digits
        "",
    ],
)
def test_parse_is_strict(code: str) -> None:
    with pytest.raises(MetadataError):
        DAT22.parse(code)
    assert not DAT22.is_valid(code)


@pytest.mark.parametrize(
    ("item", "number"),
    [
        (meta(), 0),
        (meta(), 10_000),
        (meta(), -1),
        (meta(), True),
        (meta(fonds="J-12"), 1),
        (meta(fonds=""), 1),
        (meta(category="wS"), 1),
        (meta(category=""), 1),
        (meta(year=23), 1),
        (meta(year=20230), 1),
        (meta(retention="永久"), 1),
        (meta(org="B-S"), 1),
    ],
)
def test_render_refuses_bad_parts(item: ItemMetadata, number: int) -> None:
    with pytest.raises(MetadataError):
        DAT22.render(item, number)


@pytest.mark.parametrize(
    "template",
    [
        "{fonds}-{category}",  # no {number}
        "{fonds}{category}-{number}",  # adjacent fields
        "{fonds}-[{org}{year}]-{number}",  # two fields in one optional part
        "{fonds}-[[-{org}]]-{number}",
        "{fonds}-[-{org}-{number}",
        "{fonds}-{org}]-{number}",
        "{fonds}-{volume}-{number}",  # unknown field
        "{fonds}-{number}-{number}",
        "{fonds}-{category}・{year}-{number}",  # look-alike dot in the template itself
        "{fonds}-{category-{number}",
    ],
)
def test_bad_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError):
        ArchivalCodeRule.from_table({"template": template})


@pytest.mark.parametrize(
    "table",
    [
        {"template": "{fonds}-{number}", "number_width": 0},
        {"template": "{fonds}-{number}", "number_width": "4"},
        {"template": "{fonds}-{number}", "numberwidth": 4},
        {"number_width": 4},
        {"template": "{fonds}-{number}", "patterns": {"fonds": "("}},
        {"template": "{fonds}-{number}", "patterns": {"volume": "x"}},
    ],
)
def test_bad_tables_are_config_errors(table: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ArchivalCodeRule.from_table(table)


def test_unknown_rule_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="dat13"):
        load_rule("dat99")


def test_archive_can_add_rule_and_change_default(tmp_path: Path) -> None:
    (tmp_path / "archival_code.toml").write_text(
        'default = "town"\n[rules.town]\n'
        'template = "{fonds}-{category}-{year}-{retention}-{number}"\nnumber_width = 5\n',
        encoding="utf-8",
    )
    rule = load_rule(extra_dir=tmp_path)
    assert rule.name == "town"
    assert rule.render(meta(), 3) == "J012-WS-2023-D30-00003"
    assert load_rule("dat22", extra_dir=tmp_path) == DAT22


def test_ambiguous_pattern_override_refused_at_render() -> None:
    # A retention pattern that swallows the separator would read "D30-BGS" back as the
    # retention and lose the 机构 code: the 档号 is permanent, so refuse to write it.
    rule = ArchivalCodeRule.from_table(
        {"template": "{fonds}-{category}·{year}-{retention}[-{org}]-{number}", "patterns": {"retention": "[A-Z0-9-]+"}}
    )
    assert rule.render(meta(), 1) == "J012-WS·2023-D30-0001"
    with pytest.raises(MetadataError, match="无歧义"):
        rule.render(meta(org="BGS"), 1)


def test_rule_is_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        DAT22.number_width = 5  # type: ignore[misc]
    assert hash(DAT22) == hash(load_rule("dat22"))


# --- property: render → parse is the identity under both bundled rules -------------

fonds_codes = st.from_regex(r"[A-Z][0-9]{3}", fullmatch=True)
sub_codes = st.from_regex(r"[A-Z][A-Z0-9]{0,3}", fullmatch=True)
categories = st.one_of(
    st.sampled_from(["WS", "KJ", "RS", "KU", "ZY", "ZP", "LY", "LX", "SJ", "YJ", "WY", "MT", "SW"]),
    st.builds(
        lambda top, subs: MIDDLE_DOT.join([top, *subs]),
        st.sampled_from(["ZY", "WY", "WS"]),
        st.lists(sub_codes, min_size=1, max_size=3),
    ),
)
retentions = st.sampled_from(["Y", "D30", "D10", "C", "D"])
orgs = st.one_of(
    st.just(""),
    st.from_regex(r"[A-Z]{2,4}", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.sampled_from(["办公室", "民政", "党建"]),
)


@given(
    rule=st.sampled_from([DAT22, DAT13]),
    fonds=fonds_codes,
    category=categories,
    year=st.integers(1949, 2100),
    retention=retentions,
    org=orgs,
    number=st.integers(1, 9999),
)
@example(rule=DAT22, fonds="J012", category="ZY·DB", year=2023, retention="D30", org="", number=1)
@example(rule=DAT13, fonds="J012", category="WS", year=2023, retention="Y", org="BGS", number=7)
@example(rule=DAT13, fonds="J012", category="ZY·D", year=2023, retention="D", org="30", number=9999)
@example(rule=DAT22, fonds="J012", category="WS", year=2023, retention="D", org="300", number=1)
def test_render_parse_round_trip(
    rule: ArchivalCodeRule, fonds: str, category: str, year: int, retention: str, org: str, number: int
) -> None:
    item = meta(category=category, year=year, retention=retention, org=org, fonds=fonds)
    code = rule.render(item, number)
    assert rule.is_valid(code)
    assert rule.parse(code) == {
        "fonds": fonds,
        "category": category,
        "year": year,
        "retention": retention,
        "org": org,
        "number": number,
    }
