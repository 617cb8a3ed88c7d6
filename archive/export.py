"""利用 (access): a DIP of one item, and the 归档文件目录 (item list) as XLSX.

The DIP is for people: the original files under their original names, the DA/T 46
metadata XML, and a plain-text summary (说明.txt). Every file is checked against the
AIP's manifest on the way out, so a damaged copy is never handed over silently.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.page import PageMargins

from archive.aip import ITEM_XML, ORIGINAL_DIR, REPORT_XML
from archive.catalogue import Catalogue
from archive.errors import NotFoundError, StorageError, UsageError
from archive.fixity import hash_stream
from archive.storage.base import Location

#: DA/T 22-2015 归档文件目录 columns
CATALOG_COLUMNS = ("序号", "档号", "文号", "责任者", "题名", "日期", "密级", "页数", "备注")
CATALOG_WIDTHS = (6, 24, 18, 18, 48, 10, 6, 6, 14)


def export_dip(catalogue: Catalogue, location: Location, archival_code: str, dest: Path) -> list[Path]:
    """Write the DIP of one item into ``dest`` (a new or empty directory); return the files written."""
    row = catalogue.get(archival_code)
    if row is None:
        raise NotFoundError(f"没有档号为 {archival_code} 的档案 (no record with that code)")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"目标目录不为空 (destination is not empty): {dest}")
    key = row["aip_key"]
    written = []
    for f in catalogue.files(archival_code):
        if f["kind"] != "payload":
            continue
        name = f["path"].removeprefix(f"{ORIGINAL_DIR}/")
        target = dest / "文件" / name
        if (dest / "文件").resolve() not in target.resolve().parents:
            raise StorageError(f"文件名越出目标目录 (unsafe name): {name}", path=key)
        _copy_checked(location, key, f["path"], target, f["sha256"])
        written.append(target)
    for rel, out in ((ITEM_XML, "元数据.xml"), (REPORT_XML, "检测报告.xml")):
        (dest / out).write_bytes(location.read(key, rel))
        written.append(dest / out)
    summary = dest / "说明.txt"
    summary.write_text(dip_summary(row, catalogue.files(archival_code)), encoding="utf-8")
    return [*written, summary]


def _copy_checked(location: Location, key: str, relpath: str, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with location.open(key, relpath) as src, open(partial, "wb") as out:
        _, digests = hash_stream(src, ("sha256",), sink=out)
    if digests["sha256"] != sha256:
        partial.unlink()
        raise StorageError(f"存储中的文件已损坏, 未导出 (stored copy is damaged; not exported): {relpath}", path=key)
    partial.rename(target)


def dip_summary(row: sqlite3.Row, files: list[sqlite3.Row]) -> str:
    """A readable summary of one item, in Chinese."""
    lines = [
        f"档号: {row['archival_code']}",
        f"题名: {row['title']}",
        f"立档单位: {row['fonds_name']} (全宗号 {row['fonds_code']})",
        f"门类: {row['category']}    年度: {row['year']}    保管期限: {row['retention']}",
        f"责任者: {row['author']}    日期: {row['date']}    文号: {row['doc_number']}",
        f"密级: {row['classification'] or '无'}    页数: {row['page_count'] if row['page_count'] is not None else ''}",
        f"载体: {row['carrier']}    归档时间: {row['ingested_at']}",
        f"备注: {row['remarks']}",
        "",
        "文件 (SHA-256 / SM3):",
    ]
    for f in files:
        if f["kind"] == "payload":
            name = f["path"].removeprefix(f"{ORIGINAL_DIR}/")
            lines.append(f"  {name}  {f['size']} 字节  {f['puid'] or ''}\n    {f['sha256']}\n    {f['sm3']}")
    return "\n".join(lines) + "\n"


def write_catalog_xlsx(rows: list[sqlite3.Row], out: Path, title: str = "归档文件目录") -> None:
    """The 归档文件目录 (DA/T 22-2015 columns), A4 landscape, written atomically."""
    wb = Workbook()
    ws = wb.active
    ws.title = "归档文件目录"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(CATALOG_COLUMNS))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(list(CATALOG_COLUMNS))
    for n, r in enumerate(rows, 1):
        pages = r["page_count"] if r["page_count"] is not None else ""
        ws.append(
            [
                n,
                r["archival_code"],
                r["doc_number"],
                r["author"],
                r["title"],
                r["date"],
                r["classification"],
                pages,
                r["remarks"],
            ]
        )
    for i, width in enumerate(CATALOG_WIDTHS):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    partial = out.with_name(out.name + ".part")
    wb.save(partial)
    partial.replace(out)
