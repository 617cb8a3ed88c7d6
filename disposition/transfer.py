"""移交与接收 (transfer to the 镇档案馆 and receipt there): due lists, packages, receipts.

The community archive (居委会) finds what is due (:func:`due_for_transfer`: by default
永久 and 定期30年 records in the 5th year after 年度, as ``retention/schedule.toml`` and
``dangan.toml [retention]`` say), writes one package (:func:`prepare_transfer`), the
town archive checks and stores it (:func:`receive_transfer`) and answers with a
接收回执, and the community archive confirms it (:func:`confirm_transfer`), which marks
the records 已移交 (transferred). The sender keeps its copies ``keep_copy_years`` (5)
more years; after that they go through the approved destruction path like any record.

The package is one BagIt bag (RFC 8493, SHA-256 and SM3 manifests) whose payload is
laid out as the 2012 《电子档案移交与接收办法》 describes (its annex), so the
说明文件 written by :func:`retention.registers.transfer_readme` describes it truly::

    bagit.txt  bag-info.txt          External-Identifier = the transfer id (YJ-<全宗号>-<date>-<hex>)
    manifest-sha256.txt  manifest-sm3.txt  tagmanifest-sha256.txt  tagmanifest-sm3.txt
    data/说明文件.TXT                  what the package holds and how to read it
    data/文件目录.XML                  移交清册: 顺序号, 档号, 责任者, 题名, 日期, 密级, 电子档案名称, 备注
    data/电子档案/<年度>/<门类>/<档号>/  each AIP bag, byte for byte as stored
    data/其他/交接登记表.XML            交接登记表: counts, bytes, each AIP's digests
    data/其他/移交清册.xlsx             the 移交清册 for printing and signing

The package is built in a hidden folder beside the destination and renamed into place
at the end, so no half-written package is ever visible; every AIP file is streamed from
the primary location and checked against the catalogue on the way (one read, both
digests). The package's identity is the SHA-256 of its ``tagmanifest-sha256.txt`` and
the SM3 of its ``tagmanifest-sm3.txt``: those name every manifest, which name every file.

Receipt is all or nothing in the sense that matters: every check runs first, into one
report (:data:`CHECKS`), and a package with any failure stores nothing. Storing a
package that passed is *resumable* rather than rolled back. Each AIP becomes visible
whole or not at all (``Location.commit``), and a copy in a location that enforces
Object Lock cannot be deleted before its date, by design; so a receive that fails
half-way (a location goes down) cannot honestly promise to take back what it stored.
Instead every location is probed before the first write (a location that is down
stores nothing), each AIP is stored, indexed and replicated before the next, and a
failure stops the run with exit 4 and no 接收回执. Receiving the same package again
recognises the AIPs already held by their digests, stores the rest and only then writes
the receipt. A receive that finds the receipt of this package (named by its digest)
changes nothing; it still runs every check first, because a package damaged since would
otherwise pass for the one received. An AIP under the same 档号 with different content
is refused (YJ-1-8), as is another package under a 移交编号 already taken (YJ-1-8: the id
is recorded in ``registers/transfer-ids/`` before the first AIP is stored), and a fonds
the home does not list or lists under another name (YJ-1-6).

The 接收回执 is XML naming the package's digests, each AIP with its 全宗号, 档号, size and
digests, the receiver and the time; beside it ``<name>.sha256`` and ``<name>.sm3`` hold
its own digests in ``sha256sum`` form, which detect accidental damage only (whoever can
rewrite the receipt can rewrite them). So confirm takes nothing on the receipt's word: it
compares every field with the sender's own record of what it sent (:mod:`retention._receipt`),
and only a receipt that agrees in every field, with a 检测结论 of 通过, confirms a transfer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from archive import __version__
from archive.bag import write_bag
from archive.catalogue import Catalogue
from archive.config import Settings
from archive.errors import DanganError, ExitCode, StorageError, UsageError
from archive.evidence import record_event
from archive.fixity import ALGORITHMS, fsync_dir, hash_file, hash_stream, require_algorithms, write_durably
from archive.model import CheckReport, Finding, ItemMetadata, Verdict
from archive.names import sibling_name
from archive.premis import TRANSFER, Event, default_agent, now_iso
from archive.storage import Location, open_locations
from archive.xmlsafe import parse_xml
from retention.registers import (
    AipDigest,
    Handover,
    handover_xml,
    record_name_for,
    transfer_list_xlsx,
    transfer_list_xml,
    transfer_readme,
    transfer_rows,
)
from retention.rules import DueReport, Status, home_schedule
from search.indexing import open_search
from search.indexing import sync as sync_search

from ._receipt import PASSED, Receipt, ReceiptError, load_sent, read_receipt, receipt_mismatches, sidecars
from ._receive import (
    CHECKS,
    DIGEST_NAMES,
    HANDOVER_XML,
    LIST_XLSX,
    LIST_XML,
    README_TXT,
    TRANSFER_ID,
    CheckedPackage,
    check_package,
    store_package,
    sync_folder,
)
from ._sender_copies import REGISTERS_DIR, SENT_DIR, SENT_RECORD, removable_copies

log = logging.getLogger(__name__)

__all__ = [
    "CHECKS",
    "ConfirmResult",
    "NothingToTransferError",
    "PrepareOptions",
    "PrepareResult",
    "ReceiptError",
    "ReceiveOptions",
    "ReceiveResult",
    "SourceCopyError",
    "confirm_transfer",
    "due_for_transfer",
    "home_schedule",
    "prepare_transfer",
    "receive_transfer",
    "sender_copies_due",
]

REPORTS_DIR = "transfer-reports"  # the receiver's check reports
RECEIPTS_DIR = "transfer-receipts"  # the receiver's 接收回执, named by the package's SHA-256
TRANSFER_IDS_DIR = "transfer-ids"  # the receiver's <移交编号>.json: the package digests taken under each id
#: the code of a report's finding when an error stopped the receive (no DA/T 70 check failed: the run did)
INTERRUPTED = "中断"
STATUSES = {"archived": Status.active, "transferred": Status.transferred, "destroyed": Status.destroyed}
BAG_NOTE = """
本移交包为 BagIt 包（RFC 8493）：上述文件与目录位于 data/ 之下；包根目录的
manifest-sha256.txt 与 manifest-sm3.txt 给出每个文件的 SHA-256 与 SM3 摘要，
tagmanifest-*.txt 给出各清单的摘要，bag-info.txt 的 External-Identifier 为移交编号。
"""


class NothingToTransferError(UsageError):
    """没有到期移交的档案: nothing is due for transfer (or nothing matches the selection)."""


class SourceCopyError(DanganError):
    """本库副本与目录记录不符: the primary copy of an AIP differs from the catalogue; run ``dangan audit --repair``."""

    exit_code = ExitCode.rejected


# --- results -----------------------------------------------------------------------------------


@dataclass
class PrepareResult:
    """A package written: where, what, and its identity."""

    transfer_id: str
    package: Path
    items: list[str]
    files: int
    bytes: int
    digests: dict[str, str]
    record: Path  # the sender's copy of the registers: registers/transfers/<id>/

    def to_dict(self) -> dict[str, Any]:
        return {**_plain(self), "count": len(self.items)}


@dataclass
class ReceiveResult:
    """What a receive did: ``received``, ``already_received``, ``rejected`` (checks failed) or ``incomplete``."""

    package: Path
    status: str
    report: CheckReport
    transfer_id: str = ""
    digests: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None
    receipt: Path | None = None
    stored: list[str] = field(default_factory=list)
    already_held: list[str] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "rejected":
            return ExitCode.rejected
        return ExitCode.storage if self.status == "incomplete" else ExitCode.ok

    def to_dict(self) -> dict[str, Any]:
        shown = [f for f in self.report.findings if f.verdict is not Verdict.passed]
        return {
            **_plain(self, skip=("report", "failures")),
            "checks": len(self.report.findings),
            "findings": [f.to_dict() for f in shown],
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass
class ConfirmResult:
    """A receipt confirmed: the records now 已移交, and until when the sender keeps its copies."""

    transfer_id: str
    status: str  # confirmed / already_confirmed
    items: list[str]
    keep_copy_until: date
    receiver: str

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def _user() -> str:
    """The person acting, for the registers: the OS user (as PREMIS events name their agent)."""
    return default_agent().removeprefix("dangan/")


def _plain(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for name, value in vars(obj).items():
        if name not in skip:
            out[name] = str(value) if isinstance(value, Path | date) else value
    return out


# --- due ----------------------------------------------------------------------------------------


def due_for_transfer(
    settings: Settings, catalogue: Catalogue, as_of: date | None = None, fonds: str | None = None
) -> DueReport:
    """到期移交: the home's records whose transfer year has begun by ``as_of`` (today)."""
    rows = [r for r in catalogue.list() if r.status in STATUSES and (fonds is None or r.fonds_code == fonds)]
    items = [(r.metadata(), STATUSES[r.status].value) for r in rows]
    return home_schedule(settings).due_for_transfer(items, as_of or date.today())


