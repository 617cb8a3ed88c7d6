"""Reading batches as archivists bring them: item lists, bare folders, hostile paths."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.errors import CatalogInputError, UsageError
from archive.model import Finding, Verdict
from ingest.sources import UNLISTED_MESSAGE, SourceItem, read_batch

HEADER = "序号,档号,文号,责任者,题名,日期,密级,页数,保管期限,备注,文件"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sample-batch"


def touch(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_csv(root: Path, lines: list[str], *, encoding: str = "utf-8", name: str = "目录.csv") -> Path:
    path = root / name
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


def codes(findings: list[Finding], verdict: Verdict = Verdict.failed) -> list[str]:
    return [f.code for f in findings if f.verdict is verdict]


def names(item: SourceItem) -> list[str]:
    return [name for name, _ in item.files]


# --- catalog encodings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", ""), ("utf-8-sig", ""), ("gb18030", ""), ("gb18030", "\ufeff")]
)
def test_csv_encodings(tmp_path: Path, encoding: str, bom: str) -> None:
    """UTF-8 with or without its BOM, GB18030 with or without its BOM (84 31 95 33)."""
    touch(tmp_path, "通知.pdf")
    rows = [HEADER, "1,,振社〔2023〕5号,振兴社区居委会,关于垃圾分类的通知,2023-03-05,,2,定期30年,,通知.pdf"]
    catalog = write_csv(tmp_path, [bom + rows[0], *rows[1:]], encoding=encoding)
    if bom:
        assert catalog.read_bytes().startswith(b"\x84\x31\x95\x33")
    items, batch = read_batch(tmp_path, catalog)
    assert batch == []
    (item,) = items
    assert item.source == "目录第2行"
    assert item.fields == {
        "doc_number": "振社〔2023〕5号",
        "author": "振兴社区居委会",
        "title": "关于垃圾分类的通知",
        "date": "20230305",
        "page_count": "2",
        "retention": "D30",
    }
    assert item.files == [("通知.pdf", tmp_path / "通知.pdf")]
    assert item.findings == []


def test_tab_separated_csv(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    catalog = write_csv(tmp_path, ["题名\t文件", "甲\ta.pdf"], name="目录.tsv")
    items, _ = read_batch(tmp_path, catalog)
    assert items[0].fields == {"title": "甲"} and names(items[0]) == ["a.pdf"]


def test_undecodable_csv_names_file_and_line(tmp_path: Path) -> None:
    catalog = tmp_path / "目录.csv"
    catalog.write_bytes("题名,文件\n甲,a.pdf\n".encode() + b"\x80\xff,b.pdf\n")
    with pytest.raises(CatalogInputError) as info:
        read_batch(tmp_path, catalog)
    assert "第3行" in str(info.value) and "目录.csv" in str(info.value)


def test_bom_means_utf8_without_fallback(tmp_path: Path) -> None:
    catalog = tmp_path / "目录.csv"
    catalog.write_bytes(b"\xef\xbb\xbf" + "题名,文件\n".encode() + "甲,a.pdf\n".encode("gb18030"))
    with pytest.raises(CatalogInputError, match="第2行"):
        read_batch(tmp_path, catalog)


@pytest.mark.parametrize(
    ("lines", "match"),
    [(["题名,责任者", "甲,乙"], "文件列"), (["随便写点什么", "没有表头"], "表头")],
)
def test_unusable_catalog(tmp_path: Path, lines: list[str], match: str) -> None:
    with pytest.raises(CatalogInputError, match=match):
        read_batch(tmp_path, write_csv(tmp_path, lines))


def test_missing_catalog_and_root(tmp_path: Path) -> None:
    with pytest.raises(CatalogInputError):
        read_batch(tmp_path, tmp_path / "无.csv")
    with pytest.raises(UsageError):
        read_batch(tmp_path / "nowhere")


def test_legacy_xls_refused(tmp_path: Path) -> None:
    (tmp_path / "目录.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CatalogInputError, match="xls"):
        read_batch(tmp_path, tmp_path / "目录.xls")


# --- XLSX ------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_with_title_row_and_date_cells(tmp_path: Path) -> None:
    touch(tmp_path, "扫描/p1.tif")
    touch(tmp_path, "扫描/p2.tif")
    rows: list[list[object]] = [
        ["归档文件目录"],
        [],
        ["序号", "题名", "日期", "页数", "保管期限", "年度", "机构（问题）", "载体", "电子文件名"],
        [1, "居民代表会议记录", dt.datetime(2023, 6, 1), 12.0, "永久", 2023.0, "BGS", "纸质", "扫描"],
        [None, None, None, None, None, None, None, None, None],
        [2, "低保申请", "2023年7月8日", 3, "D10", 2023, None, "纸质", "扫描/p1.tif"],
    ]
    catalog = write_xlsx(tmp_path / "目录.xlsx", rows)
    items, batch = read_batch(tmp_path, catalog)
    assert [i.source for i in items] == ["目录第4行", "目录第6行"]
    first, second = items
    assert first.fields == {
        "title": "居民代表会议记录",
        "date": "20230601",
        "page_count": "12",
        "retention": "Y",
        "year": "2023",
        "org_code": "BGS",
        "carrier": "纸质",
    }
    assert names(first) == ["p1.tif", "p2.tif"]
    assert second.fields["date"] == "20230708" and names(second) == ["p1.tif"]
    # the same file in two rows is worth a warning, not a failure
    assert codes(second.findings, Verdict.warning) == ["GD-1-8"]
    assert codes(batch) == []


def test_damaged_xlsx(tmp_path: Path) -> None:
    (tmp_path / "目录.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CatalogInputError, match="XLSX"):
        read_batch(tmp_path, tmp_path / "目录.xlsx")


# --- rows and files --------------------------------------------------------------------


def test_multi_file_rows_keep_names_relative_to_their_folder(tmp_path: Path) -> None:
    for rel in ["2023/正文.pdf", "2023/附件1.pdf", "2023/附件2.pdf", "x/a.pdf", "y/b.pdf"]:
        touch(tmp_path, rel)
    catalog = write_csv(
        tmp_path,
        ["题名,文件", "甲,2023/正文.pdf；2023/附件1.pdf | 2023/附件2.pdf", "乙,x/a.pdf;y/b.pdf"],
    )
    items, batch = read_batch(tmp_path, catalog)
    assert names(items[0]) == ["正文.pdf", "附件1.pdf", "附件2.pdf"]
    assert names(items[1]) == ["x/a.pdf", "y/b.pdf"]
    assert items[0].files[1][1] == tmp_path / "2023" / "附件1.pdf"
    assert batch == []


def test_subfolder_row_takes_every_file_below_it_sorted(tmp_path: Path) -> None:
    for rel in ["件1/003.tif", "件1/001.tif", "件1/附件/a.pdf", "件1/.DS_Store", "件1/Thumbs.db"]:
        touch(tmp_path, rel)
    items, batch = read_batch(tmp_path, write_csv(tmp_path, ["题名,文件路径", "甲,件1/"]))
    (item,) = items
    assert names(item) == ["001.tif", "003.tif", "附件/a.pdf"]
    assert codes(item.findings) == []
    assert sorted(codes(item.findings, Verdict.warning)) == ["GD-4-3", "GD-4-3"]
    assert batch == []


def test_windows_separators_in_catalog(tmp_path: Path) -> None:
    touch(tmp_path, "扫描/p1.tif")
    items, _ = read_batch(tmp_path, write_csv(tmp_path, ["题名,文件", "甲,扫描\\p1.tif"]))
    assert names(items[0]) == ["p1.tif"] and items[0].ok


def test_missing_file_and_row_without_file(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    catalog = write_csv(tmp_path, ["题名,文件", "甲,a.pdf;缺失.pdf", "", "乙,"])
    items, _ = read_batch(tmp_path, catalog)
    assert len(items) == 2  # the empty line is skipped
    missing = items[0].findings[0]
    assert (missing.code, missing.verdict, missing.path) == ("GD-2-7", Verdict.failed, "缺失.pdf")
    assert "目录第2行" in missing.message and "缺失.pdf" in missing.message
    assert names(items[0]) == ["a.pdf"]
    assert codes(items[1].findings) == ["GD-2-7"] and "目录第4行" in items[1].findings[0].message


def test_unlisted_files_and_junk(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    touch(tmp_path, "忘了.pdf")
    touch(tmp_path, ".DS_Store")
    touch(tmp_path, "__MACOSX/._a.pdf")
    touch(tmp_path, "目录.xlsx")  # the same list in another format
    catalog = write_csv(tmp_path, ["题名,文件", "甲,a.pdf"])
    _, batch = read_batch(tmp_path, catalog)
    failed = [f for f in batch if f.failed]
    assert [(f.code, f.path) for f in failed] == [("GD-2-1", "忘了.pdf")]
    assert UNLISTED_MESSAGE in failed[0].message
    warned = sorted((f.code, f.path) for f in batch if f.verdict is Verdict.warning)
    assert warned == [("GD-1-12", "目录.xlsx"), ("GD-4-3", ".DS_Store"), ("GD-4-3", "__MACOSX")]


def test_archival_code_in_catalog_is_ignored_with_a_warning(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    items, batch = read_batch(tmp_path, write_csv(tmp_path, ["档号,题名,文件", "J012-WS·2023-Y-0001,甲,a.pdf"]))
    assert "archival_code" not in items[0].fields
    assert codes(batch, Verdict.warning) == ["GD-1-7"]


def test_unknown_column_is_reported(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    _, batch = read_batch(tmp_path, write_csv(tmp_path, ["题名,经办人,文件", "甲,张三,a.pdf"]))
    assert [(f.code, f.found) for f in batch] == [("GD-1-12", "经办人")]


@pytest.mark.parametrize(
    ("header", "field"), [("作者", "责任者"), ("年份", "年度"), ("发文日期", "日期"), ("保管年限", "保管期限")]
)
def test_a_synonym_header_is_refused_with_the_name_to_use(tmp_path: Path, header: str, field: str) -> None:
    """Read as its field it might be misread, ignored its column would be lost: the list is refused."""
    touch(tmp_path, "a.pdf")
    catalog = write_csv(tmp_path, [f"题名,{header},经办人,文件", "甲,振兴社区居委会,张三,a.pdf"])
    with pytest.raises(CatalogInputError, match=f"列“{header}”若为{field}，请改名为“{field}”") as caught:
        read_batch(tmp_path, catalog)
    assert caught.value.rule == "GD-1-12" and "经办人" not in caught.value.message


def test_every_synonym_header_is_named_at_once(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    catalog = write_csv(tmp_path, ["题名, 作者 ,年份*,文件", "甲,居委会,2023,a.pdf"])
    with pytest.raises(CatalogInputError, match="作者.*年份") as caught:
        read_batch(tmp_path, catalog)
    assert "列“作者”若为责任者，请改名为“责任者”；列“年份*”若为年度，请改名为“年度”" in caught.value.message


def test_a_synonym_beside_its_field_is_only_warned_about(tmp_path: Path) -> None:
    touch(tmp_path, "a.pdf")
    items, batch = read_batch(tmp_path, write_csv(tmp_path, ["题名,责任者,作者,文件", "甲,居委会,张三,a.pdf"]))
    assert items[0].fields["author"] == "居委会"
    assert [(f.code, f.verdict, f.found) for f in batch] == [("GD-1-12", Verdict.warning, "作者")]
    assert "已有“责任者”列" in batch[0].message


@pytest.mark.parametrize(
    ("raw", "code"),
    [("永久", "Y"), ("定期30年", "D30"), ("定期10年", "D10"), ("长期", "C"), ("短期", "D"),
     ("d30", "D30"), (" Y ", "Y"), ("定期 10 年", "D10"), ("五年", "五年")],
)  # fmt: skip
def test_retention_names_become_codes(tmp_path: Path, raw: str, code: str) -> None:
    touch(tmp_path, "a.pdf")
    items, _ = read_batch(tmp_path, write_csv(tmp_path, ["题名,保管期限,文件", f"甲,{raw},a.pdf"]))
    assert items[0].fields["retention"] == code


@pytest.mark.parametrize(
    ("raw", "date"),
    [("20230105", "20230105"), ("2023-01-05", "20230105"), ("2023.1.5", "20230105"),
     ("2023/01/05", "20230105"), ("2023年1月5日", "20230105"), ("２０２３年１月５日", "20230105"),
     ("2023年1月", "2023年1月")],
)  # fmt: skip
def test_dates_become_yyyymmdd(tmp_path: Path, raw: str, date: str) -> None:
    touch(tmp_path, "a.pdf")
    items, _ = read_batch(tmp_path, write_csv(tmp_path, ["题名,日期,文件", f"甲,{raw},a.pdf"]))
    assert items[0].fields["date"] == date


# --- hostile paths ---------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["../outside.pdf", "a/../../outside.pdf", "/etc/passwd", "C:\\x.pdf", "~/x.pdf"])
def test_escaping_references_are_refused(tmp_path: Path, ref: str) -> None:
    root = tmp_path / "batch"
    touch(root, "a/x.pdf")
    touch(tmp_path, "outside.pdf")
    items, _ = read_batch(root, write_csv(tmp_path, ["题名,文件", f"甲,{ref}"]))
    assert codes(items[0].findings) == ["GD-4-7"]
    assert items[0].files == []


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "batch"
    touch(root, "real.pdf")
    touch(tmp_path, "secret/s.pdf")
    (root / "link.pdf").symlink_to(root / "real.pdf")
    (root / "linkdir").symlink_to(tmp_path / "secret")
    (root / "unlisted-link").symlink_to(tmp_path / "secret")
    touch(root, "件/a.tif")
    (root / "件" / "b.tif").symlink_to(tmp_path / "secret" / "s.pdf")
    rows = ["题名,文件", "甲,link.pdf", "乙,linkdir/s.pdf", "丙,linkdir", "丁,件", "戊,real.pdf"]
    items, batch = read_batch(root, write_csv(tmp_path, rows))
    for item in items[:3]:
        assert codes(item.findings) == ["GD-4-7"] and item.files == []
    assert codes(items[3].findings) == ["GD-4-7"] and names(items[3]) == ["a.tif"]
    assert items[4].ok
    assert [(f.code, f.path) for f in batch] == [("GD-4-7", "unlisted-link")]
    assert all("符号链接" in f.message for f in batch)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "..", ".", "", "link", "C:", "~", "f.pdf"]), min_size=1, max_size=5))
def test_no_reference_reaches_outside(tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    base = tmp_path_factory.mktemp("h")
    root = base / "batch"
    touch(root, "a/f.pdf")
    touch(base, "f.pdf")
    touch(base, "a/f.pdf")
    (root / "link").symlink_to(base)
    ref = "/".join(parts)
    items, _ = read_batch(root, write_csv(base, ["题名,文件", f"甲,{ref}"]))
    for _, path in items[0].files:
        assert os.path.realpath(path).startswith(str(root.resolve()) + os.sep)


# --- names in GBK bytes ----------------------------------------------------------------


def make_gbk_file(root: Path, name: str, data: bytes = b"gbk") -> None:
    fd = os.open(os.fsencode(root) + b"/" + name.encode("gbk"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_gbk_bytes_name_in_bare_folder(tmp_path: Path) -> None:
    make_gbk_file(tmp_path, "会议记录.pdf")
    items, batch = read_batch(tmp_path)
    (item,) = items
    ((stored, real),) = item.files
    assert stored == "会议记录.pdf" and item.fields == {"title": "会议记录"}
    assert real.read_bytes() == b"gbk"  # the real path still opens the file
    assert item.ok and batch == []


def test_gbk_bytes_name_found_from_catalog(tmp_path: Path) -> None:
    os.mkdir(os.fsencode(tmp_path) + b"/" + "扫描件".encode("gbk"))
    make_gbk_file(tmp_path / os.fsdecode("扫描件".encode("gbk")), "第一页.tif")
    items, batch = read_batch(tmp_path, write_csv(tmp_path, ["题名,文件", "甲,扫描件/第一页.tif"]))
    assert names(items[0]) == ["第一页.tif"] and items[0].ok
    assert items[0].files[0][1].read_bytes() == b"gbk"
    assert batch == []


def test_undecodable_name_fails(tmp_path: Path) -> None:
    fd = os.open(os.fsencode(tmp_path) + b"/bad\xff\x80.pdf", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(fd)
    items, _ = read_batch(tmp_path)
    assert codes(items[0].findings) == ["GD-1-6"]


# --- bare-folder mode ------------------------------------------------------------------


def test_bare_folder_mode(tmp_path: Path) -> None:
    touch(tmp_path, "关于换届选举的公告.pdf")
    touch(tmp_path, "会议记录/p2.tif")
    touch(tmp_path, "会议记录/p1.tif")
    touch(tmp_path, "空文件夹/.keep")
    touch(tmp_path, "Thumbs.db")
    touch(tmp_path, "归档文件目录.csv")
    (tmp_path / "link.pdf").symlink_to(tmp_path / "关于换届选举的公告.pdf")
    items, batch = read_batch(tmp_path)
    by_source = {i.source: i for i in items}
    assert list(by_source) == ["link.pdf", "会议记录", "关于换届选举的公告.pdf", "归档文件目录.csv", "空文件夹"]
    assert names(by_source["会议记录"]) == ["p1.tif", "p2.tif"]
    assert by_source["会议记录"].fields == {"title": "会议记录"}
    assert by_source["关于换届选举的公告.pdf"].fields == {"title": "关于换届选举的公告"}
    assert codes(by_source["link.pdf"].findings) == ["GD-4-7"]
    assert codes(by_source["空文件夹"].findings) == ["GD-2-7"]
    assert codes(by_source["归档文件目录.csv"].findings, Verdict.warning) == ["GD-1-12"]
    assert [(f.code, f.verdict, f.path) for f in batch] == [("GD-4-3", Verdict.warning, "Thumbs.db")]


def test_a_single_file_is_one_item(tmp_path: Path) -> None:
    photo = touch(tmp_path, "照片/2023年重阳节活动.png")
    items, batch = read_batch(photo)
    assert batch == []
    (item,) = items
    assert item.ok and item.source == "2023年重阳节活动.png"
    assert item.files == [("2023年重阳节活动.png", photo)]
    assert item.fields == {"title": "2023年重阳节活动"}


def test_a_single_file_as_it_would_be_in_a_bare_folder(tmp_path: Path) -> None:
    """Read alone or with its folder, a file is the same 件 (but for its path)."""
    touch(tmp_path, "通知.pdf")
    (alone,), _ = read_batch(tmp_path / "通知.pdf")
    (in_folder,), _ = read_batch(tmp_path)
    assert (alone.source, names(alone), alone.fields) == (in_folder.source, names(in_folder), in_folder.fields)


def test_a_single_file_link_or_file_with_a_list_is_refused(tmp_path: Path) -> None:
    target = touch(tmp_path, "a.pdf")
    (tmp_path / "link.pdf").symlink_to(target)
    (item,), _ = read_batch(tmp_path / "link.pdf")
    assert codes(item.findings) == ["GD-4-7"] and item.files == []
    with pytest.raises(UsageError, match="单个文件"):
        read_batch(target, write_csv(tmp_path, ["题名,文件", "甲,a.pdf"]))


# --- the committed sample batch --------------------------------------------------------


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/sample-batch not generated")
def test_sample_batch_reads_cleanly_from_both_lists() -> None:
    from_csv, batch_csv = read_batch(EXAMPLES, EXAMPLES / "目录.csv")
    from_xlsx, batch_xlsx = read_batch(EXAMPLES, EXAMPLES / "目录.xlsx")
    assert not [f for f in batch_csv + batch_xlsx if f.failed]
    assert all(item.ok and item.files for item in from_csv + from_xlsx)
    assert [i.fields for i in from_csv] == [i.fields for i in from_xlsx]
    assert [i.files for i in from_csv] == [i.files for i in from_xlsx]


def test_spreadsheets_are_parsed_with_defusedxml():
    # item lists and a sender's 移交清册.xlsx are untrusted: openpyxl refuses entities only through defusedxml
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML
