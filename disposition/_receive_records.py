"""What a receive leaves on file: 移交编号 claims, 检测报告 and 接收回执.

All under the receiver's ``registers/``; the claims and receipts are written once and never replaced.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from archive.errors import DanganError, StorageError
from archive.fixity import hash_file, write_durably
from archive.model import CheckReport, Finding, Verdict
from archive.premis import now_iso
from archive.xmlsafe import parse_xml

from ._package import CHECKS, TRANSFER_ID, CheckedPackage
from ._receipt import PASSED, sidecars
from ._results import _user
from ._sender_copies import REGISTERS_DIR

if TYPE_CHECKING:  # _receive_run imports this module
    from ._receive_run import ReceiveOptions

REPORTS_DIR = "transfer-reports"  # the receiver's check reports
RECEIPTS_DIR = "transfer-receipts"  # the receiver's 接收回执, named by the package's SHA-256
TRANSFER_IDS_DIR = "transfer-ids"  # the receiver's <移交编号>.json: the package digests taken under each id
#: the code of a report's finding when an error stopped the receive (no DA/T 70 check failed: the run did)
INTERRUPTED = "中断"


def _transfer_ids(home: Path) -> Path:
    return home / REGISTERS_DIR / TRANSFER_IDS_DIR


def _earlier_package(home: Path, checked: CheckedPackage) -> Finding | None:
    """YJ-1-8: a failure when another package was received (or began to be) under this 移交编号.

    One 移交编号 names one handover: the 接收回执 of a second, different package under it
    would put two versions of one transfer on file. The same package again is no conflict
    (it is recognised as received). Looks in ``transfer-ids/`` and, for packages received
    before that was kept, in the 接收回执.
    """
    transfer_id, digest = checked.transfer_id, checked.digests.get("SHA-256", "")
    if not TRANSFER_ID.fullmatch(transfer_id) or not digest:
        return None  # reported already (YJ-3-2)
    earlier = _claimed(home, transfer_id) or _received_under(home, transfer_id)
    if earlier is None or earlier[0] == digest:
        return None
    return Finding(
        "YJ-1-8", Verdict.failed,
        f"移交编号 {transfer_id} 已于此前接收过内容不同的移交包（{earlier[1]}），同一移交编号不得再次接收不同内容；"
        "请与移交单位核对, 更正应另行移交 (a different package was received under this transfer id)",
        transfer_id, earlier[0], digest,
    )  # fmt: skip


def _claimed(home: Path, transfer_id: str) -> tuple[str, str] | None:
    path = _transfer_ids(home) / f"{transfer_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data["package_digests"]["SHA-256"]), str(path.relative_to(home))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return "（记录无法读取 unreadable）", str(path.relative_to(home))  # never taken as free


def _received_under(home: Path, transfer_id: str) -> tuple[str, str] | None:
    for receipt in sorted((home / REGISTERS_DIR / RECEIPTS_DIR).glob("*.xml")):
        try:
            root = parse_xml(receipt.read_bytes(), name=str(receipt))
        except (OSError, DanganError):
            continue
        if root.findtext("移交编号") == transfer_id:
            digest = next((e.text or "" for e in root.iterfind("包摘要") if e.get("算法") == "SHA-256"), receipt.stem)
            return digest, str(receipt.relative_to(home))
    return None


def _claim_transfer_id(home: Path, checked: CheckedPackage) -> Finding | None:
    """Record the package taken under its 移交编号 before the first AIP is stored (so a receive that
    stops half-way holds the id too); a failure when another package holds it already."""
    record = {"transfer_id": checked.transfer_id, "package_digests": checked.digests, "claimed_at": now_iso()}
    path = _transfer_ids(home) / f"{checked.transfer_id}.json"
    if write_durably(path, json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"), replace=False):
        return None
    return _earlier_package(home, checked)


def _interrupted(exc: Exception) -> Finding:
    """A receive stopped by an error, as its report says: without it, the archivist would find
    neither the package's fate nor the cause of the stop in ``registers/transfer-reports/``."""
    text = str(exc) if isinstance(exc, DanganError) else f"{type(exc).__name__}: {exc}"
    code = "BC-4-8" if isinstance(exc, StorageError) else INTERRUPTED
    message = f"接收因错误中断, 请按错误信息处理后再次接收 (receive stopped by an error): {text}"
    return Finding(code, Verdict.failed, message)


