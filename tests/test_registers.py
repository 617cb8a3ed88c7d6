"""Registers: 销毁清册 (XLSX, PDF), 移交清册 (文件目录.XML, XLSX), 交接登记表, 说明文件."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import astuple, replace
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from archive.errors import MissingDependencyError, TransferListError, UnsafeXMLError
from archive.model import ItemMetadata
from archive.xmlsafe import parse_xml
from retention import Action, Approval, Decision, DestructionBatch, Role, _transfer_list
from retention._register_checks import handover_findings, labelled_fields, readme_findings, sheet_findings
from retention._transfer_list import read_transfer_list_xlsx
from retention.registers import (
    DESTRUCTION_COLUMNS,
    TRANSFER_COLUMNS,
    AipDigest,
    DestructionRegister,
    Handover,
    TransferRow,
    destruction_register_pdf,
    destruction_register_xlsx,
    find_cjk_font,
    handover_xml,
    read_transfer_list,
    transfer_list_xlsx,
    transfer_list_xml,
    transfer_readme,
    transfer_rows,
)

WHEN = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
TITLES = ("2015年低保审批名册", "关于调整社区网格的通知", "计划生育奖励扶助对象确认表")


def metas() -> list[ItemMetadata]:
    return [
        ItemMetadata(
            "J012",
            "振兴社区居民委员会",
            "WS",
            2015,
            "D10",
            title,
            author="振兴社区居民委员会",
            date=f"201503{n:02d}",
            page_count=n + 1,
            archival_code=f"J012-WS·2015-D10-{n:04d}",
            remarks="含附件" if n == 2 else "",
        )
        for n, title in enumerate(TITLES, 1)
    ]


def register() -> DestructionRegister:
    items = metas()
    batch = DestructionBatch(
        "XH-2026-001",
        "王档案",
        WHEN,
        tuple(Decision(m.archival_code, Action.destroy, "保管期限已满，无保存价值", "李鉴定", WHEN) for m in items),
        tuple(
            Approval(p, r, WHEN)
            for p, r in (
                ("李鉴定", Role.panel),
                ("张主任", Role.head),
                ("陈监销", Role.witness),
                ("刘监销", Role.witness),
            )
        ),
    )
    return DestructionRegister.from_batch(batch, items, destroyed_on=date(2026, 3, 2), method="删除并覆写")


def sheet_rows(data: bytes, first_column: str) -> tuple[list[str], list[tuple]]:
    """(the lines above the column row, the data rows), read back with openpyxl."""
    rows = list(load_workbook(BytesIO(data)).active.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r[0] == first_column)
    return [r[0] for r in rows[:header]], rows[header:]


# ── 销毁清册 ───────────────────────────────────────────────────────────────────────


def test_destruction_register_xlsx_reads_back():
    above, rows = sheet_rows(destruction_register_xlsx(register()), "序号")
    assert above[0] == "销毁清册"
    header_text = "\n".join(above)
    for expected in ("XH-2026-001", "J012", "振兴社区居民委员会", "李鉴定", "张主任", "陈监销、刘监销", "2026-03-02"):
        assert expected in header_text
    assert rows[0] == DESTRUCTION_COLUMNS
    assert rows[1] == (
        1,
        "J012-WS·2015-D10-0001",
        TITLES[0],
        2015,
        "定期10年",
        "10年",
        2,
        "保管期限已满，无保存价值",
        None,
    )
    assert [r[2] for r in rows[1:]] == list(TITLES)
    assert rows[2][8] == "含附件"


@pytest.fixture
def pdftotext():
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return tool


def test_destruction_register_pdf_has_the_chinese_text(pdftotext, tmp_path: Path):
    try:
        find_cjk_font()
    except MissingDependencyError:
        pytest.skip("no CJK font: install the Debian package fonts-noto-cjk")
    data = destruction_register_pdf(register(), created=WHEN)
    pdf = tmp_path / "销毁清册.pdf"
    pdf.write_bytes(data)
    text = subprocess.run([pdftotext, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True).stdout
    text = text.decode("utf-8")
    for expected in ("销毁清册", "振兴社区居民委员会", "监销人（签字）", "定期10年", *TITLES):
        assert expected in text
    with pikepdf.open(pdf) as doc:
        fonts = [f for page in doc.pages for f in page.Resources.Font.values()]
        descriptors = [f.DescendantFonts[0].FontDescriptor for f in fonts]
        assert descriptors and all("/FontFile3" in d or "/FontFile2" in d for d in descriptors)  # embedded
        assert doc.docinfo["/Title"] == "销毁清册"


def test_missing_font_says_which_package_to_install():
    with pytest.raises(MissingDependencyError, match="fonts-noto-cjk"):
        find_cjk_font(Path("/nonexistent/NotoSansCJK-Regular.ttc"))


# ── 移交清册 ───────────────────────────────────────────────────────────────────────


def test_transfer_list_round_trips():
    rows = transfer_rows(metas())
    assert rows[0].record_name == "电子档案/2015/WS/J012-WS·2015-D10-0001"
    data = transfer_list_xml(rows)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert read_transfer_list(data) == rows


def test_transfer_list_in_gb18030_round_trips():
    rows = transfer_rows(metas())
    data = transfer_list_xml(rows, encoding="GB18030")
    assert b"encoding='GB18030'" in data
    assert "低保".encode("gb18030") in data
    assert read_transfer_list(data) == rows


def test_transfer_list_xlsx_reads_back():
    rows = transfer_rows(metas())
    above, read = sheet_rows(transfer_list_xlsx(rows, header_lines=["移交单位：振兴社区居民委员会"]), "顺序号")
    assert above == ["移交清册", "移交单位：振兴社区居民委员会"]
    assert read[0] == TRANSFER_COLUMNS
    assert [r[3] for r in read[1:]] == list(TITLES)
    assert read[1][:3] == (1, "J012-WS·2015-D10-0001", "振兴社区居民委员会")


@given(title=st.text(min_size=1, max_size=40), author=st.text(max_size=10))
def test_transfer_list_writes_what_it_reads_or_refuses(title, author):
    row = TransferRow(1, "J012-WS·2015-D10-0001", author or "居委会", title, "20150301", "", "电子档案/2015/WS/x")
    try:
        data = transfer_list_xml([row])
    except TransferListError:
        return  # control or non-XML characters, or a blank title: refused, never written
    assert read_transfer_list(data) == [row]


def test_doctype_and_entities_are_refused():
    body = transfer_list_xml(transfer_rows(metas())).decode("utf-8").split("?>", 1)[1]
    evil = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE 文件目录 [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + body.replace(TITLES[0], "&x;")
    ).encode("utf-8")
    with pytest.raises(UnsafeXMLError) as exc:
        read_transfer_list(evil, name="移交/文件目录.XML")
    assert exc.value.path == "移交/文件目录.XML"
    assert exc.value.rule == "xmlsafe:no-dtd"


def xml_with(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode()


def entry(
    seq: str = "1", code: str = "J012-WS·2015-D10-0001", date_: str = "20150301", name: str = "电子档案/a"
) -> str:
    return (
        f"<文件><顺序号>{seq}</顺序号><档号>{code}</档号><责任者>居委会</责任者><题名>通知</题名>"
        f"<日期>{date_}</日期><密级/><电子档案名称>{name}</电子档案名称><备注/></文件>"
    )


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (f"<目录>{entry()}</目录>", "transfer-list:root"),
        (f'<文件目录 版本="9">{entry()}</文件目录>', "transfer-list:root"),
        ("<文件目录></文件目录>", "transfer-list:empty"),
        (f"<文件目录>{entry()}<案卷/></文件目录>", "transfer-list:element"),
        (
            "<文件目录><文件><顺序号>1</顺序号><档号>J012-WS·2015-D10-0001</档号></文件></文件目录>",
            "transfer-list:fields",
        ),
        (f"<文件目录>{entry().replace('<备注/>', '<备注><b/></备注>')}</文件目录>", "transfer-list:fields"),
        (f"<文件目录>{entry()}多余</文件目录>", "transfer-list:text"),
        (f"<文件目录>{entry(seq='一')}</文件目录>", "transfer-list:sequence"),
        (f"<文件目录>{entry(seq='2')}</文件目录>", "transfer-list:sequence"),
        (f"<文件目录>{entry(date_='20150230')}</文件目录>", "transfer-list:date"),
        (f"<文件目录>{entry(code='')}</文件目录>", "transfer-list:required"),
        (f"<文件目录>{entry(name='../../etc/passwd')}</文件目录>", "transfer-list:record-name"),
        (f"<文件目录>{entry(name='/abs')}</文件目录>", "transfer-list:record-name"),
        (f"<文件目录>{entry()}{entry(seq='2', name='电子档案/b')}</文件目录>", "transfer-list:unique"),
        (f"<文件目录>{entry().replace('<密级/>', '<密级>特密</密级>')}</文件目录>", "transfer-list:classification"),
    ],
)
def test_malformed_transfer_lists_name_file_and_rule(body, rule):
    with pytest.raises(TransferListError) as exc:
        read_transfer_list(xml_with(body), name="文件目录.XML")
    assert exc.value.rule == rule
    assert exc.value.path == "文件目录.XML"


def test_every_row_problem_is_reported():
    body = f"<文件目录>{entry(date_='2015')}{entry(seq='3', code='', name='电子档案/b')}</文件目录>"
    with pytest.raises(TransferListError) as exc:
        read_transfer_list(xml_with(body))
    assert {d.rule for d in exc.value.details} == {
        "transfer-list:date",
        "transfer-list:sequence",
        "transfer-list:required",
    }


def test_writer_refuses_what_the_reader_would_refuse():
    good = transfer_rows(metas())
    with pytest.raises(TransferListError):
        transfer_list_xml([*good[:1], TransferRow(2, "J012-WS·2015-D10-0002", "居委会", "", "20150301", "", "x")])
    with pytest.raises(TransferListError):
        transfer_list_xml(good, encoding="GB2312")


# ── 交接登记表, 说明文件 ────────────────────────────────────────────────────────────


def handover() -> Handover:
    aips = tuple(
        AipDigest(
            m.archival_code,
            1_000_000 * n,
            {
                "SHA-256": hashlib.sha256(m.title.encode()).hexdigest(),
                "SM3": hashlib.new("sm3", m.title.encode()).hexdigest(),
            },
        )
        for n, m in enumerate(metas(), 1)
    )
    return Handover(
        "振兴社区2015年度文书档案移交",
        "2015年度永久、定期30年文书档案",
        "振兴社区居民委员会",
        "某镇档案馆",
        "王档案",
        "孙馆员",
        date(2026, 3, 5),
        aips,
        checks={"完整性": "通过", "准确性": "通过"},
    )


def test_handover_record():
    h = handover()
    root = parse_xml(handover_xml(h), name="交接登记表.XML")
    assert root.tag == "交接登记表"
    assert root.findtext("数量") == "3"
    assert root.find("数量").get("单位") == "件"
    assert root.findtext("字节数") == "6000000"
    assert root.findtext("数据量") == "0.006"  # 6,000,000 / 2^30, three decimals
    checks = {c.get("名称"): c.text for c in root.find("检验")}
    assert checks == {"准确性": "通过", "完整性": "通过", "可用性": "未检测", "安全性": "未检测", "载体外观": "未检测"}
    packages = root.find("信息包清单")
    assert [p.get("档号") for p in packages] == [a.archival_code for a in h.aips]
    first = {d.get("算法"): d.text for d in packages[0]}
    assert first == dict(h.aips[0].digests)
    assert root.findtext("移交单位") == "振兴社区居民委员会" and root.findtext("接收人") == "孙馆员"


@pytest.mark.parametrize(
    "change",
    [
        {"aips": ()},
        {"sender": " "},
        {"checks": {"真实性": "通过"}},
        {"aips": (AipDigest("J012-WS·2015-D10-0001", 10, {"SHA-256": "NOT-HEX"}),)},
        {"aips": (AipDigest("J012-WS·2015-D10-0001", 10, {}),)},
        {"aips": (AipDigest("a", 1, {"SM3": "0" * 64}), AipDigest("a", 1, {"SM3": "0" * 64}))},
    ],
)
def test_handover_refuses_bad_input(change):
    with pytest.raises(TransferListError):
        handover_xml(replace(handover(), **change))


def test_readme_describes_the_transfer():
    text = transfer_readme(handover(), metas(), producer="振兴社区居民委员会", checker="某镇档案馆")
    assert text.startswith("说明文件\n")
    for expected in (
        "振兴社区2015年度文书档案移交",
        "3 件",
        "0.006 GB（6000000 字节）",
        "定期10年 3 件",
        "文件目录.XML",
    ):
        assert expected in text
    assert "年度：2015—2015" in text and "J012 振兴社区居民委员会" in text and "SM3" in text


# ── the registers of one transfer, checked against each other (receive) ──────────────


def test_transfer_list_xlsx_is_read_back_as_text():
    rows = transfer_rows(metas())
    header = "移交单位：振兴社区居民委员会　接收单位：某镇档案馆　移交编号：YJ-J012-20260305-0a1b2c3d"
    sheet = read_transfer_list_xlsx(transfer_list_xlsx(rows, header_lines=[header]))
    assert sheet.header_lines == (header,)
    assert sheet.rows == tuple(tuple(str(v) for v in astuple(r)) for r in rows)
    assert labelled_fields(sheet.header_lines)["移交编号"] == "YJ-J012-20260305-0a1b2c3d"


def test_transfer_list_xlsx_retyped_in_excel_still_reads_as_text():
    rows = transfer_rows(metas()[:1])
    book = load_workbook(BytesIO(transfer_list_xlsx(rows)))
    book.active.cell(3, 5).value = 20150301  # Excel makes a typed-in date a number
    book.active.cell(3, 1).value = 1.0
    out = BytesIO()
    book.save(out)
    assert read_transfer_list_xlsx(out.getvalue()).rows[0][:5] == ("1", "J012-WS·2015-D10-0001", *astuple(rows[0])[2:5])


def test_unreadable_or_oversized_xlsx_is_refused(monkeypatch):
    with pytest.raises(TransferListError) as exc:
        read_transfer_list_xlsx(b"PK\x03\x04 not really a workbook")
    assert exc.value.rule == "transfer-list:xlsx"
    data = transfer_list_xlsx(transfer_rows(metas()))
    monkeypatch.setattr(_transfer_list, "MAX_XLSX_UNPACKED", 1000)
    with pytest.raises(TransferListError, match="解压后超过"):
        read_transfer_list_xlsx(data)


def test_sheet_differing_from_the_xml_list_names_each_cell():
    rows = transfer_rows(metas())
    edited = [rows[0], replace(rows[1], title="改过的题名"), replace(rows[2], archival_code="J012-WS·2015-D10-0009")]
    data = transfer_list_xlsx(edited, header_lines=["移交单位：别的单位　移交编号：YJ-1"])
    found = sheet_findings(data, "移交清册.xlsx", rows, {"移交单位": "振兴社区居民委员会", "移交编号": "YJ-1"})
    assert [(f.code, f.expected, f.found) for f in found] == [
        ("YJ-1-4", TITLES[1], "改过的题名"),
        ("YJ-1-4", "J012-WS·2015-D10-0003", "J012-WS·2015-D10-0009"),
        ("YJ-1-4", "振兴社区居民委员会", "别的单位"),
    ]
    assert sheet_findings(transfer_list_xlsx(rows), "移交清册.xlsx", rows, {}) == []
    short = sheet_findings(transfer_list_xlsx(rows[:2]), "移交清册.xlsx", rows, {})
    assert [f.code for f in short] == ["YJ-2-1"]


def test_readme_and_handover_are_checked_field_by_field():
    h, items = handover(), metas()
    readme = transfer_readme(h, items, producer="振兴社区居民委员会").encode("utf-8")
    assert readme_findings(readme, "说明文件.TXT", h, items) == []
    edited = readme.decode().replace("数量：3 件", "数量：4 件").replace("移交单位：", "移交单位：另").encode()
    assert sorted(f.code for f in readme_findings(edited, "说明文件.TXT", h, items)) == ["YJ-1-4", "YJ-2-1"]
    assert [f.code for f in readme_findings(b"\xff\xfe", "说明文件.TXT", h, items)] == ["YJ-3-1"]

    data = handover_xml(h)
    info = {"Source-Organization": h.sender, "DA-Receiver": h.receiver, "Bagging-Date": "2026-03-05"}
    info["External-Description"] = h.name
    assert handover_findings(h, data, "交接登记表.XML", {**info, "DA-Item-Count": "3"}, items) == []
    wrong = {**info, "Source-Organization": "幸福社区居民委员会", "DA-Item-Count": "2", "External-Description": "别的"}
    codes = sorted(f.code for f in handover_findings(h, data, "交接登记表.XML", wrong, items))
    assert codes == ["YJ-1-4", "YJ-1-4", "YJ-2-1"]
    gb = data.replace(b">0.006<", b">9.006<")
    assert [f.code for f in handover_findings(h, gb, "交接登记表.XML", info, items)] == ["YJ-2-2"]
    elsewhere = [replace(m, fonds_name="另一个村民委员会") for m in items]
    [other] = handover_findings(h, data, "交接登记表.XML", info, elsewhere)
    assert other.code == "YJ-1-4" and "另一个村民委员会" in other.message
