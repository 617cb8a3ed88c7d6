"""归档文件目录 as a file: the DA/T 22-2015 item list of the records a filter chose, as XLSX or PDF.

The PDF is drawn by the printed registers' one A4 table writer (:func:`retention.registers.register_pdf`,
CJK font embedded); both formats are written through a partial file renamed into place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.page import PageMargins

from archive.catalogue import ItemRow
from archive.errors import UsageError
from archive.export import require_folder, save_atomically
from archive.i18n import _
from retention.registers import register_pdf

CATALOG_COLUMNS = ("序号", "档号", "文号", "责任者", "题名", "日期", "密级", "页数", "备注")
CATALOG_WIDTHS = (6, 24, 18, 18, 48, 10, 6, 6, 14)

#: What ``catalog --out`` writes, by the output's extension.
CATALOG_FORMATS = (".xlsx", ".pdf")


def write_catalog(rows: Sequence[ItemRow], out: Path, title: str = "归档文件目录") -> None:
    """The 归档文件目录 in the format ``out``'s extension names (:data:`CATALOG_FORMATS`), atomically.

    Raises:
        UsageError: Another extension (nothing is written), or ``out`` cannot be written.
        MissingDependencyError: A PDF is asked for and no CJK font is installed.
        StorageError: The disk failed while writing; nothing is left behind.
    """
    suffix = out.suffix.lower()
    if suffix not in CATALOG_FORMATS:
        message = _("不支持的目录格式“{suffix}”，输出文件须以 {formats} 结尾, 未写出任何文件")
        formats = f" {_('或')} ".join(CATALOG_FORMATS)
        raise UsageError(message.format(suffix=out.suffix or _("（无扩展名）"), formats=formats), path=str(out))
    if suffix == ".pdf":
        require_folder(out)
        data = _catalog_pdf(rows, title)
        save_atomically(out, lambda partial: partial.write_bytes(data))
    else:
        write_catalog_xlsx(rows, out, title)


def _catalog_row(n: int, r: ItemRow) -> list[object]:
    pages = r.page_count if r.page_count is not None else ""
    return [n, r.archival_code, r.doc_number, r.author, r.title, r.date, r.classification, pages, r.remarks]


def _catalog_pdf(rows: Sequence[ItemRow], title: str) -> bytes:
    table = [_catalog_row(n, r) for n, r in enumerate(rows, 1)]
    return register_pdf(title, [f"共 {len(rows)} 件"], CATALOG_COLUMNS, CATALOG_WIDTHS, table)


def write_catalog_xlsx(rows: Sequence[ItemRow], out: Path, title: str = "归档文件目录") -> None:
    """The 归档文件目录 (DA/T 22-2015 columns), A4 landscape, written atomically.

    Raises:
        UsageError: ``out``'s folder does not exist, or ``out`` cannot be written there.
        StorageError: the disk failed while writing (full, I/O error); nothing is left behind.
    """
    require_folder(out)
    wb = Workbook()
    ws = wb.active
    ws.title = "归档文件目录"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(CATALOG_COLUMNS))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append(list(CATALOG_COLUMNS))
    for n, r in enumerate(rows, 1):
        ws.append(_catalog_row(n, r))
    for i, width in enumerate(CATALOG_WIDTHS):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    save_atomically(out, wb.save)