def _complete_report(report: CheckReport) -> None:
    """Add a 通过 finding for every check that ran without a failure or warning, in code order."""
    seen = {f.code for f in report.findings}
    report.findings += [Finding(c, Verdict.passed, "通过 (passed)") for c in CHECKS if c not in seen]
    report.findings.sort(key=lambda f: tuple(int(p) if p.isdigit() else 0 for p in f.code.split("-")[1:]))


def _write_report(home: Path, checked: CheckedPackage, failures: list[Finding]) -> Path:
    """检测报告 of one receive, kept in ``registers/transfer-reports/`` whatever the outcome."""
    report = checked.report
    verdict = "通过" if report.ok and not failures else "不通过"
    root = etree.Element("移交接收检测报告", 移交编号=checked.transfer_id, 移交包=str(checked.root),
                         时间=now_iso(), 结论=verdict)  # fmt: skip
    for name, digest in checked.digests.items():
        etree.SubElement(root, "包摘要", 算法=name).text = digest
    for f in [*report.findings, *failures]:
        el = etree.SubElement(root, "检测项", 代码=f.code, 结论=f.verdict.value)
        prop, title = CHECKS.get(f.code, ("", ""))
        for attr, value in (("性", prop), ("名称", title), ("文件", f.path), ("应为", f.expected), ("实为", f.found)):
            if value:
                el.set(attr, value)
        el.text = f.message
    stamp = now_iso().replace(":", "").replace("-", "").replace("+0000", "Z").replace("+00:00", "Z")
    name = f"{stamp}-{checked.transfer_id or 'unknown'}-{uuid.uuid4().hex[:6]}.xml"
    path = home / REGISTERS_DIR / REPORTS_DIR / name
    write_durably(path, etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


# --- the 接收回执 -----------------------------------------------------------------------------------


def receipt_xml(checked: CheckedPackage, options: ReceiveOptions, when: str) -> bytes:
    """The 接收回执 of a package that was checked and stored."""
    root = etree.Element("接收回执", 版本="1")
    for tag, value in (
        ("移交编号", checked.transfer_id),
        ("移交单位", checked.sender),
        ("接收单位", options.receiver or checked.receiver),
        ("接收人", options.received_by or _user()),
        ("接收时间", when),
        ("检测结论", PASSED),
        ("数量", str(len(checked.aips))),
        ("字节数", str(sum(a.size for a in checked.aips))),
    ):
        etree.SubElement(root, tag).text = value
    for name, digest in checked.digests.items():
        etree.SubElement(root, "包摘要", 算法=name).text = digest
    etree.SubElement(root, "交接登记表摘要", 算法="SHA-256").text = checked.handover_sha256
    packages = etree.SubElement(root, "信息包清单")
    for aip in checked.aips:
        assert aip.meta is not None
        entry = etree.SubElement(packages, "信息包", 全宗号=aip.meta.fonds_code, 档号=aip.row.archival_code,
                                 字节数=str(aip.size))  # fmt: skip
        for name, digest in aip.digests.items():
            etree.SubElement(entry, "数字摘要", 算法=name).text = digest
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _receipt_complete(path: Path) -> bool:
    return path.is_file() and all(p.is_file() for p in sidecars(path).values())


def _write_receipt(path: Path, checked: CheckedPackage, options: ReceiveOptions) -> Path:
    """Write the receipt once (never replaced), then its digests from what is on disk.

    A crash between the two leaves a receipt without sidecars, which does not count as
    received (:func:`_receipt_complete`); the next receive writes the sidecars of the
    receipt already there.
    """
    write_durably(path, receipt_xml(checked, options, now_iso()), replace=False)
    _size, digests = hash_file(path)
    for algorithm, sidecar in sidecars(path).items():
        write_durably(sidecar, f"{digests[algorithm]}  {path.name}\n".encode())
    return path
