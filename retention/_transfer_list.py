"""移交清册 (transfer list): the 文件目录.XML of an electronic transfer, and its XLSX twin.

The 2012 《电子档案移交与接收办法》 (its annex) puts a 文件目录.XML at the root of the
transfer with one entry per 件: 顺序号, 档号, 责任者, 题名, 日期, 密级, 电子档案名称, 备注.
The layout we write (no namespace, fields as child elements in that order)::

    <文件目录>
      <文件><顺序号>1</顺序号><档号>…</档号> … <备注/></文件>
    </文件目录>

The receiving 镇档案馆 reads it back with :func:`read_transfer_list`, which parses with
the hardened parser and checks the structure and every row; the writer runs the same
row checks, so we never send a list we would refuse. :func:`read_transfer_list_xlsx`
reads the XLSX twin back, so the receiver can check that both say the same.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from functools import lru_cache
from io import BytesIO

from lxml import etree
from openpyxl import load_workbook

from archive.errors import TransferListError
from archive.i18n import _
from archive.model import ItemMetadata
from archive.numbers import whole_number
from archive.xmlsafe import parse_xml
from metadata_profiles import is_real_date, load_codes

from ._sheet import sheet_xlsx

TRANSFER_COLUMNS = ("顺序号", "档号", "责任者", "题名", "日期", "密级", "电子档案名称", "备注")
TRANSFER_WIDTHS = (7, 26, 18, 44, 10, 6, 40, 12)
LIST_ROOT = "文件目录"
LIST_ITEM = "文件"
ENCODINGS = ("UTF-8", "GB18030")  # the 2012 rule also names GB2312, which cannot hold every name
REQUIRED = ("档号", "责任者", "题名", "日期", "电子档案名称")
#: An XLSX is a zip: refuse one that would unpack to more than this before parsing it.
MAX_XLSX_UNPACKED = 256 * 1024 * 1024


@dataclass(frozen=True)
class TransferRow:
    """One 件 of the 移交清册, field for field."""

    seq: int  # 顺序号
    archival_code: str  # 档号
    author: str  # 责任者
    title: str  # 题名
    date: str  # 日期 YYYYMMDD
    classification: str  # 密级, "" for none
    record_name: str  # 电子档案名称: the item's folder, relative to the root of the transfer
    remarks: str = ""  # 备注


def record_name_for(meta: ItemMetadata) -> str:
    """The default 电子档案名称: ``电子档案/<年度>/<门类>/<档号>`` (the 2012 年度/类别/文件 layout)."""
    return f"电子档案/{meta.year}/{meta.category}/{meta.archival_code}"


def transfer_rows(
    metas: Iterable[ItemMetadata], record_name: Callable[[ItemMetadata], str] = record_name_for
) -> list[TransferRow]:
    """Rows numbered 1…n in the order given (sort by 档号 first for a conventional list)."""
    return [
        TransferRow(n, m.archival_code or "", m.author, m.title, m.date, m.classification, record_name(m), m.remarks)
        for n, m in enumerate(metas, 1)
    ]


def transfer_list_xml(rows: Sequence[TransferRow], *, encoding: str = "UTF-8") -> bytes:
    """文件目录.XML bytes.

    Raises:
        TransferListError: A row would be refused by :func:`read_transfer_list`.
    """
    if encoding.upper() not in ENCODINGS:
        raise TransferListError(
            _("编码须为 {choices}：{encoding}").format(choices="/".join(ENCODINGS), encoding=encoding),
            rule="transfer-list:encoding",
        )
    _raise_first(_row_problems(rows, "文件目录.XML"))
    root = etree.Element(LIST_ROOT)
    for row in rows:
        item = etree.SubElement(root, LIST_ITEM)
        for tag, value in zip(TRANSFER_COLUMNS, astuple(row), strict=True):
            etree.SubElement(item, tag).text = str(value)
    return etree.tostring(root, xml_declaration=True, encoding=encoding.upper(), pretty_print=True)


def transfer_list_xlsx(rows: Sequence[TransferRow], *, header_lines: Sequence[str] = ()) -> bytes:
    """The 移交清册 as XLSX bytes, for printing and signing by both sides."""
    return sheet_xlsx(
        "移交清册", TRANSFER_COLUMNS, TRANSFER_WIDTHS, [astuple(r) for r in rows], header_lines=header_lines
    )


def read_transfer_list(data: bytes, *, name: str = "文件目录.XML") -> list[TransferRow]:
    """Parse and check a received 文件目录.XML.

    Raises:
        UnsafeXMLError: Malformed XML, or a DOCTYPE/entity (from :func:`archive.xmlsafe.parse_xml`).
        TransferListError: The first structural or row problem; ``details`` holds all of them.
    """
    root = parse_xml(data, name=name)
    problems: list[TransferListError] = []
    rows = _structure(root, name, problems)
    _raise_first(problems)
    _raise_first(_row_problems(rows, name))
    return rows


@dataclass(frozen=True)
class TransferSheet:
    """The 移交清册.xlsx as read back: the lines above the column row, and the rows as text."""

    header_lines: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # one per 件, the eight columns as text ("" for an empty cell)


def read_transfer_list_xlsx(data: bytes, *, name: str = "移交清册.xlsx") -> TransferSheet:
    """Read the XLSX written by :func:`transfer_list_xlsx` (first sheet; the title row is dropped).

    Cells come back as text: numbers without a decimal part as integers (Excel turns
    ``20190301`` typed into a cell into a number), empty cells as "".

    Raises:
        TransferListError: Not an XLSX, too large unpacked, or no row of column names.
    """
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED:
            raise TransferListError(
                f"解压后超过 {MAX_XLSX_UNPACKED // 2**20} MiB / unpacks to {unpacked} bytes",
                path=name,
                rule="transfer-list:xlsx",
            )
        book = load_workbook(BytesIO(data), read_only=True, data_only=True)
        try:
            cells = [tuple(_cell_text(v) for v in row) for row in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    except TransferListError:
        raise
    except Exception as exc:  # openpyxl raises whatever its zip and XML layers raise
        raise TransferListError(
            f"无法读取 XLSX / unreadable XLSX: {type(exc).__name__}: {exc}", path=name, rule="transfer-list:xlsx"
        ) from None
    padded = [_fit(row, len(TRANSFER_COLUMNS)) for row in cells]
    start = next((i for i, row in enumerate(padded) if row == TRANSFER_COLUMNS), None)
    if start is None:
        raise TransferListError(
            f"没有列名行（{'、'.join(TRANSFER_COLUMNS)}）/ no row of column names", path=name, rule="transfer-list:xlsx"
        )
    header = tuple(row[0] for row in padded[1:start] if row[0])
    rows = [row for row in padded[start + 1 :] if any(row)]
    return TransferSheet(header, tuple(rows))


def _fit(row: tuple[str, ...], width: int) -> tuple[str, ...]:
    """Pad to the column count; empty cells past it go, filled ones stay (and then differ)."""
    while len(row) > width and not row[-1]:
        row = row[:-1]
    return row + ("",) * (width - len(row))


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _problem(name: str, where: str, message: str, rule: str) -> TransferListError:
    return TransferListError(f"{where}：{message}", path=name, rule=rule)


def _raise_first(problems: list[TransferListError]) -> None:
    if problems:
        first = problems[0]
        first.details = tuple(problems)
        raise first


def _structure(root: etree._Element, name: str, problems: list[TransferListError]) -> list[TransferRow]:
    if root.tag != LIST_ROOT or root.attrib:
        problems.append(
            _problem(
                name, "根元素", f"应为不带属性的 <{LIST_ROOT}>，实为 <{root.tag}> / wrong root", "transfer-list:root"
            )
        )
        return []
    rows = []
    for i, item in enumerate(_elements(root, name, "根元素", problems), 1):
        where = f"第 {i} 个 <{LIST_ITEM}>"
        if item.tag != LIST_ITEM or item.attrib:
            problems.append(_problem(name, where, f"应为 <{LIST_ITEM}>，实为 <{item.tag}>", "transfer-list:element"))
            continue
        fields = _elements(item, name, where, problems)
        tags = tuple(f.tag for f in fields)
        if tags != TRANSFER_COLUMNS:
            problems.append(
                _problem(
                    name,
                    where,
                    f"子元素应依次为 {'、'.join(TRANSFER_COLUMNS)}，实为 {'、'.join(map(str, tags)) or '（无）'} / "
                    "fields missing, extra or out of order",
                    "transfer-list:fields",
                )
            )
            continue
        values = [_text(f, name, where, problems) for f in fields]
        rows.append(_row(values, name, where, problems))
    return [r for r in rows if r is not None]


def _elements(parent: etree._Element, name: str, where: str, problems: list[TransferListError]) -> list[etree._Element]:
    """Element children; comments and PIs are skipped, stray text is a problem."""
    if (parent.text or "").strip() or any((c.tail or "").strip() for c in parent):
        problems.append(_problem(name, where, "元素之间有多余文字 / stray text between elements", "transfer-list:text"))
    return [c for c in parent if isinstance(c.tag, str)]


def _text(field: etree._Element, name: str, where: str, problems: list[TransferListError]) -> str:
    if len(field) or field.attrib:
        problems.append(
            _problem(name, where, f"<{field.tag}> 只能含文字 / must hold text only", "transfer-list:fields")
        )
    # Not stripped: the writer never pads a field, so what was sent is what is read.
    return field.text or ""


def _row(values: list[str], name: str, where: str, problems: list[TransferListError]) -> TransferRow | None:
    try:
        sequence = whole_number(values[0])
    except ValueError as exc:
        problems.append(_problem(name, where, f"顺序号不是正整数 / not a number: {exc}", "transfer-list:sequence"))
        return None
    return TransferRow(sequence, *values[1:])


def _row_problems(rows: Sequence[TransferRow], name: str) -> list[TransferListError]:
    problems: list[TransferListError] = []
    if not rows:
        problems.append(_problem(name, "文件目录", "没有任何条目 / the list is empty", "transfer-list:empty"))
    seen_codes: set[str] = set()
    seen_names: set[str] = set()
    for n, row in enumerate(rows, 1):
        where = f"顺序号 {row.seq}"
        if row.seq != n:
            problems.append(
                _problem(name, where, f"顺序号应为 {n}（从 1 起连续）/ must run 1…n", "transfer-list:sequence")
            )
        for column, value in zip(TRANSFER_COLUMNS, astuple(row), strict=True):
            if column in REQUIRED and not str(value).strip():
                problems.append(
                    _problem(name, where, f"{column}不能为空 / {column} is required", "transfer-list:required")
                )
        for column, value in zip(TRANSFER_COLUMNS[1:], astuple(row)[1:], strict=True):
            if not _is_plain_text(str(value)):
                problems.append(
                    _problem(
                        name,
                        where,
                        f"{column}含控制字符或 XML 不允许的字符 / holds control or non-XML characters",
                        "transfer-list:characters",
                    )
                )
        if row.date and not is_real_date(row.date):
            problems.append(_problem(name, where, f"日期“{row.date}”不是 YYYYMMDD 日期", "transfer-list:date"))
        if row.classification not in _classifications():
            problems.append(
                _problem(name, where, f"密级“{row.classification}”不在代码表中", "transfer-list:classification")
            )
        if row.record_name and not _is_safe_name(row.record_name):
            problems.append(
                _problem(name, where, f"电子档案名称“{row.record_name}”不是安全的相对路径", "transfer-list:record-name")
            )
        for value, seen, column in (
            (row.archival_code, seen_codes, "档号"),
            (row.record_name, seen_names, "电子档案名称"),
        ):
            if value and value in seen:
                problems.append(_problem(name, where, f"{column}“{value}”重复 / duplicate", "transfer-list:unique"))
            seen.add(value)
    return problems


def _is_plain_text(value: str) -> bool:
    """One line of XML 1.0 characters: no controls (tab and newline included), surrogates or U+FFFE/U+FFFF."""
    return all("\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or "\U00010000" <= c <= "\U0010ffff" for c in value)


@lru_cache(maxsize=1)
def _classifications() -> frozenset[str]:
    return frozenset(load_codes()["classification"].values)


def _is_safe_name(value: str) -> bool:
    """A relative POSIX path without ``..``, empty parts, backslashes or control characters."""
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return False
    # Split by hand: PurePosixPath would quietly drop the empty and "." parts we refuse.
    return all(part not in ("", ".", "..") for part in value.split("/"))
