"""One printable register sheet as XLSX bytes, laid out like the 归档文件目录 of archive/export.py.

Title row merged across the columns, optional header lines under it, the column row
repeated on every printed page, A4 landscape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins

Cell = str | int | float | None


def sheet_xlsx(
    title: str,
    columns: Sequence[str],
    widths: Sequence[int],
    rows: Iterable[Sequence[Cell]],
    *,
    header_lines: Sequence[str] = (),
    sheet_name: str | None = None,
) -> bytes:
    """The workbook as bytes: the caller decides where and how atomically to write it."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name or title[:31]  # Excel's limit on sheet names
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    for line in header_lines:
        ws.append([line])
        ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=len(columns))
    ws.append(list(columns))
    header_row = ws.max_row
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
