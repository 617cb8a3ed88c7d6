"""接收回执 read back at the sender and compared, field by field, with what it sent.

What a receipt proves: its ``.sha256``/``.sm3`` sidecars detect accidental damage only;
whoever can rewrite the receipt can rewrite its sidecars too. So nothing in a receipt is
taken on its word. :func:`receipt_mismatches` compares every field it carries with the
sender's own record of the transfer (``registers/transfers/<id>/移交记录.json`` and the
交接登记表 kept beside it): 移交编号, 移交单位, 接收单位, 数量, 字节数, the package's and the
交接登记表's digests, each AIP's 全宗号, 档号, 字节数 and digests, and a 接收时间 between the
package's preparation and now. Any difference refuses the whole receipt, naming the field,
what was sent and what the receipt says. A signature with the receiving server's own key
is planned with the web service; until then a receipt that passes shows that someone
returned one agreeing with what was sent, not who.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

from lxml import etree

from archive.catalogue import Catalogue
from archive.errors import DanganError, ExitCode
from archive.fixity import ALGORITHMS, hash_file, hash_stream
from archive.i18n import _
from archive.xmlsafe import parse_xml

from ._package import HANDOVER_XML

__all__ = ["PASSED", "Mismatch", "Receipt", "ReceiptError", "SentTransfer", "load_sent", "read_receipt",
           "receipt_mismatches", "sidecars"]  # fmt: skip

#: The 检测结论 of a receipt that confirms a transfer; any other leaves the records here.
PASSED = "通过"
ROOT = "接收回执"
#: The receipt's single-valued fields, each exactly once.
FIELDS = ("移交编号", "移交单位", "接收单位", "接收人", "接收时间", "检测结论", "数量", "字节数")
#: How far the two archives' clocks may disagree when a 接收时间 is compared with the preparation.
CLOCK_SKEW = timedelta(minutes=10)
NONE = "（无）"


class ReceiptError(DanganError):
    """接收回执无效或与移交记录不符: a receipt that is altered, unreadable, or not for what was sent."""

    exit_code = ExitCode.rejected

    def __init__(
        self, message: str, *, path: str | None = None, rule: str | None = None, mismatches: Sequence[Mismatch] = ()
    ) -> None:
        self.mismatches = list(mismatches)
        super().__init__(message, path=path, rule=rule)


@dataclass(frozen=True)
class Mismatch:
    """One field of a receipt that differs from the sender's record: what was sent, what it says."""

    field: str
    expected: str
    found: str

    def __str__(self) -> str:
        def shown(value: str) -> str:
            return _("（无）") if value in ("", NONE) else value

        return _("{field}: 应为 {expected}, 实为 {found}").format(
            field=self.field, expected=shown(self.expected), found=shown(self.found)
        )


@dataclass
class ReceiptAip:
    """One 信息包 of a receipt, as written (strings, so a malformed value is shown, not lost)."""

    fonds_code: str
    archival_code: str
    size: str
    digests: dict[str, str]


@dataclass
class Receipt:
    """A 接收回执 as read back by the sender."""

    fields: dict[str, str]  # each of FIELDS, stripped
    package_digests: dict[str, str]
    handover_digests: dict[str, str]
    aips: list[ReceiptAip]
    odd: list[Mismatch] = field(default_factory=list)  # repeated or unknown elements

    @property
    def transfer_id(self) -> str:
        return self.fields["移交编号"]

    @property
    def receiver(self) -> str:
        return self.fields["接收单位"]

    @property
    def conclusion(self) -> str:
        return self.fields["检测结论"]

    @property
    def codes(self) -> list[str]:
        return sorted({a.archival_code for a in self.aips})


def sidecars(path: Path) -> dict[str, Path]:
    """The receipt's ``.sha256`` and ``.sm3`` files."""
    return {a: path.with_name(f"{path.name}.{a}") for a in ALGORITHMS}


