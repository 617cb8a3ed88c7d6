"""交接材料的相互核对: the registers of a transfer package checked against each other and the package.

The receive checks (:mod:`disposition._receive`) work from 文件目录.XML, the 移交清册 as data.
The other registers are what people read and sign: 移交清册.xlsx is printed and signed by
both sides, the 交接登记表 says who hands over what, and the 说明文件 describes the package
for whoever opens it later. A package whose papers say something other than what it holds
would put a false record on file, so each is compared field by field:

- 移交清册.xlsx: every row and column against 文件目录.XML, and the 移交单位, 接收单位 and
  移交编号 of its header line against the 交接登记表 and bag-info.txt;
- 交接登记表: 交接工作名称, 移交单位, 接收单位, 交接日期 and 数量 against bag-info.txt, 移交单位 against the
  立档单位 of the AIPs, 数据量 (GB) against its own 字节数;
- 说明文件: each field it states against what the 交接登记表 and the AIPs' metadata give.

Every function returns findings (all of them, never only the first) and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import astuple

from archive.errors import DanganError, TransferListError
from archive.model import Finding, ItemMetadata, Verdict
from archive.numbers import whole_number
from archive.xmlsafe import parse_xml

from ._handover import GIB, Handover, transfer_readme
from ._transfer_list import TRANSFER_COLUMNS, TransferRow, read_transfer_list_xlsx

#: Fields of the 说明文件 compared, with the check a difference fails; 全宗 and 门类 compare as sets.
README_FIELDS = {
    "交接工作名称": "YJ-1-4",
    "移交单位": "YJ-1-4",
    "接收单位": "YJ-1-4",
    "交接日期": "YJ-1-4",
    "全宗": "YJ-1-4",
    "内容描述": "YJ-1-4",
    "年度": "YJ-1-4",
    "门类": "YJ-1-4",
    "保管期限": "YJ-1-4",
    "数量": "YJ-2-1",
    "数据量": "YJ-2-2",
}
_AS_SETS = ("全宗", "门类")
_FIELD = re.compile(r"([^：\u3000]+)：([^\u3000]*)")


def _fail(code: str, message: str, path: str, expected: str | None = None, found: str | None = None) -> Finding:
    return Finding(code, Verdict.failed, message, path, expected, found)


def labelled_fields(lines: Sequence[str]) -> dict[str, str]:
    """``标签：值`` pairs of text lines, several to a line when set apart by ideographic spaces."""
    fields: dict[str, str] = {}
    for line in lines:
        for label, value in _FIELD.findall(line):
            fields.setdefault(label.strip(), value.strip())
    return fields


# --- 移交清册.xlsx -------------------------------------------------------------------------------


def sheet_findings(data: bytes, name: str, rows: Sequence[TransferRow], stated: Mapping[str, str]) -> list[Finding]:
    """移交清册.xlsx against 文件目录.XML row by row, and its header line against ``stated``
    (移交单位, 接收单位, 移交编号 as the 交接登记表 and bag-info.txt give them)."""
    try:
        sheet = read_transfer_list_xlsx(data, name=name)
    except TransferListError as exc:
        return [_fail("YJ-3-1", f"移交清册.xlsx 无法读取 (the XLSX list is unreadable): {exc.message}", name)]
    found: list[Finding] = []
    if len(sheet.rows) != len(rows):
        message = f"移交清册.xlsx 有 {len(sheet.rows)} 条，文件目录.XML 有 {len(rows)} 条 (the lists differ in length)"
        found.append(_fail("YJ-2-1", message, name, str(len(rows)), str(len(sheet.rows))))
    for row, cells in zip(rows, sheet.rows, strict=False):
        listed = tuple(str(v) for v in astuple(row))
        for column, want, have in zip(TRANSFER_COLUMNS, listed, cells, strict=False):
            if want != have:
                message = f"移交清册.xlsx 第 {row.seq} 条的{column}与文件目录.XML 不符 (the XLSX differs: {column})"
                found.append(_fail("YJ-1-4", message, name, want, have))
        if len(cells) > len(TRANSFER_COLUMNS):
            extra = "、".join(c for c in cells[len(TRANSFER_COLUMNS) :] if c)
            found.append(_fail("YJ-1-4", f"移交清册.xlsx 第 {row.seq} 条有多余的列 (extra cells): {extra}", name))
    header = labelled_fields(sheet.header_lines)
    for label, want in stated.items():
        if label in header and header[label] != want:
            message = (
                f"移交清册.xlsx 表头的{label}“{header[label]}”与交接登记表或 bag-info.txt 的“{want}”不符 "
                f"(the XLSX header's {label} differs)"
            )
            found.append(_fail("YJ-1-4", message, name, want, header[label]))
    return found


# --- 交接登记表 -----------------------------------------------------------------------------------


def handover_findings(
    handover: Handover, data: bytes, name: str, bag_info: Mapping[str, str], metas: Sequence[ItemMetadata] | None
) -> list[Finding]:
    """The 交接登记表's own fields against bag-info.txt, its 字节数 and (when every AIP's metadata
    could be read, ``metas``) the 立档单位 of the AIPs."""
    found: list[Finding] = []
    required = (("交接工作名称", handover.name), ("移交单位", handover.sender), ("接收单位", handover.receiver))
    for label, value in required:
        if not value.strip():
            found.append(_fail("YJ-1-4", f"交接登记表缺少{label} (the handover register lacks {label})", name))
    pairs = (
        ("交接工作名称", handover.name, "External-Description"),
        ("移交单位", handover.sender, "Source-Organization"),
        ("接收单位", handover.receiver, "DA-Receiver"),
        ("交接日期", handover.handed_over_on.isoformat(), "Bagging-Date"),
    )
    for label, value, key in pairs:
        if key in bag_info and bag_info[key] != value:
            message = (
                f"交接登记表的{label}“{value}”与 bag-info.txt 的 {key}“{bag_info[key]}”不符 "
                f"(the register's {label} differs from bag-info.txt)"
            )
            found.append(_fail("YJ-1-4", message, name, bag_info[key], value))
    count, listed = bag_info.get("DA-Item-Count"), str(len(handover.aips))
    if count is not None and count != listed:
        message = f"交接登记表列出 {listed} 件，bag-info.txt 的 DA-Item-Count 为 {count} (counts differ)"
        found.append(_fail("YJ-2-1", message, name, count, listed))
    found += _gigabytes_findings(data, name)
    if metas is not None:
        units = "、".join(dict.fromkeys(m.fonds_name for m in metas))
        if set(handover.sender.split("、")) != set(units.split("、")):
            message = (
                f"交接登记表的移交单位“{handover.sender}”与信息包的立档单位“{units}”不符 "
                "(the register's sender differs from the AIPs' fonds names)"
            )
            found.append(_fail("YJ-1-4", message, name, units, handover.sender))
    return found


def _gigabytes_findings(data: bytes, name: str) -> list[Finding]:
    """数据量 (GB, three decimals) must be what 字节数 gives: the form's figure is the one people read."""
    try:
        root = parse_xml(data, name=name)
        stated, size = (root.findtext("数据量") or "").strip(), whole_number(root.findtext("字节数") or "")
    except (DanganError, ValueError):
        return []  # read_handover has reported it
    want = f"{size / GIB:.3f}"
    if stated != want:
        message = f"交接登记表的数据量 {stated} GB 与字节数 {size} 不符 (GB differs from the byte count)"
        return [_fail("YJ-2-2", message, name, want, stated)]
    return []


# --- 说明文件 -------------------------------------------------------------------------------------


def readme_findings(data: bytes, name: str, handover: Handover, metas: Sequence[ItemMetadata]) -> list[Finding]:
    """Each field of README_FIELDS in the 说明文件 against the same field written from the
    交接登记表 and the AIPs' metadata (:func:`transfer_readme`, as the sender wrote it)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [_fail("YJ-3-1", "说明文件不是 UTF-8 文本 (the readme is not UTF-8)", name)]
    stated = labelled_fields(text.splitlines())
    expected = labelled_fields(transfer_readme(handover, metas).splitlines())
    found: list[Finding] = []
    for label, code in README_FIELDS.items():
        want, have = expected.get(label, ""), stated.get(label)
        if have is None:
            found.append(_fail(code, f"说明文件缺少{label} (the readme lacks {label})", name, want))
            continue
        same = set(want.split("、")) == set(have.split("、")) if label in _AS_SETS else want == have
        if not same:
            message = (
                f"说明文件的{label}“{have}”与交接登记表和信息包不符，应为“{want}” "
                f"(the readme's {label} differs from the register and the AIPs)"
            )
            found.append(_fail(code, message, name, want, have))
    return found
