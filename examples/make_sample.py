"""Generate ``examples/sample-batch/``: a small batch as a 居委会 archivist would bring it.

Six 件, every one invented (see ``tests/render.py``):

* a 居民代表会议记录 scanned to a two-page black-and-white TIFF (Group 4, 300 dpi);
* a 垃圾分类 notice scanned to a set of grey JPEGs in a subfolder (300 dpi);
* a 低保 application scanned to a grey PNG at the DA/T 31 minimum of 200 dpi;
* a 换届选举 notice with a red heading scanned to an image-only colour PDF (300 dpi);
* a born-digital 工作总结 PDF with real text, plus a UTF-8 .txt attachment (one row, two files);
* a born-digital 低保对象名册 spreadsheet (XLSX).

The item list comes twice with the same content: ``目录.csv`` in GB18030, as Excel on a
Chinese Windows saves it, and ``目录.xlsx`` with a title row and real date cells. Pages
are A5 to keep the folder small (the resolution stays as stated). The output is
byte-for-byte reproducible: run ``.venv/bin/python examples/make_sample.py`` and the files
do not change.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import sys
import zipfile
from dataclasses import astuple, dataclass
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make the repository importable

from tests.render import SAMPLE_DOCS, SampleDoc, render_pages, save_scan, save_text_pdf  # noqa: E402

OUT = ROOT / "examples" / "sample-batch"
A5 = (148, 210)
FROZEN = (2024, 1, 1, 0, 0, 0)
RETENTION_NAMES = {"Y": "永久", "D30": "定期30年", "D10": "定期10年"}
DOCS = {doc.key: doc for doc in SAMPLE_DOCS}


#: the item list's columns, in the order of ``Row``
HEADER = ("题名", "责任者", "日期", "文号", "密级", "页数", "保管期限", "备注", "载体", "文件")


@dataclass
class Row:
    """One line of the 归档文件目录 (DA/T 22 columns, 档号 left to the archive)."""

    title: str
    author: str
    date: str  # YYYYMMDD
    doc_number: str
    classification: str
    pages: str
    retention: str  # as archivists write it: 永久 / 定期30年 / 定期10年
    remarks: str
    carrier: str  # 纸质 for scans, 电子 for born-digital
    files: str  # ';'-separated, relative to the batch folder


def _row(doc: SampleDoc, pages: int | None, carrier: str, files: list[str], remarks: str = "") -> Row:
    return Row(
        doc.title, doc.author, doc.date, doc.doc_number, "", str(pages or ""),
        RETENTION_NAMES[doc.retention], remarks, carrier, ";".join(files),
    )  # fmt: skip


def make_meeting(out: Path) -> Row:
    doc = DOCS["meeting"]
    pages = render_pages(doc.text, size_mm=A5, mode="1", font_size_pt=14, noise=0.0005, skew_deg=0.4, seed=11)
    (path,) = save_scan(pages, out / f"{doc.title}.tif")
    return _row(doc, len(pages), "纸质", [path.name])


def make_notice(out: Path) -> Row:
    doc = DOCS["garbage"]
    folder = out / "垃圾分类通知"
    folder.mkdir()
    pages = render_pages(doc.text, size_mm=A5, mode="L", font_size_pt=18, blur=0.6, skew_deg=-0.6, seed=12)
    save_scan(pages, folder / "scan.jpg", quality=60)
    return _row(doc, len(pages), "纸质", [folder.name], "扫描件，每页一个 JPEG")


def make_application(out: Path) -> Row:
    doc = DOCS["dibao"]
    page = render_pages(doc.text, dpi=200, size_mm=A5, mode="L", font_size_pt=11, seed=13)
    (path,) = save_scan(page, out / "低保申请书.png")
    return _row(doc, len(page), "纸质", [path.name], "含个人信息")


def make_election(out: Path) -> Row:
    doc = DOCS["election"]
    pages = render_pages(doc.text, size_mm=A5, mode="RGB", font_size_pt=11, skew_deg=0.3, seed=14)
    (path,) = save_scan(pages, out / "换届选举公告.pdf")
    return _row(doc, len(pages), "纸质", [path.name], "红头，彩色扫描")


def make_summary(out: Path) -> Row:
    doc = DOCS["summary"]
    pdf = out / f"{doc.title}.pdf"
    pages = save_text_pdf(doc.text, pdf, size_mm=A5)
    note = out / "工作总结附件-数据说明.txt"
    note.write_text(
        "附件：2023年度社区工作总结数据说明\n"
        "走访户次、低保件数取自社区民政工作台账；参选率取自换届选举结果报告。\n"
        "（本文为测试用虚构文本，人物与数据均不存在）\n",
        encoding="utf-8",
    )
    return _row(doc, pages, "电子", [pdf.name, note.name], "正文与附件")


ROSTER = [
    ("序号", "姓名", "性别", "身份证号", "家庭人口", "月保障金额（元）", "住址"),
    (1, "王秀英", "女", "3201**********0000", 2, 1280, "振兴路88号2幢301室"),
    (2, "李德明", "男", "3201**********0011", 1, 960, "振兴路90号1幢102室"),
    (3, "张桂兰", "女", "3201**********0022", 3, 1540, "和平街12号4幢501室"),
    (4, "刘国栋", "男", "3201**********0033", 2, 1180, "和平街16号3幢203室"),
]


def make_roster(out: Path) -> Row:
    doc = SampleDoc(
        "roster", "2023年度最低生活保障对象名册", "示例市和平区振兴社区居民委员会", "20231231", "", "D30", ""
    )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "名册"
    for line in ROSTER:
        sheet.append(line)
    sheet.append(("（测试用虚构数据，人物均不存在）",))
    path = out / f"{doc.title}.xlsx"
    _save_book(book, path)
    return _row(doc, 1, "电子", [path.name], "含个人信息")


def write_csv(rows: list[Row], path: Path) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(astuple(row) for row in rows)
    path.write_bytes(buffer.getvalue().encode("gb18030"))


def write_xlsx(rows: list[Row], path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "归档文件目录"
    sheet.append(["归档文件目录"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet["A1"].font = Font(size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(HEADER)
    for row in rows:
        values: list[object] = list(astuple(row))
        values[2] = dt.datetime.strptime(row.date, "%Y%m%d")
        values[5] = int(row.pages) if row.pages else None
        sheet.append(values)
        sheet.cell(sheet.max_row, 3).number_format = "yyyy-mm-dd"
    _save_book(book, path)


def _save_book(book: openpyxl.Workbook, path: Path) -> None:
    """Save a workbook with fixed timestamps, inside and in the zip, so reruns match."""
    book.properties.creator = "dangan examples/make_sample.py"
    book.properties.created = book.properties.modified = dt.datetime(*FROZEN)
    book.save(path)
    with zipfile.ZipFile(path) as old:
        entries = [(info.filename, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z", data)
            info = zipfile.ZipInfo(name, date_time=FROZEN)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            new.writestr(info, data)


def main(out: Path = OUT) -> list[Path]:
    """Rebuild the sample batch in ``out``; returns the files written."""
    if out.exists():
        if any(out.iterdir()) and not (out / "目录.csv").is_file():
            raise SystemExit(f"{out} is not empty and holds no sample batch; refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    makers = (make_meeting, make_notice, make_application, make_election, make_summary, make_roster)
    rows = [make(out) for make in makers]
    write_csv(rows, out / "目录.csv")
    write_xlsx(rows, out / "目录.xlsx")
    return sorted(p for p in out.rglob("*") if p.is_file())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for file in main(target):
        print(f"{file.stat().st_size:>9,}  {file.relative_to(target)}")
    print(f"{sum(f.stat().st_size for f in target.rglob('*') if f.is_file()):>9,}  total")