def read_receipt(path: Path) -> Receipt:
    """Read a 接收回执 after checking it against its ``.sha256`` and ``.sm3`` sidecars.

    Raises:
        ReceiptError: A sidecar is missing or disagrees, or the XML is unsafe or lacks a field.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReceiptError(_("无法读取接收回执: {error}").format(error=exc.strerror), path=str(path)) from exc
    _size, digests = hash_stream(BytesIO(data))
    for algorithm, sidecar in sidecars(path).items():
        try:
            stated = sidecar.read_text(encoding="utf-8").split()[0]
        except (OSError, IndexError, UnicodeDecodeError) as exc:
            message = _("缺少接收回执的摘要文件: {name}").format(name=sidecar.name)
            raise ReceiptError(message, path=str(path)) from exc
        if stated != digests[algorithm]:
            message = _("接收回执与其 {algorithm} 摘要不符, 可能已被改动").format(algorithm=algorithm)
            raise ReceiptError(message, path=str(path))
    try:
        return _parse(parse_xml(data, name=str(path)))
    except (DanganError, KeyError) as exc:
        raise ReceiptError(_("接收回执无法读取或不完整: {error}").format(error=exc), path=str(path)) from exc


def _parse(root: etree._Element) -> Receipt:
    odd = []
    if root.tag != ROOT or root.get("版本") != "1":
        odd.append(Mismatch("根元素", f"{ROOT} 版本=1", f"{root.tag} 版本={root.get('版本')}"))
    values: dict[str, list[str]] = {}
    package: list[etree._Element] = []
    handover: list[etree._Element] = []
    aips = []
    for child in root:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions carry nothing
        if child.tag in FIELDS:
            values.setdefault(child.tag, []).append((child.text or "").strip())
        elif child.tag == "包摘要":
            package.append(child)
        elif child.tag == "交接登记表摘要":
            handover.append(child)
        elif child.tag == "信息包清单":
            for entry in child:
                if isinstance(entry.tag, str):
                    aips.append(_aip(entry, odd))
        else:
            odd.append(Mismatch(child.tag, NONE, _("（未知字段）")))
    for name, found in values.items():
        if len(found) > 1:
            odd.append(Mismatch(name, _("一项"), " / ".join(found)))
    fields = {name: values[name][0] for name in FIELDS}  # KeyError: a field is missing
    return Receipt(fields, _digests("包摘要", package, odd), _digests("交接登记表摘要", handover, odd), aips, odd)


def _aip(entry: etree._Element, odd: list[Mismatch]) -> ReceiptAip:
    code = entry.get("档号") or ""
    if entry.tag != "信息包":
        odd.append(Mismatch(f"信息包清单/{entry.tag}", NONE, code or _("（未知元素）")))
    digests = _digests(f"{code}: 数字摘要", [d for d in entry if isinstance(d.tag, str)], odd)
    return ReceiptAip(entry.get("全宗号") or "", code, entry.get("字节数") or "", digests)


def _digests(name: str, elements: list[etree._Element], odd: list[Mismatch]) -> dict[str, str]:
    """算法 → digest; an algorithm named twice is reported, not silently overwritten."""
    out: dict[str, str] = {}
    for el in elements:
        algorithm, digest = el.get("算法") or "", (el.text or "").strip()
        if algorithm in out:
            odd.append(Mismatch(f"{name} {algorithm}", _("一项"), f"{out[algorithm]} / {digest}"))
        out[algorithm] = digest
    return out


# --- the sender's record --------------------------------------------------------------------------


@dataclass
class SentAip:
    fonds_code: str
    size: int
    digests: dict[str, str]


@dataclass
class SentTransfer:
    """What this home sent under one 移交编号, as its own record says."""

    transfer_id: str
    sender: str
    receiver: str
    prepared_at: datetime
    package_digests: dict[str, str]
    handover_sha256: str
    aips: dict[str, SentAip]  # 档号 → AIP

    @property
    def total_bytes(self) -> int:
        return sum(a.size for a in self.aips.values())


def load_sent(folder: Path, record: Path, catalogue: Catalogue) -> SentTransfer:
    """The 移交记录 in ``folder``; records written before the 交接登记表 digest and the 全宗号 were
    kept there take them from the 交接登记表 copy beside it and from the catalogue.

    Raises:
        ReceiptError: The record is unreadable or incomplete, so the receipt cannot be checked.
    """
    try:
        data: dict[str, Any] = json.loads(record.read_text(encoding="utf-8"))
        handover = data.get("handover_sha256") or hash_file(folder / HANDOVER_XML.rsplit("/", 1)[-1], ("sha256",))[1]
        aips = {}
        for a in data["aips"]:
            code = a["archival_code"]
            fonds = a.get("fonds_code") or _catalogue_fonds(catalogue, code)
            aips[code] = SentAip(fonds, int(a["size"]), dict(a["digests"]))
        return SentTransfer(
            str(data["transfer_id"]), str(data["sender"]), str(data["receiver"]),
            datetime.fromisoformat(data["prepared_at"]), dict(data["package_digests"]),
            handover if isinstance(handover, str) else handover["sha256"], aips,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReceiptError(
            _("本库这次移交的记录无法读取或不完整, 无法核对接收回执; 请从备份恢复 {folder}: {error}").format(
                folder=folder, error=repr(exc)
            ),
            path=str(record), rule="transfer:sent-record",
        ) from exc  # fmt: skip


def _catalogue_fonds(catalogue: Catalogue, code: str) -> str:
    row = catalogue.get(code)
    if row is None:
        raise KeyError(_("目录中没有该档号: {code}").format(code=code))
    return str(row.fonds_code)


# --- the comparison ----------------------------------------------------------------------------


def receipt_mismatches(receipt: Receipt, sent: SentTransfer, now: datetime) -> list[Mismatch]:
    """Every field of ``receipt`` that differs from ``sent`` (empty when the receipt is for exactly it)."""
    out = list(receipt.odd)
    expected = {
        "移交编号": sent.transfer_id,
        "移交单位": sent.sender,
        "接收单位": sent.receiver,
        "检测结论": PASSED,
        "数量": str(len(sent.aips)),
        "字节数": str(sent.total_bytes),
    }
    out += [Mismatch(k, v, receipt.fields[k]) for k, v in expected.items() if receipt.fields[k] != v]
    if not receipt.fields["接收人"]:
        out.append(Mismatch("接收人", _("接收人姓名"), ""))
    out += _when(receipt.fields["接收时间"], sent.prepared_at, now)
    out += _compare_digests("包摘要", sent.package_digests, receipt.package_digests)
    out += _compare_digests("交接登记表摘要", {"SHA-256": sent.handover_sha256}, receipt.handover_digests)
    out += _aip_mismatches(receipt.aips, sent.aips)
    return out


def _when(found: str, prepared: datetime, now: datetime) -> list[Mismatch]:
    """接收时间: a time with its zone, not before the package was prepared nor after now."""
    span = _("{prepared} 至 {now} 之间").format(prepared=prepared.isoformat(), now=now.isoformat(timespec="seconds"))
    try:
        when = datetime.fromisoformat(found)
        ok = when.tzinfo is not None and prepared - CLOCK_SKEW <= when <= now + CLOCK_SKEW
    except (ValueError, TypeError):
        ok = False
    return [] if ok else [Mismatch("接收时间", span, found)]


def _compare_digests(name: str, sent: dict[str, str], found: dict[str, str]) -> list[Mismatch]:
    return [
        Mismatch(f"{name} {algorithm}", sent.get(algorithm, NONE), found.get(algorithm, NONE))
        for algorithm in sorted(sent.keys() | found.keys())
        if sent.get(algorithm) != found.get(algorithm)
    ]


def _aip_mismatches(found: list[ReceiptAip], sent: dict[str, SentAip]) -> list[Mismatch]:
    out = []
    seen: set[str] = set()
    for aip in found:
        code = aip.archival_code
        if code in seen:
            out.append(Mismatch(f"信息包 {code}", _("一项"), _("重复")))
            continue
        seen.add(code)
        want = sent.get(code)
        if want is None:
            out.append(Mismatch(f"信息包 {code}", _("（并未移交）"), code))
            continue
        if aip.fonds_code != want.fonds_code:
            out.append(Mismatch(f"{code}: 全宗号", want.fonds_code, aip.fonds_code))
        if aip.size != str(want.size):
            out.append(Mismatch(f"{code}: 字节数", str(want.size), aip.size))
        out += _compare_digests(f"{code}: 数字摘要", want.digests, aip.digests)
    out += [Mismatch(f"信息包 {code}", code, _("（未被接收）")) for code in sorted(sent.keys() - seen)]
    return out
