"""已移交副本 (sender copies): the records this home transferred, and when their copies here may go.

``dangan transfer confirm`` records a PREMIS ``transfer`` event beside every copy (its
outcome detail is the 移交编号) and marks the record transferred. The 居委会 keeps its
copy ``keep_copy_years`` (5) from that day (the 2012 《电子档案移交与接收办法》); after that
the copy may be removed through the approved destruction path of :mod:`disposition.disposal`:
proposed, signed by the same roles, tombstoned and listed in the 销毁清册, but without a
鉴定, because the record itself lives on at the 镇馆.

Which records were transferred, and when, is read from the events (which ``dangan
reindex`` rebuilds from storage), whatever the record's status is now: a removal that
stopped half-way must still be known as one. The receiver and the receipt come from the
home's own record of what it sent (``registers/transfers/<id>/移交记录.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from archive.catalogue import Catalogue
from archive.errors import RetentionError
from archive.premis import TRANSFER
from retention.appraisal import Action, Decision, Hold, is_held, latest_decisions
from retention.rules import Due, DueReport, Schedule, SenderCopy

REGISTERS_DIR = "registers"
SENT_DIR = "transfers"  # the sender's record of each transfer: registers/transfers/<id>/
SENT_RECORD = "移交记录.json"


def sender_copies(
    home: Path, catalogue: Catalogue, schedule: Schedule, codes: Iterable[str] | None = None
) -> dict[str, SenderCopy]:
    """Every record with a successful transfer event, by 档号 (only ``codes`` when given)."""
    wanted = None if codes is None else set(codes)
    sent: dict[str, dict[str, Any]] = {}
    out = {}
    for event in catalogue.first_events(TRANSFER):  # the first transfer; its id is the outcome detail
        code, first, transfer_id = event.archival_code, event.time, event.outcome_detail
        if wanted is not None and code not in wanted:
            continue
        if transfer_id not in sent:
            sent[transfer_id] = _sent_record(home, transfer_id)
        record = sent[transfer_id]
        # Local date, as confirm counted the keep period from date.today(); events are in UTC.
        on = datetime.fromisoformat(first).astimezone().date()
        receiver, receipt = record.get("receiver", ""), record.get("package_digests", {}).get("SHA-256", "")
        out[code] = SenderCopy(code, transfer_id, on, schedule.sender_copy_until(on), receiver, receipt)
    return out


def _sent_record(home: Path, transfer_id: str) -> dict[str, Any]:
    """The sender's 移交记录 of one transfer, or {} when it cannot be read (the events still stand)."""
    if not transfer_id or Path(transfer_id).name != transfer_id or transfer_id in (".", ".."):
        return {}  # the id comes from storage records: never let it name a path elsewhere
    try:
        data = json.loads((home / REGISTERS_DIR / SENT_DIR / transfer_id / SENT_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def removal_reason(copy: SenderCopy) -> str:
    """The 处置意见 of a copy's removal, as the 销毁清册 prints it: to whom, and under which receipt."""
    refs = [f"移交编号 {copy.transfer_id}"]
    if copy.receipt:
        refs.append(f"接收回执 {copy.receipt}（移交包 SHA-256）")
    return f"已移交{copy.receiver}（{'，'.join(refs)}），本库副本保留至 {copy.removable_on.isoformat()} 期满，删除副本"


def copy_to_dict(copy: SenderCopy) -> dict[str, str]:
    """A sender copy for JSON output and for the tombstone."""
    return {
        "transfer_id": copy.transfer_id,
        "receiver": copy.receiver,
        "receipt_sha256": copy.receipt,
        "transferred_on": copy.transferred_on.isoformat(),
        "removable_on": copy.removable_on.isoformat(),
    }


def removable_copies(
    home: Path,
    catalogue: Catalogue,
    schedule: Schedule,
    as_of: date,
    *,
    decisions: Iterable[Decision] = (),
    holds: Iterable[Hold] = (),
) -> DueReport:
    """已移交副本 still held whose keep period has ended by ``as_of``, as due items (``sender_copy`` set).

    Held copies are listed too, flagged, as expired records are: a hold stops the removal, not the list.
    """
    latest, holds = latest_decisions(decisions), tuple(holds)
    report = DueReport()
    for code, copy in sender_copies(home, catalogue, schedule).items():
        row = catalogue.get(code)
        if row is None or row.status != "transferred" or copy.removable_on > as_of:
            continue
        meta = row.metadata()
        try:
            dates = schedule.dates(meta)
        except RetentionError as exc:
            report.problems.append(exc)
            continue
        decision = latest.get(code)
        decision = decision if decision is not None and decision.action is Action.remove_copy else None
        report.items.append(Due(meta, dates, copy.removable_on, is_held(meta, holds), decision, copy))
    return report
