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
compares every field with the sender's own record of what it sent (:mod:`disposition._receipt`),
and only a receipt that agrees in every field, with a 检测结论 of 通过, confirms a transfer.
"""

from __future__ import annotations

from datetime import date

from archive.catalogue import Catalogue
from archive.config import Settings
from retention.rules import home_schedule

# One module per step does the work; callers import it from here.
from ._confirm import confirm_transfer
from ._durable import sync_folder
from ._package import (
    CHECKS,
    DIGEST_NAMES,
    HANDOVER_XML,
    LIST_XLSX,
    LIST_XML,
    README_TXT,
    TRANSFER_ID,
    CheckedPackage,
)
from ._prepare import BAG_NOTE, STATUSES, PrepareOptions, due_for_transfer, prepare_transfer
from ._receipt import ReceiptError
from ._receive import check_package
from ._receive_records import INTERRUPTED, RECEIPTS_DIR, REPORTS_DIR, TRANSFER_IDS_DIR, receipt_xml
from ._receive_run import ReceiveOptions, receive_transfer
from ._results import (
    ConfirmResult,
    NothingToTransferError,
    PrepareResult,
    ReceiveResult,
    SourceCopyError,
)
from ._sender_copies import removable_copies
from ._store import store_package

__all__ = [
    "BAG_NOTE",
    "CHECKS",
    "DIGEST_NAMES",
    "HANDOVER_XML",
    "INTERRUPTED",
    "LIST_XLSX",
    "LIST_XML",
    "README_TXT",
    "RECEIPTS_DIR",
    "REPORTS_DIR",
    "STATUSES",
    "TRANSFER_ID",
    "TRANSFER_IDS_DIR",
    "CheckedPackage",
    "ConfirmResult",
    "NothingToTransferError",
    "PrepareOptions",
    "PrepareResult",
    "ReceiptError",
    "ReceiveOptions",
    "ReceiveResult",
    "SourceCopyError",
    "check_package",
    "confirm_transfer",
    "due_for_transfer",
    "home_schedule",
    "prepare_transfer",
    "receipt_xml",
    "receive_transfer",
    "sender_copies_due",
    "store_package",
    "sync_folder",
]


def sender_copies_due(settings: Settings, catalogue: Catalogue, as_of: date | None = None) -> list[tuple[str, date]]:
    """Transferred records whose sender copy has been kept ``keep_copy_years`` since the transfer.

    Each as (档号, the day the keep period ended). These copies may then be removed, through
    the same approved destruction path as any record (``dangan retention due`` lists them,
    ``dangan destroy propose`` takes them; see :mod:`disposition._sender_copies`).
    """
    report = removable_copies(settings.home, catalogue, home_schedule(settings), as_of or date.today())
    return [(d.meta.archival_code, d.due) for d in report.items]
