"""交接登记表 and 说明文件: the handover record and the readme of an electronic transfer.

:func:`handover_xml` writes the 交接登记表 and :func:`read_handover` reads it back (at the
receiving end), so the format lives in one place.

The 《电子档案移交与接收登记表》 (annex to the 2012 《电子档案移交与接收办法》) records the work's name and content,
the quantity (件) and data volume (GB, three decimals), the carrier, the check results
(准确性、完整性、可用性、安全性、载体外观), the digests with their algorithm named, and
both sides. We add the exact byte count and one entry per AIP, so the receiver can
compare every package, not only the totals. Signatures and seals stay on paper or in
a signed scan under ``其他/``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from lxml import etree

from archive.errors import TransferListError
from archive.i18n import _
from archive.model import ItemMetadata
from archive.numbers import whole_number
from archive.xmlsafe import parse_xml

from .periods import retention_label

HANDOVER_ROOT = "交接登记表"
#: The checks the form lists, in its order; a check not reported is written as 未检测.
CHECKS = ("准确性", "完整性", "可用性", "安全性", "载体外观")
GIB = 1024**3  # 数据量 in GB is taken as 2^30 bytes; the exact byte count is written beside it
_HEX = re.compile(r"[0-9a-f]{32,128}")


@dataclass(frozen=True)
class AipDigest:
    """One AIP's size and digests, e.g. ``{"SHA-256": …, "SM3": …}`` over its tag manifests."""

    archival_code: str
    size: int
    digests: Mapping[str, str]


@dataclass(frozen=True)
class Handover:
    """电子档案移交与接收登记表: what one transfer hands over, from whom to whom."""

    name: str  # 交接工作名称
    description: str  # 内容描述
    sender: str  # 移交单位
    receiver: str  # 接收单位
    sent_by: str  # 移交人
    received_by: str  # 接收人
    handed_over_on: date  # 交接日期
    aips: tuple[AipDigest, ...]
    carrier: str = "网络传输"  # 载体类型规格
    carrier_ids: str = ""  # 载体起止顺序号
    checks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # 检验项 → 通过 / 不通过

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.aips)

    @property
    def gigabytes(self) -> str:
        """数据量 (GB) with three decimals, as the form asks."""
        return f"{self.total_bytes / GIB:.3f}"


def handover_xml(handover: Handover) -> bytes:
    """交接登记表.XML bytes (UTF-8).

    Raises:
        TransferListError: A required field is empty, an AIP is listed twice, or a digest
            is not lowercase hex.
    """
    _check(handover)
    root = etree.Element(HANDOVER_ROOT)
    for tag, value in (
        ("交接工作名称", handover.name),
        ("内容描述", handover.description),
        ("移交单位", handover.sender),
        ("接收单位", handover.receiver),
        ("移交人", handover.sent_by),
        ("接收人", handover.received_by),
        ("交接日期", handover.handed_over_on.isoformat()),
    ):
        etree.SubElement(root, tag).text = value
    etree.SubElement(root, "数量", 单位="件").text = str(len(handover.aips))
    etree.SubElement(root, "数据量", 单位="GB").text = handover.gigabytes
    etree.SubElement(root, "字节数").text = str(handover.total_bytes)
    etree.SubElement(root, "载体类型规格").text = handover.carrier
    etree.SubElement(root, "载体起止顺序号").text = handover.carrier_ids
    checks = etree.SubElement(root, "检验")
    for check in CHECKS:
        etree.SubElement(checks, "检验项", 名称=check).text = handover.checks.get(check, "未检测")
    packages = etree.SubElement(root, "信息包清单")
    for aip in handover.aips:
        package = etree.SubElement(packages, "信息包", 档号=aip.archival_code, 字节数=str(aip.size))
        for algorithm, digest in aip.digests.items():
            etree.SubElement(package, "数字摘要", 算法=algorithm).text = digest
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def read_handover(data: bytes, name: str = "交接登记表.XML") -> tuple[Handover, int, int]:
    """Parse a 交接登记表 written by :func:`handover_xml`.

    Returns:
        The handover, and the 数量 and 字节数 it declares (compared with its own list by the caller).

    Raises:
        UnsafeXMLError: Malformed XML, or a DOCTYPE/entity.
        TransferListError: A field is missing or not what the writer produces.
    """
    root = parse_xml(data, name=name)

    def bad(message: str) -> TransferListError:
        return TransferListError(f"{message}", path=name, rule="handover:structure")

    if root.tag != HANDOVER_ROOT:
        raise bad(f"根元素应为 <交接登记表>，实为 <{root.tag}> / wrong root")
    text = {child.tag: (child.text or "") for child in root if isinstance(child.tag, str)}
    try:
        count, size = whole_number(text["数量"]), whole_number(text["字节数"])
        handed_over = date.fromisoformat(text["交接日期"])
    except (KeyError, ValueError) as exc:
        raise bad(f"数量、字节数或交接日期缺失或无效 / count, bytes or date missing or invalid: {exc}") from None
    aips = tuple(_read_package_entry(entry, bad) for entry in root.iterfind("信息包清单/信息包"))
    handover = Handover(
        name=text.get("交接工作名称", ""),
        description=text.get("内容描述", ""),
        sender=text.get("移交单位", ""),
        receiver=text.get("接收单位", ""),
        sent_by=text.get("移交人", ""),
        received_by=text.get("接收人", ""),
        handed_over_on=handed_over,
        aips=aips,
        carrier=text.get("载体类型规格", ""),
        carrier_ids=text.get("载体起止顺序号", ""),
    )
    return handover, count, size


