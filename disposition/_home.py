"""What appraisal and destruction read from an archive home: its items and signed batches.

Shared by :mod:`disposition.disposal` (the API) and :mod:`disposition._destroy_run` (the run).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from archive.catalogue import Catalogue, ItemRow
from archive.errors import DestructionRefusedError, NotFoundError
from archive.i18n import _
from archive.model import ItemMetadata
from archive.tombstone import DESTROYING
from retention.appraisal import latest_decisions
from retention.destruction import DestructionBatch
from retention.rules import Status

from ._ledger import Ledger, batch_digest

#: Catalogue status → the retention layer's status (what the due-date helpers understand).
STATUS = {
    "archived": Status.active,
    "transferred": Status.transferred,
    "destroyed": Status.destroyed,
    DESTROYING: Status.destroyed,  # on its way out: never due again, never re-appraised
}


class BatchChangedError(DestructionRefusedError):
    """批次内容在签署后被修改: an approval names other content than the batch holds now."""


def now() -> datetime:
    """The local time with its zone, to the second: registers are evidence and name their zone."""
    return datetime.now().astimezone().replace(microsecond=0)


def status_of(row: ItemRow) -> Status:
    """The retention status of a catalogue row; an unknown status is never treated as in the archive."""
    return STATUS.get(row.status, Status.destroyed)


def item_row(catalogue: Catalogue, code: str) -> ItemRow:
    """The catalogue row of one 档号.

    Raises:
        NotFoundError: No such item.
    """
    row = catalogue.get(code)
    if row is None:
        raise NotFoundError(_("没有档号为 {code} 的档案").format(code=code), path=code)
    return row


def metas_of(catalogue: Catalogue, codes: Iterable[str]) -> dict[str, ItemMetadata]:
    """Metadata of the codes the catalogue knows (destroyed items keep their rows)."""
    out = {}
    for code in codes:
        row = catalogue.get(code)
        if row is not None:
            out[code] = row.metadata()
    return out


def signed_batch(ledger: Ledger, batch_id: str) -> DestructionBatch:
    """The batch with its approvals, each checked to be a signature of the content stored now.

    Raises:
        NotFoundError: No such batch.
        BatchChangedError: The batch was edited after it was proposed or signed, or an item
            has had a newer appraisal decision since: no signature counts for changed content.
    """
    batch, stored = ledger.read_batch(batch_id)
    digest = batch_digest(batch)
    problems = []
    if stored != digest:
        problems.append(_("批次文件在提出后被修改"))
    for signed in ledger.approvals(batch_id):
        if signed.batch_digest != digest:
            a = signed.approval
            problems.append(_("{person}（{role}）签署的是另一版本的批次").format(person=a.person, role=a.role))
        else:
            batch = batch.approve(signed.approval)
    latest = latest_decisions(ledger.decisions())
    for d in batch.decisions:
        if latest.get(d.archival_code) != d:
            problems.append(_("{code} 在批次提出后有新的鉴定意见，须重新提出批次").format(code=d.archival_code))
    if problems:
        raise BatchChangedError(
            _("{problems}。请重新提出批次并签署").format(problems="；".join(problems)),
            path=batch_id,
            rule="destruction:signed-content",
        )
    return batch
