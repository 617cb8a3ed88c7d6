"""Read an item list (归档文件目录, CSV or XLSX) into rows keyed by field.

The header row is found among the first rows (a title row above it is skipped); each known
column header (DA/T 22-2015 归档文件目录 plus the class levels) maps to one field key. A
header that only means a field under another name is refused with the name to use, so no
column is guessed at or lost (:data:`SYNONYMS`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from archive.errors import CatalogInputError
from archive.i18n import _
from archive.model import Finding, Verdict

# Column headers of the item list (DA/T 22 §1 plus the class levels), after NFKC and with
# blanks and '*' removed, mapped to field keys. "files" holds the file references.
_COLUMNS = {
    "序号": "seq", "顺序号": "seq", "档号": "archival_code", "文号": "doc_number", "文件编号": "doc_number",
    "发文字号": "doc_number", "责任者": "author", "题名": "title", "文件题名": "title", "标题": "title",
    "日期": "date", "文件日期": "date", "成文日期": "date", "形成日期": "date", "密级": "classification",
    "页数": "page_count", "保管期限": "retention", "期限": "retention", "备注": "remarks", "门类": "category",
    "门类代码": "category", "档案门类": "category", "年度": "year", "机构(问题)": "org_code", "机构": "org_code",
    "问题": "org_code", "机构(问题)代码": "org_code", "载体": "carrier", "载体类型": "carrier",
    "全宗号": "fonds_code", "文件": "files", "文件名": "files", "电子文件名": "files", "文件路径": "files",
    "电子文件": "files",
}  # fmt: skip

# Headers that name a column's field under another name, mapped to the header to use. They are
# refused, not read as that field: 作者 of a 来信 may be the citizen where 责任者 is the office
# that formed the record, and metadata fixed in an AIP is costly to correct, while ignoring the
# column would lose it. Renaming the header is one edit before anything is read. Only names with
# one plausible meaning are here (页码 is a page number, not 页数; 编号 may be 文号 or 档号).
SYNONYMS = {
    "作者": "责任者", "著者": "责任者", "发文单位": "责任者", "发文机关": "责任者", "年份": "年度",
    "发文日期": "日期", "时间": "日期", "保存期限": "保管期限", "保管年限": "保管期限", "总页数": "页数",
    "附注": "备注",
}  # fmt: skip

CATALOG_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"}
_HEADER_SCAN_ROWS = 20


@dataclass
class Row:
    """One row of the item list: its line (for people) and its cells by field key."""

    line: int
    values: dict[str, str]


def _warn(code: str, message: str, path: str | None = None, **kw: str) -> Finding:
    return Finding(code, Verdict.warning, message, path=path, **kw)


def read_table(catalog: Path) -> tuple[list[Row], list[Finding]]:
    """Read the item list into rows keyed by field; raises CatalogInputError."""
    if not catalog.is_file():
        raise CatalogInputError(_("归档文件目录不存在"), path=str(catalog))
    suffix = catalog.suffix.lower()
    if suffix == ".xls":
        raise CatalogInputError(_("不支持旧版 .xls，请另存为 .xlsx 或 CSV"), path=str(catalog))
    data = catalog.read_bytes()
    if suffix in {".xlsx", ".xlsm"} or (suffix not in CATALOG_SUFFIXES and data[:2] == b"PK"):
        raw = _xlsx_rows(catalog)
    else:
        raw = _csv_rows(_decode(data, catalog))
    return _keyed_rows(raw, catalog)


def _decode(data: bytes, catalog: Path) -> str:
    """Strict UTF-8 (BOM or not), then GB18030; never a silent guess."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _strict(data, "utf-16", catalog)
    elif data.startswith(b"\xef\xbb\xbf"):  # a BOM says UTF-8: no fallback
        text = _strict(data[3:], "utf-8", catalog)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            # GB18030's BOM (84 31 95 33) decodes to U+FEFF, which would glue itself to the first header
            text = _strict(data, "gb18030", catalog, utf8_error=err).removeprefix("\ufeff")
    if "\x00" in text:
        raise CatalogInputError(_("目录含空字符，不是文本文件"), path=str(catalog), rule="GD-1-12")
    return text