def _read_package_entry(entry: etree._Element, bad: Callable[[str], TransferListError]) -> AipDigest:
    code, size = entry.get("档号") or "", entry.get("字节数") or ""
    try:
        number = whole_number(size)
    except ValueError as exc:
        raise bad(f"信息包条目的字节数无效 / an AIP entry's size is invalid: {code!r}: {exc}") from None
    if not code:
        raise bad(f"信息包条目缺少档号或字节数 / an AIP entry lacks 档号 or size: {code!r}")
    digests = {d.get("算法") or "": (d.text or "") for d in entry.iterfind("数字摘要")}
    return AipDigest(code, number, digests)


def _check(h: Handover) -> None:
    def fail(message: str, rule: str) -> TransferListError:
        return TransferListError(message, path="交接登记表", rule=rule)

    for label, value in (("交接工作名称", h.name), ("移交单位", h.sender), ("接收单位", h.receiver)):
        if not value.strip():
            raise fail(_("{field}不能为空").format(field=label), "handover:required")
    if not h.aips:
        raise fail(_("没有任何信息包"), "handover:empty")
    codes = [a.archival_code for a in h.aips]
    if len(set(codes)) != len(codes):
        raise fail(_("同一档号列出多次"), "handover:unique")
    unknown = set(h.checks) - set(CHECKS)
    if unknown:
        raise fail(_("未知的检验项：{checks}").format(checks="、".join(sorted(unknown))), "handover:checks")
    for aip in h.aips:
        if aip.size < 0 or not aip.digests:
            raise fail(_("{code}：须有字节数和至少一个数字摘要").format(code=aip.archival_code), "handover:digest")
        for algorithm, digest in aip.digests.items():
            if not algorithm.strip() or not _HEX.fullmatch(digest):
                raise fail(
                    _("{code}：{algorithm} 摘要不是小写十六进制").format(code=aip.archival_code, algorithm=algorithm),
                    "handover:digest",
                )


def transfer_readme(
    handover: Handover,
    metas: Sequence[ItemMetadata],
    *,
    producer: str = "",
    checker: str = "",
    software: str = "dangan",
) -> str:
    """说明文件.TXT: what the transfer holds and how to read it, for whoever opens it later."""
    years = sorted({m.year for m in metas})
    span = f"{years[0]}—{years[-1]}" if years else ""
    categories = "、".join(dict.fromkeys(m.category for m in metas))
    periods = Counter(m.retention for m in metas)
    fonds = "、".join(dict.fromkeys(f"{m.fonds_code} {m.fonds_name}" for m in metas))
    lines = [
        "说明文件",
        "",
        f"交接工作名称：{handover.name}",
        f"移交单位：{handover.sender}　　接收单位：{handover.receiver}",
        f"交接日期：{handover.handed_over_on.isoformat()}",
        f"全宗：{fonds}",
        f"内容描述：{handover.description}",
        f"年度：{span}　　门类：{categories}",
        "保管期限：" + "，".join(f"{retention_label(c)} {n} 件" for c, n in sorted(periods.items())),
        f"数量：{len(handover.aips)} 件　　数据量：{handover.gigabytes} GB（{handover.total_bytes} 字节）",
        f"载体类型规格：{handover.carrier}　　载体起止顺序号：{handover.carrier_ids or '无'}",
        f"制作单位：{producer}　　检验单位：{checker}",
        "",
        "目录结构：",
        "  说明文件.TXT        本文件",
        "  文件目录.XML        每件一条：顺序号、档号、责任者、题名、日期、密级、电子档案名称、备注",
        "  电子档案/年度/门类/档号/  每件一个 BagIt 信息包（RFC 8493）：data/ 下为原始文件，",
        "                      metadata/ 下为 DA/T 46 元数据、检测报告和 PREMIS 保存事件",
        "  其他/               交接登记表.XML（数量、数据量、每个信息包的数字摘要）等交接材料",
        "",
        "数字摘要：每个信息包的 manifest 同时给出 SHA-256 与 SM3（GB/T 32905）。",
        "字符编码：XML 与文本文件均为 UTF-8。",
        "读取所需软件：任一 BagIt 校验工具（如 bagit-python）；SM3 需 OpenSSL 1.1.1 及以上；",
        "              PDF、TIFF、JPEG 阅读软件。无需专用硬件。",
        f"生成软件：{software}",
    ]
    return "\n".join(lines) + "\n"