def sender_copies_due(settings: Settings, catalogue: Catalogue, as_of: date | None = None) -> list[tuple[str, date]]:
    """Transferred records whose sender copy has been kept ``keep_copy_years`` since the transfer.

    Each as (档号, the day the keep period ended). These copies may then be removed, through
    the same approved destruction path as any record (``dangan retention due`` lists them,
    ``dangan destroy propose`` takes them; see :mod:`disposition._sender_copies`).
    """
    report = removable_copies(settings.home, catalogue, home_schedule(settings), as_of or date.today())
    return [(d.meta.archival_code, d.due) for d in report.items]


# --- prepare ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareOptions:
    """What to send and who sends it to whom."""

    as_of: date | None = None
    fonds: str | None = None
    receiver: str = "镇档案馆"  # 接收单位
    sent_by: str = ""  # 移交人; the OS user when empty


class _PayloadWriter:
    """Writes payload files into the package being built, digesting each on the way (one read)."""

    def __init__(self, bag: Path) -> None:
        self.bag = bag
        self.entries: dict[str, dict[str, str]] = {}
        self.bytes = 0

    def write(self, rel: str, stream: BinaryIO) -> tuple[int, dict[str, str]]:
        target = self.bag.joinpath(*rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:  # made durable all at once before the package is renamed into place
            size, digests = hash_stream(stream, ALGORITHMS, sink=out)
        self.entries[rel] = digests
        self.bytes += size
        return size, digests

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.write(rel, BytesIO(data))


def prepare_transfer(
    settings: Settings, catalogue: Catalogue, dest: Path, options: PrepareOptions = PrepareOptions()
) -> PrepareResult:
    """Write the transfer package of every record due into the new folder ``dest``.

    Raises:
        UsageError: ``dest`` exists or its parent does not.
        NothingToTransferError: Nothing is due.
        SourceCopyError: A stored AIP differs from the catalogue (nothing is written).
        StorageError: The primary location cannot be read.
    """
    require_algorithms()
    dest = dest.absolute()
    if dest.exists() or not dest.parent.is_dir():
        raise UsageError(f"目标须为尚不存在的目录, 且其上级目录须存在 (--to must be a new folder): {dest}")
    due = due_for_transfer(settings, catalogue, options.as_of, options.fonds)
    metas = sorted((d.meta for d in due.items), key=lambda m: m.archival_code or "")
    if not metas:
        raise NothingToTransferError("没有到期需移交的档案 (nothing is due for transfer)")
    today = date.today()
    fonds = re.sub(r"[^0-9A-Za-z]", "", metas[0].fonds_code) or "X"  # the id names folders and files
    transfer_id = f"YJ-{fonds}-{today:%Y%m%d}-{uuid.uuid4().hex[:8]}"
    work = dest.parent / sibling_name(dest.name, f".partial-{uuid.uuid4().hex[:8]}")
    work.mkdir()
    try:
        writer = _PayloadWriter(work)
        primary = open_locations(settings)[0]
        aips = [_copy_aip(catalogue, primary, meta, writer) for meta in metas]
        handover = _handover(metas, aips, options, today)
        _write_registers(writer, metas, handover, transfer_id)
        digests = _finish_bag(work, writer, handover, transfer_id, today)
        record = _write_sent_record(settings.home, transfer_id, work, dest, handover, digests, metas)
        sync_folder(work)
        os.rename(work, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    codes = [m.archival_code or "" for m in metas]
    return PrepareResult(transfer_id, dest, codes, len(writer.entries), writer.bytes, digests, record)


def _copy_aip(catalogue: Catalogue, primary: Location, meta: ItemMetadata, writer: _PayloadWriter) -> AipDigest:
    """Stream one AIP into the package, checking every file against the catalogue's record."""
    code = meta.archival_code or ""
    row = catalogue.get(code)
    key = row.aip_key
    expected = {f.path: f for f in catalogue.files(code)}
    listed = dict(primary.list_files(key))
    if set(listed) != set(expected):
        odd = sorted(set(listed) ^ set(expected))
        raise SourceCopyError(
            f"本库副本文件与目录不符, 请先运行 dangan audit --repair (stored copy differs from the catalogue): "
            f"{', '.join(odd[:5])}",
            path=f"{primary.name}:{key}",
        )
    base = f"data/{record_name_for(meta)}"
    size = 0
    for rel in sorted(listed):
        with primary.open(key, rel) as src:
            n, digests = writer.write(f"{base}/{rel}", src)
        want = expected[rel]
        if digests["sha256"] != want.sha256 or digests["sm3"] != want.sm3 or n != (want.size or n):
            raise SourceCopyError(
                "本库副本已损坏, 请先运行 dangan audit --repair (stored copy is damaged)",
                path=f"{primary.name}:{key}/{rel}",
            )
        size += n
    tags = {DIGEST_NAMES[a]: getattr(expected[f"tagmanifest-{a}.txt"], a) for a in ALGORITHMS}
    return AipDigest(code, size, tags)


def _handover(metas: list[ItemMetadata], aips: list[AipDigest], options: PrepareOptions, today: date) -> Handover:
    sender = "、".join(dict.fromkeys(m.fonds_name for m in metas))
    years = sorted({m.year for m in metas})
    span = f"{years[0]}" if years[0] == years[-1] else f"{years[0]}—{years[-1]}"
    return Handover(
        name=f"{sender} {span} 年度档案移交",
        description=f"{len(metas)} 件电子档案及其元数据 ({'、'.join(dict.fromkeys(m.category for m in metas))})",
        sender=sender,
        receiver=options.receiver,
        sent_by=options.sent_by or _user(),
        received_by="",
        handed_over_on=today,
        aips=tuple(aips),
        checks={"完整性": "通过"},  # every file was checked against the catalogue while it was copied
    )


def _write_registers(writer: _PayloadWriter, metas: list[ItemMetadata], handover: Handover, transfer_id: str) -> None:
    rows = transfer_rows(metas)
    header = [f"移交单位：{handover.sender}　接收单位：{handover.receiver}　移交编号：{transfer_id}"]
    readme = transfer_readme(handover, metas, producer=handover.sender, checker=handover.sender,
                             software=f"dangan {__version__}")  # fmt: skip
    writer.write_bytes(LIST_XML, transfer_list_xml(rows))
    writer.write_bytes(HANDOVER_XML, handover_xml(handover))
    writer.write_bytes(LIST_XLSX, transfer_list_xlsx(rows, header_lines=header))
    writer.write_bytes(README_TXT, (readme + BAG_NOTE).encode("utf-8"))


def _finish_bag(
    work: Path, writer: _PayloadWriter, handover: Handover, transfer_id: str, today: date
) -> dict[str, str]:
    info = [
        ("Source-Organization", handover.sender),
        ("External-Identifier", transfer_id),
        ("External-Description", handover.name),
        ("Bagging-Date", today.isoformat()),
        ("Bag-Software-Agent", f"dangan {__version__}"),
        ("DA-Receiver", handover.receiver),
        ("DA-Item-Count", str(len(handover.aips))),
    ]
    write_bag(work, writer.entries, writer.bytes, info, {})
    return {DIGEST_NAMES[a]: hash_file(work / f"tagmanifest-{a}.txt", (a,))[1][a] for a in ALGORITHMS}


def _write_sent_record(
    home: Path,
    transfer_id: str,
    work: Path,
    dest: Path,
    handover: Handover,
    digests: dict[str, str],
    metas: list[ItemMetadata],
) -> Path:
    """The sender's own record of what it sent: the registers, the package's identity, and every
    field a 接收回执 states, so confirm can compare each (:func:`retention._receipt.load_sent`)."""
    folder = home / REGISTERS_DIR / SENT_DIR / transfer_id
    folder.mkdir(parents=True)
    fonds = {m.archival_code: m.fonds_code for m in metas}
    for rel in (LIST_XML, HANDOVER_XML, LIST_XLSX, README_TXT):
        shutil.copyfile(work.joinpath(*rel.split("/")), folder / rel.rsplit("/", 1)[-1])
    record = {
        "transfer_id": transfer_id,
        "package": str(dest),
        "prepared_at": now_iso(),
        "sender": handover.sender,
        "receiver": handover.receiver,
        "package_digests": digests,
        "handover_sha256": hash_file(work.joinpath(*HANDOVER_XML.split("/")), ("sha256",))[1]["sha256"],
        "aips": [
            {"archival_code": a.archival_code, "fonds_code": fonds[a.archival_code], "size": a.size,
             "digests": dict(a.digests)}
            for a in handover.aips
        ],
    }  # fmt: skip
    sync_folder(folder)
    write_durably(folder / SENT_RECORD, json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
    return folder


# --- receive ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveOptions:
    """Who receives: 接收单位 (the name in the 交接登记表 when empty) and 接收人 (the OS user)."""

    receiver: str = ""
    received_by: str = ""


def receive_transfer(
    settings: Settings,
    catalogue: Catalogue,
    package: Path,
    options: ReceiveOptions = ReceiveOptions(),
    on_stage: Callable[[str], None] | None = None,
) -> ReceiveResult:
    """Check a package and, when every check passes, store its AIPs in this home (see the module docstring).

    Args:
        on_stage: Called with ``"check"`` and ``"store"`` as each phase begins (progress, benchmarks).

    Raises:
        UsageError: ``package`` is not a directory, or ``options.receiver`` is not the 接收单位
            its 交接登记表 names (nothing is stored).
        StorageError: The primary location cannot be read while checking.
    """
    require_algorithms()
    package = package.absolute()
    if not package.is_dir():
        raise UsageError(f"移交包须为目录 (the package must be a directory): {package}")
    note = on_stage or (lambda _stage: None)
    # Every receive leaves its report, one stopped by an error too (the error still reaches the caller).
    checked = CheckedPackage(package, CheckReport("移交与接收"))  # until the checks have run
    try:
        locations = open_locations(settings)
        note("check")
        checked = check_package(settings, catalogue, locations[0], package, int(settings.ingest["workers"]))
        result = _decide_and_store(settings, catalogue, locations, checked, options, note)
        failed = [f.code for f in checked.report.findings if f.failed]
        log.log(logging.INFO if not failed else logging.WARNING, "receive %s (%s): %s %s", package,
                checked.transfer_id, result.status, " ".join(failed))  # fmt: skip
        return result
    except Exception as exc:
        log.error("receive %s stopped: %s", package, exc)
        try:
            _write_report(settings.home, checked, [_interrupted(exc)])
        except Exception:  # the error that stopped the receive is the one to raise
            pass
        raise


def _decide_and_store(
    settings: Settings,
    catalogue: Catalogue,
    locations: list[Location],
    checked: CheckedPackage,
    options: ReceiveOptions,
    note: Callable[[str], None],
) -> ReceiveResult:
    """The receive once every check has run: refuse, recognise a package received before, or store."""
    package = checked.root
    earlier = _earlier_package(settings.home, checked)
    if earlier is not None:
        checked.report.findings.append(earlier)
    _complete_report(checked.report)
    result = ReceiveResult(package, "rejected", checked.report, checked.transfer_id, checked.digests)
    if not checked.report.ok:
        result.report_path = _write_report(settings.home, checked, [])
        return result
    if options.receiver and options.receiver != checked.receiver:
        # the receipt names the 接收单位 and the sender refuses one that is not whom it sent to
        raise UsageError(
            f"此移交包的接收单位为“{checked.receiver}”，不是 --receiver 所填的“{options.receiver}”，未接收任何内容；"
            "请核对后不带 --receiver 接收, 或请移交单位重新生成移交包 "
            "(the package is addressed to another receiving archive; nothing stored)",
            path=str(package), rule="transfer:receiver",
        )  # fmt: skip
    receipt = settings.home / REGISTERS_DIR / RECEIPTS_DIR / f"{checked.digests['SHA-256']}.xml"
    if _receipt_complete(receipt):
        result.status, result.receipt = "already_received", receipt
        result.already_held = [a.row.archival_code for a in checked.aips]
        return result  # nothing written: the same package was received before
    taken = _claim_transfer_id(settings.home, checked)
    if taken is not None:  # another package took the id between the check and now
        report = checked.report
        report.findings = [f for f in report.findings if f.code != "YJ-1-8" or f.failed] + [taken]
        result.report_path = _write_report(settings.home, checked, [])
        return result
    note("store")
    outcome = store_package(settings, catalogue, locations, checked)
    result.stored, result.already_held, result.failures = outcome.stored, outcome.held, outcome.failures
    if outcome.failures:
        result.status = "incomplete"
        result.report_path = _write_report(settings.home, checked, outcome.failures)
        return result
    _sync_search(settings, catalogue, locations)
    result.receipt = _write_receipt(receipt, checked, options)
    result.status = "received"
    result.report_path = _write_report(settings.home, checked, [])
    return result


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


def _sync_search(settings: Settings, catalogue: Catalogue, locations: list[Location]) -> None:
    """Add the received records to the search index (a cache: a failure here is mended by ``reindex``)."""
    try:
        with open_search(settings) as index:
            sync_search(catalogue, index, locations)
    except DanganError:
        pass


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


# --- confirm ------------------------------------------------------------------------------------


def confirm_transfer(settings: Settings, catalogue: Catalogue, receipt_path: Path) -> ConfirmResult:
    """Check a 接收回执 against what this home sent, then mark those records transferred.

    Raises:
        ReceiptError: The receipt is altered, its 检测结论 is not 通过, or it is not for a
            transfer of this home, or any of its fields differs from this home's record of
            what it sent (each difference is named: field, expected, found; nothing is marked).
    """
    receipt = read_receipt(receipt_path)
    if not TRANSFER_ID.fullmatch(receipt.transfer_id):
        raise ReceiptError(f"移交编号无效 (bad transfer id): {receipt.transfer_id!r}", path=str(receipt_path))
    if receipt.conclusion != PASSED:
        raise ReceiptError(
            f"接收回执的检测结论为“{receipt.conclusion}”，不是“{PASSED}”：接收方未确认接收，档案不标记为已移交；"
            f"请与{receipt.receiver or '接收单位'}核对 (移交编号 {receipt.transfer_id}) / the receipt does not "
            "say the package passed the checks: the records stay here",
            path=str(receipt_path),
            rule="transfer:receipt-passed",
        )
    folder = settings.home / REGISTERS_DIR / SENT_DIR / receipt.transfer_id
    if not (folder / SENT_RECORD).is_file():
        raise ReceiptError(f"本库没有这次移交的记录 (no record of this transfer here): {receipt.transfer_id}",
                           path=str(receipt_path))  # fmt: skip
    sent = load_sent(folder, folder / SENT_RECORD, catalogue)
    mismatches = receipt_mismatches(receipt, sent, datetime.now(UTC))
    if mismatches:
        raise ReceiptError(
            "接收回执与移交记录不符, 档案不标记为已移交; 请与接收单位核对 (receipt does not match what was sent): "
            + "; ".join(map(str, mismatches)),
            path=str(receipt_path), rule="transfer:receipt-match", mismatches=mismatches,
        )  # fmt: skip
    locations = {loc.name: loc for loc in open_locations(settings)}
    until = home_schedule(settings).sender_copy_until(date.today())
    changed = [code for code in receipt.codes if _mark_transferred(catalogue, locations, code, receipt, until)]
    for name in (receipt_path, *sidecars(receipt_path).values()):
        write_durably(folder / name.name, name.read_bytes(), replace=False)  # the sender's copy, kept once
    status = "confirmed" if changed else "already_confirmed"
    log.info("confirm %s: %s, %d records transferred to %s", receipt.transfer_id, status, len(receipt.codes),
             receipt.receiver)  # fmt: skip
    return ConfirmResult(receipt.transfer_id, status, receipt.codes, until, receipt.receiver)


def _mark_transferred(
    catalogue: Catalogue, locations: dict[str, Location], code: str, receipt: Receipt, until: date
) -> bool:
    """A TRANSFER event beside every copy, then the status; False when it was already transferred."""
    row = catalogue.get(code)
    if row is None:
        raise ReceiptError(f"目录中没有该档号 (not in the catalogue): {code}")
    if row.status == "transferred":
        return False
    detail = (f"移交至 {receipt.receiver}, 接收回执 {receipt.package_digests.get('SHA-256', '')[:16]}, "
              f"本库副本保留至 {until.isoformat()} (transferred; sender copy kept until then)")  # fmt: skip
    holders = [locations[n] for n in catalogue.copies(code) if n in locations] or list(locations.values())[:1]
    for loc in holders:
        record_event(catalogue, loc, row.aip_key, code, Event(TRANSFER, detail, "success", receipt.transfer_id))
    with catalogue.write():
        catalogue.set_status(code, "transferred")
    return True
