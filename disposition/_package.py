"""The transfer package as receive sees it: its layout, the 移交与接收 checks, and what they found.

The names of the package's files (the annex of the 2012 《电子档案移交与接收办法》), the table
of checks (:data:`CHECKS`), and :class:`CheckedPackage`, which the checks fill in
(:mod:`disposition._receive`) and the store step reads (:mod:`disposition._store`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from archive.fixity import ALGORITHMS
from archive.model import CheckReport, Finding, ItemMetadata, Verdict
from archive.storage import aip_key
from retention.registers import TransferRow

#: code -> (性, 检测项名称). Numbering follows the DA/T 70 pattern of ingest/checks.py; the
#: public sources leave the 移交与接收 numbering unverified, so these are this project's assignment.
CHECKS: dict[str, tuple[str, str]] = {
    "YJ-1-1": ("真实性", "移交包固化信息有效 (package manifests: SHA-256 and SM3 of every file)"),
    "YJ-1-2": ("真实性", "信息包固化信息有效 (each AIP's manifests and item.xml digests agree with its files' bytes)"),
    "YJ-1-3": ("真实性", "信息包摘要与交接登记表一致 (AIP digests as registered)"),
    "YJ-1-4": ("真实性", "著录与档号一致 (移交清册 XML/XLSX, 交接登记表, 说明文件, 元数据, bag-info, place agree)"),
    "YJ-1-5": ("真实性", "元数据符合著录方案 (metadata valid against the profiles)"),
    "YJ-1-6": ("真实性", "全宗属本馆接收范围 (全宗号 and 全宗名称 as in dangan.toml [[fonds]])"),
    "YJ-1-7": ("真实性", "包摘要与移交方另行告知的一致 (package digest as the sender gave it outside the package)"),
    "YJ-1-8": ("真实性", "与馆藏无冲突 (no different AIP under one 档号 or 件号, nor package under one 移交编号)"),
    "YJ-2-1": ("完整性", "总件数相符 (counts: 交接登记表, 移交清册, package)"),
    "YJ-2-2": ("完整性", "数据量相符 (bytes: 交接登记表, Payload-Oxum, package)"),
    "YJ-2-3": ("完整性", "无缺失 (nothing registered or listed is missing)"),
    "YJ-2-4": ("完整性", "无多余 (nothing unregistered or unlisted)"),
    "YJ-3-1": ("可用性", "登记材料可读且有效 (XML: hardened parse, no DTD, XSD and structure; XLSX and text readable)"),
    "YJ-3-2": ("可用性", "包结构符合 BagIt (RFC 8493, SHA-256 and SM3 manifests)"),
    "YJ-3-3": ("可用性", "内容数据格式可用 (identified and fully decoded)"),
    "YJ-4-7": ("安全性", "路径安全 (no path escaping the package, no symlinks or special files)"),
}

AIP_ROOT = "data/电子档案"
LIST_XML = "data/文件目录.XML"
README_TXT = "data/说明文件.TXT"
HANDOVER_XML = "data/其他/交接登记表.XML"
LIST_XLSX = "data/其他/移交清册.xlsx"
REGISTERS = (LIST_XML, README_TXT, HANDOVER_XML, LIST_XLSX)
ROOT_FILES = {"bagit.txt", "bag-info.txt"} | {
    f"{kind}-{a}.txt" for kind in ("manifest", "tagmanifest") for a in ALGORITHMS
}
#: digest names in the registers (as the 登记表 names its algorithms) ↔ hashlib names
DIGEST_NAMES = {"sha256": "SHA-256", "sm3": "SM3"}
TRANSFER_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,99}")


def fail(
    code: str, message: str, path: str | None = None, expected: str | None = None, found: str | None = None
) -> Finding:
    """A failed 移交与接收 finding."""
    return Finding(code, Verdict.failed, message, path, expected, found)


def aip_tag_digests(sha256: dict[str, str], sm3: dict[str, str], base: str) -> dict[str, str]:
    """An AIP's digests as the 交接登记表 gives them: SHA-256 of its tagmanifest-sha256.txt, SM3 of its -sm3.txt.

    The tag manifests name every tag file and manifest, and the manifests every payload file, so
    these two digests identify the whole bag (each under its own algorithm).
    """
    out = {}
    for algorithm, manifest in (("sha256", sha256), ("sm3", sm3)):
        digest = manifest.get(f"{base}tagmanifest-{algorithm}.txt")
        if digest:
            out[DIGEST_NAMES[algorithm]] = digest
    return out


@dataclass
class PackageAip:
    """One AIP of a package as the checks found it.

    ``base`` is its folder in the package (``data/电子档案/…/档号/``); ``files`` its files
    (AIP-relative path → size); ``held`` is true when the home already holds this very
    AIP in its primary location (left there by an earlier, interrupted receive).
    """

    row: TransferRow
    base: str
    files: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    meta: ItemMetadata | None = None
    payload: list[str] = field(default_factory=list)
    manifests: dict[str, dict[str, str]] = field(default_factory=dict)  # its own: algorithm → path → digest
    held: bool = False

    @property
    def key(self) -> str:
        assert self.meta is not None and self.meta.archival_code
        return aip_key(self.meta.fonds_code, self.meta.archival_code)

    @property
    def size(self) -> int:
        return sum(self.files.values())


@dataclass
class CheckedPackage:
    """A package after the checks: the report, and what the store step needs."""

    root: Path
    report: CheckReport
    transfer_id: str = ""
    sender: str = ""
    receiver: str = ""  # 接收单位 as the 交接登记表 names it
    digests: dict[str, str] = field(default_factory=dict)  # SHA-256 / SM3 of the package's tag manifests
    handover_sha256: str = ""
    aips: list[PackageAip] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)  # the package's SHA-256 manifest: path → digest
    files_checked: int = 0
    bytes_checked: int = 0
