"""Plain data classes for the archive's domain: items (件), their files, check findings.

These carry no behaviour beyond small derived properties; modules that act on them
(profiles, checks, bags, catalogue) import them from here so every module speaks
the same language: 件 (item), 全宗 (fonds), 档号 (archival code), 著录项 (metadata field).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """检测结论: the outcome of one check."""

    passed = "通过"
    failed = "不通过"
    warning = "警告"
    not_applicable = "不适用"


@dataclass(frozen=True)
class Finding:
    """检测项结果: one DA/T 70 style check result.

    ``code`` is the DA/T 70 code (``GD-1-7`` at 归档, ``YJ-…`` at 移交与接收,
    ``BC-…`` for 长期保存 audits); ``message`` is for people, Chinese first.
    """

    code: str
    verdict: Verdict
    message: str
    path: str | None = None
    expected: str | None = None
    found: str | None = None

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.failed

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class CheckReport:
    """检测报告: every finding of one stage for one item, collected before any decision."""

    stage: str  # 归档 / 移交与接收 / 长期保存
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class FileEntry:
    """电子文件: one file of an item, as stored under ``data/original/``.

    ``name`` is the original relative name (byte-exact, Chinese kept).
    """

    name: str
    size: int
    sha256: str
    sm3: str
    puid: str | None = None  # PRONOM identifier, e.g. fmt/353
    format_name: str | None = None
    mime: str | None = None
    pages: int | None = None  # TIFF frames, PDF and OFD pages, 1 per image; None when not paginated
    dpi: float | None = None  # lowest stated resolution over the pages; None when none stated
    color_mode: str | None = None  # 黑白二值 / 灰度 / 彩色
    role: str = "主文档"  # 主文档 / 附属文档

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ItemMetadata:
    """件的著录项: DA/T 22 / DA/T 46 descriptive metadata of one item.

    ``category`` is the 门类代码 with any second-level code joined by ``·``
    (``WS``, ``ZY·DB``); ``date`` is ``YYYYMMDD``.
    """

    fonds_code: str  # 全宗号
    fonds_name: str  # 立档单位名称
    category: str  # 门类
    year: int  # 年度
    retention: str  # 保管期限 Y / D30 / D10 (C, D legacy)
    title: str  # 题名
    author: str = ""  # 责任者
    date: str = ""  # 日期 YYYYMMDD
    doc_number: str = ""  # 文号
    classification: str = ""  # 密级
    page_count: int | None = None  # 页数
    carrier: str = "电子"  # 载体: 纸质 (scans) / 电子 (born-digital)
    org_code: str = ""  # 机构(问题)代码
    remarks: str = ""  # 备注
    item_number: int | None = None  # 件号, allocated at commit
    archival_code: str | None = None  # 档号, allocated at commit

    def class_key(self) -> tuple[str, str, int, str, str]:
        """The lowest class in which 件号 runs: 全宗, 门类, 年度, 保管期限, 机构(问题)."""
        return (self.fonds_code, self.category, self.year, self.retention, self.org_code)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Item:
    """件: the unit of arrangement; one item is one AIP."""

    metadata: ItemMetadata
    files: list[FileEntry] = field(default_factory=list)

    @property
    def payload_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def content_digest(self) -> str:
        """A digest over the file digests, independent of order: the duplicate test."""
        import hashlib

        lines = sorted(f"{f.sha256} {f.size}" for f in self.files)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
