"""准备移交 (preparing a transfer): which records are due, and writing their package and the sender's record.

The package's layout and why it is built the way it is: the module docstring of
:mod:`disposition.transfer`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from archive import __version__
from archive.bag import write_bag
from archive.catalogue import Catalogue
from archive.config import Settings
from archive.errors import UsageError
from archive.fixity import ALGORITHMS, fsync_dir, hash_file, hash_stream, require_algorithms, write_durably
from archive.i18n import _
from archive.model import ItemMetadata
from archive.names import sibling_name
from archive.premis import now_iso
from archive.storage import Location, open_locations
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

from ._durable import sync_folder
from ._package import DIGEST_NAMES, HANDOVER_XML, LIST_XLSX, LIST_XML, README_TXT
from ._results import NothingToTransferError, PrepareResult, SourceCopyError, _user
from ._sender_copies import REGISTERS_DIR, SENT_DIR, SENT_RECORD

STATUSES = {"archived": Status.active, "transferred": Status.transferred, "destroyed": Status.destroyed}
BAG_NOTE = """
本移交包为 BagIt 包（RFC 8493）：上述文件与目录位于 data/ 之下；包根目录的
manifest-sha256.txt 与 manifest-sm3.txt 给出每个文件的 SHA-256 与 SM3 摘要，
tagmanifest-*.txt 给出各清单的摘要，bag-info.txt 的 External-Identifier 为移交编号。
"""


# --- due ----------------------------------------------------------------------------------------


def due_for_transfer(
    settings: Settings, catalogue: Catalogue, as_of: date | None = None, fonds: str | None = None
) -> DueReport:
    """到期移交: the home's records whose transfer year has begun by ``as_of`` (today)."""
    rows = [r for r in catalogue.list() if r.status in STATUSES and (fonds is None or r.fonds_code == fonds)]
    items = [(r.metadata(), STATUSES[r.status].value) for r in rows]
    return home_schedule(settings).due_for_transfer(items, as_of or date.today())


# --- the package --------------------------------------------------------------------------------


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
        raise UsageError(_("目标须为尚不存在的目录, 且其上级目录须存在: {path}").format(path=dest))
    due = due_for_transfer(settings, catalogue, options.as_of, options.fonds)
    metas = sorted((d.meta for d in due.items), key=lambda m: m.archival_code or "")
    if not metas:
        raise NothingToTransferError(_("没有到期需移交的档案"))
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
            _("本库副本文件与目录不符, 请先运行 dangan audit --repair: {files}").format(files=", ".join(odd[:5])),
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
                _("本库副本已损坏, 请先运行 dangan audit --repair"),
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
