"""确认移交 (confirming a transfer): a 接收回执 checked against what was sent, then the records 已移交."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

from archive.catalogue import Catalogue
from archive.config import Settings
from archive.evidence import record_event
from archive.fixity import write_durably
from archive.i18n import _
from archive.premis import TRANSFER, Event
from archive.storage import Location, open_locations
from retention.rules import home_schedule

from ._package import TRANSFER_ID
from ._receipt import PASSED, Receipt, ReceiptError, load_sent, read_receipt, receipt_mismatches, sidecars
from ._results import ConfirmResult
from ._sender_copies import REGISTERS_DIR, SENT_DIR, SENT_RECORD

log = logging.getLogger("disposition.transfer")  # the operators' log names the public module


def confirm_transfer(settings: Settings, catalogue: Catalogue, receipt_path: Path) -> ConfirmResult:
    """Check a 接收回执 against what this home sent, then mark those records transferred.

    Raises:
        ReceiptError: The receipt is altered, its 检测结论 is not 通过, or it is not for a
            transfer of this home, or any of its fields differs from this home's record of
            what it sent (each difference is named: field, expected, found; nothing is marked).
    """
    receipt = read_receipt(receipt_path)
    if not TRANSFER_ID.fullmatch(receipt.transfer_id):
        message = _("移交编号无效: {transfer_id}").format(transfer_id=repr(receipt.transfer_id))
        raise ReceiptError(message, path=str(receipt_path))
    if receipt.conclusion != PASSED:
        raise ReceiptError(
            _(
                "接收回执的检测结论为“{conclusion}”，不是“{passed}”：接收方未确认接收，档案不标记为已移交；"
                "请与{receiver}核对（移交编号 {transfer_id}）"
            ).format(
                conclusion=receipt.conclusion,
                passed=PASSED,
                receiver=receipt.receiver or _("接收单位"),
                transfer_id=receipt.transfer_id,
            ),
            path=str(receipt_path),
            rule="transfer:receipt-passed",
        )
    folder = settings.home / REGISTERS_DIR / SENT_DIR / receipt.transfer_id
    if not (folder / SENT_RECORD).is_file():
        raise ReceiptError(_("本库没有这次移交的记录: {transfer_id}").format(transfer_id=receipt.transfer_id),
                           path=str(receipt_path))  # fmt: skip
    sent = load_sent(folder, folder / SENT_RECORD, catalogue)
    mismatches = receipt_mismatches(receipt, sent, datetime.now(UTC))
    if mismatches:
        raise ReceiptError(
            _("接收回执与移交记录不符, 档案不标记为已移交; 请与接收单位核对: {mismatches}").format(
                mismatches="; ".join(map(str, mismatches))
            ),
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
        raise ReceiptError(_("目录中没有该档号: {code}").format(code=code))
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