def _strict(data: bytes, encoding: str, catalog: Path, utf8_error: UnicodeDecodeError | None = None) -> str:
    """Decode or raise naming the line; of two failed decodings, the one that got further."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        where = max(err.start, utf8_error.start if utf8_error else 0)
        line = data.count(b"\n", 0, where) + 1
        if encoding == "gb18030":  # tried after UTF-8
            msg = _("第{line}行无法按 UTF-8 或 GB18030 解码，请另存为 UTF-8 或 GB18030 编码的 CSV").format(line=line)
        else:
            msg = _("第{line}行无法按 {encoding} 解码，请另存为 UTF-8 或 GB18030 编码的 CSV").format(
                line=line, encoding=encoding.upper()
            )
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12") from err


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for record in reader:  # a quoted cell may span lines: number a row by its first line
        rows.append((start, [cell.strip() for cell in record]))
        start = reader.line_num + 1
    return rows


def _xlsx_rows(catalog: Path) -> list[tuple[int, list[str]]]:
    import openpyxl  # only catalog mode with a spreadsheet needs it

    try:
        book = openpyxl.load_workbook(catalog, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a damaged workbook
        msg = _("无法打开 XLSX 归档文件目录: {error}").format(error=err)
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12") from err
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong sheet size
        cells = sheet.iter_rows(values_only=True)
        return [(n, [_cell_text(v) for v in row]) for n, row in enumerate(cells, start=1)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """A spreadsheet cell as text: dates as YYYYMMDD, 12.0 as 12."""
    if value is None:
        return ""
    if isinstance(value, dt.date):  # datetime is a date too
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _normal(cell: str) -> str:
    return re.sub(r"[\s*]", "", unicodedata.normalize("NFKC", cell))


def _header_key(cell: str) -> str | None:
    return _COLUMNS.get(_normal(cell))


def _find_header(raw: list[tuple[int, list[str]]]) -> int | None:
    """Index of the first row naming at least two known columns (skips a title row)."""
    for index, (_line, cells) in enumerate(raw[:_HEADER_SCAN_ROWS]):
        if sum(1 for c in cells if _header_key(c)) >= 2:
            return index
    return None


def _keyed_rows(raw: list[tuple[int, list[str]]], catalog: Path) -> tuple[list[Row], list[Finding]]:
    index = _find_header(raw)
    if index is None:
        msg = _("归档文件目录找不到表头行（题名、文件等）")
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12")
    columns, findings = _map_columns(raw[index][1], catalog)
    _refuse_synonyms(raw[index][1], columns, catalog)
    if "files" not in columns.values():
        msg = _("归档文件目录缺少文件列（文件/文件名/电子文件名/文件路径）")
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12")
    rows = []
    for line, cells in raw[index + 1 :]:
        if not any(cells):
            continue
        values = {key: cells[i] for i, key in columns.items() if i < len(cells)}
        rows.append(Row(line, values))
    return rows, findings


def _map_columns(header: list[str], catalog: Path) -> tuple[dict[int, str], list[Finding]]:
    columns: dict[int, str] = {}
    findings: list[Finding] = []
    for i, cell in enumerate(header):
        key = _header_key(cell)
        if key is None and cell:  # a synonym whose field has no column is refused (_refuse_synonyms)
            also = f"；已有“{SYNONYMS[_normal(cell)]}”列" if _normal(cell) in SYNONYMS else ""
            msg = f"未识别的列“{cell}”，已忽略{also} (unknown column ignored)"
            findings.append(_warn("GD-1-12", msg, catalog.name, found=cell))
        elif key in columns.values():
            msg = f"列“{cell}”重复，只用第一列 (duplicate column, the first one is used)"
            findings.append(_warn("GD-1-12", msg, catalog.name, found=cell))
        elif key is not None:
            columns[i] = key
    return columns, findings


def _refuse_synonyms(header: list[str], columns: dict[int, str], catalog: Path) -> None:
    """Raise naming every header that is another name for a field the list has no column for
    (one whose field has its own column is only warned about, by :func:`_map_columns`)."""
    refused = [
        cell
        for cell in header
        if _normal(cell) in SYNONYMS and _COLUMNS[SYNONYMS[_normal(cell)]] not in columns.values()
    ]
    if refused:
        hints = _("；").join(
            _("列“{column}”若为{field}，请改名为“{field}”").format(column=cell, field=SYNONYMS[_normal(cell)])
            for cell in refused
        )
        msg = _("归档文件目录有本系统不读的列名，为免丢失或误读，未归档任何一件：{hints}，再重新归档").format(
            hints=hints
        )
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12")
