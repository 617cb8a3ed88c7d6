"""Metadata profiles as data: loading, overrides, DA/T 70 metadata checks, DA/T 46 XML."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archive.errors import ConfigError, MetadataError, UnsafeXMLError
from archive.itemxml import NAMESPACE, item_from_xml, item_to_xml, validate_item_xml
from archive.model import FileEntry, Finding, Item, ItemMetadata, Verdict
from archive.xmlsafe import parse_xml
from metadata_profiles import Profiles, load_profiles, validate_metadata

TODAY = dt.date(2025, 6, 1)
PROFILES = load_profiles()


def ws(**changes: object) -> ItemMetadata:
    base = ItemMetadata(
        fonds_code="J012",
        fonds_name="振兴社区居民委员会",
        category="WS",
        year=2023,
        retention="D30",
        title="关于开展2023年度居民小组长换届选举的通知",
        author="振兴社区居民委员会",
        date="20230315",
        doc_number="振居〔2023〕5号",
        page_count=3,
    )
    return dataclasses.replace(base, **changes)


def check(meta: ItemMetadata, profiles: Profiles = PROFILES) -> list[Finding]:
    return validate_metadata(meta, profiles.for_category(meta.category), profiles.codes, today=TODAY)


def codes_of(findings: list[Finding]) -> list[tuple[str, Verdict]]:
    return [(f.code, f.verdict) for f in findings]


FAIL, WARN = Verdict.failed, Verdict.warning


# --- bundled data ---------------------------------------------------------------------


def test_bundled_code_lists() -> None:
    category = PROFILES.codes["category"]
    assert list(category.values) == ["WS", "KJ", "RS", "KU", "ZY", "ZP", "LY", "LX", "SJ", "YJ", "WY", "MT", "SW"]
    assert category.values["KU"] == "会计"
    assert dict(category.sub["ZY"].values) == {
        "DB": "低保",
        "JS": "计划生育",
        "YF": "优抚",
        "CJ": "残疾人",
        "JK": "健康",
    }
    assert category.extendable and category.sub["ZY"].extendable
    retention = PROFILES.codes["retention"]
    assert list(retention.values) == ["Y", "D30", "D10"]
    assert retention.is_legacy("C") and retention.is_legacy("D") and retention.legacy_before_year == 2006
    assert list(PROFILES.codes["classification"].values) == ["", "内部", "秘密", "机密", "绝密"]
    assert list(PROFILES.codes["carrier"].values) == ["纸质", "电子", "照片", "录音", "录像"]


def test_every_item_field_is_declared_with_its_dat46_element() -> None:
    declared = set(PROFILES.fields)
    assert declared == {f.name for f in dataclasses.fields(ItemMetadata)}
    assert PROFILES.fields["title"].element == "题名" and PROFILES.fields["title"].m == "M22"
    assert PROFILES.fields["author"].m == "M32" and PROFILES.fields["date"].type == "date"


def test_field_elements_match_the_xml() -> None:
    # fields.toml names the DA/T 46 element; the XML must use the same names.
    root = parse_xml(item_to_xml(full_item()), name="item.xml")
    tags = {el.tag.split("}")[1] for el in root.iter()}
    for spec in PROFILES.fields.values():
        assert spec.element in tags, spec.attr


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("WS", "WS"),
        ("KU", "KU"),
        ("ZY", "ZY"),
        ("ZY·DB", "ZY"),
        ("ZY·XX", "ZY"),
        ("ZP", "ZP"),
        ("LY", "LY"),
        ("LX", "LX"),
        ("KJ", "default"),
        ("SW", "default"),
        ("WY·TZGG", "default"),
        ("ZY・DB", "ZY"),
    ],
)
def test_for_category_falls_back(category: str, expected: str) -> None:
    assert PROFILES.for_category(category).category == expected


@pytest.mark.parametrize("category", ["XX", "", "ws", "文书"])
def test_unknown_category_lists_known_codes(category: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PROFILES.for_category(category)
    assert "WS" in caught.value.message and "KU" in caught.value.message


def test_profiles_say_which_fields_are_required() -> None:
    assert {"title", "author", "date", "page_count"} <= PROFILES.for_category("WS").required
    assert "page_count" not in PROFILES.for_category("ZP").required
    assert "doc_number" not in PROFILES.for_category("WS").required
    assert "classification" not in PROFILES.for_category("WS").required
    assert PROFILES.for_category("ZP").fields["title"].max_length == 200
    assert PROFILES.for_category("WS").fields["title"].max_length == 500


# --- validate_metadata ----------------------------------------------------------------


def test_good_items_have_no_findings() -> None:
    assert check(ws()) == []
    assert check(ws(title="[关于社区换届选举的通知]", doc_number="", classification="内部")) == []
    assert check(ws(category="ZY·DB", title="2023年低保对象审批表")) == []
    assert check(ws(category="ZP", page_count=None, carrier="照片", title="社区文艺汇演合影")) == []
    assert check(ws(year=2005, date="20050601", retention="C")) == []
    assert check(ws(remarks="第一行\n第二行\t附件两份")) == []


def test_findings_name_field_chinese_first() -> None:
    [finding] = check(ws(title="x" * 501))
    assert finding.code == "GD-1-2" and finding.verdict is FAIL
    assert finding.message.startswith("题名")
    zh, en = finding.message.split(" / ", 1)
    assert "501" in zh and "title" in en


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": "x" * 501}, [("GD-1-2", FAIL)]),
        ({"author": "责" * 201}, [("GD-1-2", FAIL)]),
        ({"remarks": "备" * 1001}, [("GD-1-2", FAIL)]),
        ({"date": "2023-03-15"}, [("GD-1-3", FAIL)]),
        ({"date": "20230230"}, [("GD-1-3", FAIL)]),
        ({"date": "２０２３０３１５"}, [("GD-1-3", FAIL)]),
        ({"year": 23}, [("GD-1-3", FAIL)]),
        ({"year": "2023"}, [("GD-1-3", FAIL)]),
        ({"page_count": 0}, [("GD-1-3", FAIL)]),
        ({"page_count": -2}, [("GD-1-3", FAIL)]),
        ({"page_count": True}, [("GD-1-3", FAIL)]),
        ({"fonds_code": "j012"}, [("GD-1-3", FAIL)]),
        ({"category": "WS·ab"}, [("GD-1-3", FAIL)]),
        ({"category": "ZY·QQ"}, [("GD-1-4", FAIL)]),
        ({"retention": "D5"}, [("GD-1-4", FAIL)]),
        ({"retention": "C"}, [("GD-1-4", FAIL)]),  # legacy code on a 2023 record
        ({"classification": "公开"}, [("GD-1-4", FAIL)]),
        ({"carrier": "胶片"}, [("GD-1-4", FAIL)]),
        ({"year": 1948, "date": "19480101"}, [("GD-1-5", FAIL)]),
        ({"year": 2026, "date": ""}, [("GD-1-5", FAIL), ("GD-2-4", FAIL)]),
        ({"date": "20250602"}, [("GD-1-5", FAIL), ("GD-1-5", WARN)]),
        ({"date": "20221228"}, [("GD-1-5", WARN)]),  # cross-year: a warning, not a failure
        ({"title": "通知\x00"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\x07"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\n第二行"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\ud800"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\ue000"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\uffff"}, [("GD-1-6", FAIL)]),
        ({"title": " 通知"}, [("GD-1-6", FAIL)]),
        ({"title": "通知\u3000"}, [("GD-1-6", FAIL)]),
        ({"title": "通\u200b知"}, [("GD-1-6", WARN)]),
        ({"title": "[关于换届的通知"}, [("GD-1-6", WARN)]),
        ({"title": "低保・名册"}, [("GD-1-6", WARN)]),
        ({"author": "居委会 "}, [("GD-1-6", WARN)]),
        ({"doc_number": "  "}, [("GD-1-6", WARN)]),
        ({"category": "ZY・DB"}, [("GD-1-6", FAIL)]),
        ({"title": ""}, [("GD-2-4", FAIL)]),
        ({"title": "  "}, [("GD-2-4", FAIL)]),
        ({"author": ""}, [("GD-2-4", FAIL)]),
        ({"page_count": None}, [("GD-2-4", FAIL)]),
        ({"fonds_name": ""}, [("GD-2-4", FAIL)]),
    ],
)
def test_each_rule_reports_its_code(changes: dict[str, object], expected: list[tuple[str, Verdict]]) -> None:
    assert sorted(codes_of(check(ws(**changes)))) == sorted(expected)


def test_legacy_retention_only_before_2006() -> None:
    assert check(ws(year=2005, date="20051231", retention="D")) == []
    [finding] = check(ws(year=2006, date="20060101", retention="D"))
    assert finding.code == "GD-1-4" and "2006" in finding.message


@pytest.mark.parametrize(
    ("category", "changes", "expected"),
    [
        ("KU", {"retention": "C", "year": 2005, "date": "20050101"}, [("GD-1-4", FAIL)]),  # 会计: no legacy here
        ("LY", {"carrier": "纸质", "page_count": None}, [("GD-1-4", FAIL)]),
        ("LY", {"carrier": "录音", "page_count": None}, []),
        ("LX", {"carrier": "录像", "page_count": None}, []),
        ("ZP", {"title": "照" * 201, "page_count": None}, [("GD-1-2", FAIL)]),
        ("ZP", {"page_count": 0}, [("GD-1-3", FAIL)]),  # optional, but if given it must be positive
        ("KJ", {"page_count": None}, []),  # default profile: 页数 optional
        ("KJ", {"author": ""}, [("GD-2-4", FAIL)]),
    ],
)
def test_profile_specific_rules(category: str, changes: dict[str, object], expected: list[tuple[str, Verdict]]) -> None:
    assert sorted(codes_of(check(ws(category=category, **changes)))) == sorted(expected)


def test_special_character_messages_name_code_points() -> None:
    [finding] = check(ws(category="ZY・DB"))
    assert "U+30FB" in finding.message and "U+00B7" in finding.message
    [nul] = check(ws(title="通知\x00"))
    assert "U+0000" in nul.message and "\\u0000" in nul.found


def test_only_failures_and_warnings_are_returned() -> None:
    findings = check(ws(title="", date="20221228", retention="X"))
    assert findings and all(f.verdict in (FAIL, WARN) for f in findings)


# --- an archive's own profile directory -----------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_archive_extends_codes_and_adds_a_profile(tmp_path: Path) -> None:
    write(
        tmp_path / "codes.toml",
        '[lists.category.sub.ZY.values]\nSJ = "社会救助"\n[lists.category.values]\nDA = "党建"\n',
    )
    write(
        tmp_path / "profiles" / "dibao.toml",
        '[profile]\ncategory = "ZY·DB"\ntitle = "低保"\nextends = "ZY"\ndate_year_mismatch = "failure"\n'
        "[max_length]\ntitle = 50\n",
    )
    profiles = load_profiles(tmp_path)
    assert "SJ" in profiles.codes["category"].sub["ZY"].values and "DB" in profiles.codes["category"].sub["ZY"].values
    assert "DA" in profiles.categories
    dibao = profiles.for_category("ZY·DB")
    assert dibao.category == "ZY·DB" and "page_count" in dibao.required  # inherited from ZY
    assert dibao.fields["title"].max_length == 50
    assert profiles.for_category("ZY·JS").category == "ZY"
    assert profiles.for_category("DA").category == "default"
    assert codes_of(check(ws(category="ZY·DB", date="20221228"), profiles)) == [("GD-1-5", FAIL)]
    assert check(ws(category="ZY·SJ"), profiles) == []


def test_archive_overrides_a_bundled_profile_key_by_key(tmp_path: Path) -> None:
    write(tmp_path / "profiles" / "WS.toml", '[profile]\ncategory = "WS"\ndate_year_mismatch = "ignore"\n')
    profiles = load_profiles(tmp_path)
    ws_profile = profiles.for_category("WS")
    assert ws_profile.date_year_mismatch == "ignore"
    assert "page_count" in ws_profile.required  # untouched keys stay bundled
    assert check(ws(date="20221228"), profiles) == []


def test_archive_tightens_a_field(tmp_path: Path) -> None:
    write(tmp_path / "fields.toml", '[fields.author]\nmax_length = 10\n[char_rules.line]\nforbidden = ["|"]\n')
    profiles = load_profiles(tmp_path)
    assert codes_of(check(ws(author="振兴社区居民委员会党支部"), profiles)) == [("GD-1-2", FAIL)]
    assert codes_of(check(ws(author="甲|乙"), profiles)) == [("GD-1-6", FAIL)]


@pytest.mark.parametrize(
    ("relpath", "text", "hint"),
    [
        ("codes.toml", '[lists.classification.values]\n"公开" = "公开"\n', "不可扩充"),
        ("codes.toml", "[lists.category]\nextensible = true\n", "extensible"),
        ("codes.toml", "not = [toml", "TOML"),
        (
            "fields.toml",
            "[fields.titel]\ntype = 'text'\nelement = 'x'\nm = ''\nm_verified = false\nlabel_en = 'x'\n",
            "titel",
        ),
        ("fields.toml", "[fields.title]\ntype = 'string'\n", "type"),
        ("fields.toml", "[fields.title]\nchars = 'nope'\n", "nope"),
        ("fields.toml", "[fields.title]\ncode_list = 'nope'\n", "nope"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\nrequired = ["titel"]\n', "titel"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\nallowed_carriers = ["胶片"]\n', "胶片"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\nextends = "nope"\n', "nope"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\nextends = "WS"\n', "extends"),
        ("profiles/x.toml", '[profile]\ntitle = "no category"\n', "category"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\nmandatory = []\n', "mandatory"),
        ("profiles/x.toml", '[profile]\ncategory = "WS"\ndate_year_mismatch = "maybe"\n', "date_year_mismatch"),
    ],
)
def test_bad_archive_files_are_config_errors(tmp_path: Path, relpath: str, text: str, hint: str) -> None:
    write(tmp_path / relpath, text)
    with pytest.raises(ConfigError) as caught:
        load_profiles(tmp_path)
    assert hint in str(caught.value)


def test_missing_profile_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_profiles(tmp_path / "nope")


# --- DA/T 46 XML ----------------------------------------------------------------------

HEX = "0123456789abcdef" * 4


def full_item() -> Item:
    meta = ws(
        org_code="BGS",
        classification="内部",
        remarks="附件：选举办法\n共两份",
        item_number=7,
        archival_code="J012-WS·2023-D30-BGS-0007",
    )
    files = [
        FileEntry(
            "正文/通知.tif",
            123_456,
            HEX,
            HEX.upper(),
            puid="fmt/353",
            format_name="Tagged Image File Format",
            mime="image/tiff",
            pages=3,
            dpi=300.0,
            color_mode="彩色",
        ),
        FileEntry("附件 1.pdf", 0, "f" * 64, "0" * 64, role="附属文档"),
    ]
    return Item(meta, files)


def test_xml_shape_follows_dat46() -> None:
    data = item_to_xml(full_item())
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = parse_xml(data, name="item.xml")
    n = f"{{{NAMESPACE}}}"
    assert root.tag == f"{n}文件实体"
    assert [c.tag[len(n) :] for c in root] == ["聚合层次", "来源", "档号", "内容描述", "形式特征", "附注", "文件数据"]
    assert root.findtext(f"{n}聚合层次") == "件"
    assert root.findtext(f"{n}档号/{n}档号") == "J012-WS·2023-D30-BGS-0007"
    doc = root.find(f"{n}文件数据/{n}文档")
    assert doc.findtext(f"{n}电子属性/{n}格式信息/{n}PRONOM标识") == "fmt/353"
    assert [d.get("算法") for d in doc.iterfind(f"{n}数字摘要")] == ["SHA-256", "SM3"]
    assert b"\n  <" in data  # pretty printed


def test_xml_round_trip_and_validates() -> None:
    item = full_item()
    data = item_to_xml(item)
    assert validate_item_xml(data, "item.xml") == []
    assert item_from_xml(data, "item.xml") == item


def test_xml_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(MetadataError, match="题名"):
        item_to_xml(Item(ws(title="通知\x00")))
    with pytest.raises(MetadataError):
        item_to_xml(Item(ws(remarks="\ufffe")))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<年度>2023</年度>", "<年度>二〇二三</年度>"),
        ("<题名>", "<标题>"),
        ("<页数>3</页数>", "<页数>0</页数>"),
        ("<日期>20230315</日期>", "<日期>2023-03-15</日期>"),
        ("<聚合层次>件</聚合层次>", "<聚合层次>卷</聚合层次>"),
        ('算法="SM3"', '算法="MD5"'),
        ('算法="SM3"', '算法="SHA-256"'),
        ("<文档序号>2</文档序号>", "<文档序号>1</文档序号>"),
        ("<文档主从声明>附属文档", "<文档主从声明>附件"),
        ("</内容描述>", "<未知元素/></内容描述>"),
        ("urn:dangan:dat46:1", "urn:other"),
    ],
)
def test_tampered_xml_fails_schema(old: str, new: str) -> None:
    text = item_to_xml(full_item()).decode()
    assert old in text
    bad = text.replace(old, new, 1).replace(old.replace("<", "</", 1), new.replace("<", "</", 1), 1).encode()
    findings = validate_item_xml(bad, "item.xml")
    assert findings and all(f.code == "GD-2-10" and f.failed and f.path == "item.xml" for f in findings)
    with pytest.raises(MetadataError):
        item_from_xml(bad, "item.xml")


def test_unreadable_xml_is_gd_3_1() -> None:
    data = item_to_xml(full_item())
    for bad in (data[: len(data) // 2], b'<!DOCTYPE x [<!ENTITY a "b">]>' + data.split(b"\n", 1)[1]):
        [finding] = validate_item_xml(bad, "item.xml")
        assert finding.code == "GD-3-1" and finding.failed
        with pytest.raises(UnsafeXMLError):
            item_from_xml(bad, "item.xml")


# Text XML 1.0 can carry, weighted towards CJK and the characters that break naive code.
_EDGE = list("&<>\"'\t\n\r []【】·・\u3000\u00a0\ufeff\u200b\ue000\U00020000\U0001f600") + ["]]>", "\r\n", "&amp;"]
xml_chars = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.sampled_from(_EDGE),
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"),
)
xml_text = st.lists(xml_chars, max_size=12).map("".join)
nonempty_text = st.lists(xml_chars, min_size=1, max_size=12).map("".join)
hex64 = st.from_regex(r"[0-9a-fA-F]{64}", fullmatch=True)

metas = st.builds(
    ItemMetadata,
    fonds_code=st.from_regex(r"[A-Z][0-9]{3}", fullmatch=True),
    fonds_name=xml_text,
    category=st.sampled_from(["WS", "KU", "ZY·DB", "ZP", "LY", "LX", "SW"]),
    year=st.integers(1000, 9999),
    retention=st.sampled_from(["Y", "D30", "D10", "C", "D"]),
    title=xml_text,
    author=xml_text,
    date=st.one_of(st.just(""), st.from_regex(r"[0-9]{8}", fullmatch=True)),
    doc_number=xml_text,
    classification=xml_text,
    page_count=st.one_of(st.none(), st.integers(1, 10**6)),
    carrier=xml_text,
    org_code=xml_text,
    remarks=xml_text,
    item_number=st.one_of(st.none(), st.integers(1, 10**6)),
    archival_code=st.one_of(st.none(), nonempty_text),
)
entries = st.builds(
    FileEntry,
    name=nonempty_text,
    size=st.integers(0, 2**40),
    sha256=hex64,
    sm3=hex64,
    puid=st.one_of(st.none(), st.from_regex(r"(x-)?fmt/[0-9]{1,4}", fullmatch=True)),
    format_name=st.one_of(st.none(), xml_text),
    mime=st.one_of(st.none(), xml_text),
    pages=st.one_of(st.none(), st.integers(0, 5000)),
    dpi=st.one_of(st.none(), st.floats(min_value=0, allow_nan=False, allow_infinity=False)),
    color_mode=st.one_of(st.none(), nonempty_text),
    role=st.sampled_from(["主文档", "附属文档"]),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(item=st.builds(Item, metadata=metas, files=st.lists(entries, max_size=3)))
@example(item=full_item())
@example(item=Item(ws(title=" \r\n]]>&lt;\t", author="\u3000", remarks="\r")))
def test_xml_round_trip_is_exact(item: Item) -> None:
    data = item_to_xml(item)
    assert validate_item_xml(data, "item.xml") == []
    assert item_from_xml(data, "item.xml") == item


def test_cjk_and_edge_text_survive_in_utf8() -> None:
    item = Item(ws(title="\U00020000𠀀[自拟题名]&<>", remarks="一\r\n二"))
    data = item_to_xml(item)
    assert "𠀀".encode() in data
    assert item_from_xml(data, "x.xml").metadata.remarks == "一\r\n二"


def test_every_written_element_is_declared_in_schema() -> None:
    # Keep the schema in step with the writer: every element the writer emits is declared.
    xsd = (Path(__file__).resolve().parents[1] / "archive" / "dat46-item.xsd").read_text(encoding="utf-8")
    text = item_to_xml(full_item()).decode()
    for tag in set(re.findall(r"<([^/?!\s>]+)", text)):
        assert f'name="{tag}"' in xsd, tag
