"""销毁的执行 (running a destruction batch): tombstones first, then deletion everywhere, then the 销毁清册.

Order per item, each step safe to repeat, so running the batch again after a crash or a
refused location finishes the job:

1. write the tombstone beside the AIP in every location that holds it or its records
   (skipped where it is already there);
2. mark the item ``destroying`` in the catalogue: from here neither the copy policy nor
   ``audit --repair`` will write its content back;
3. delete the AIP in each location that still holds it, Object-Locked locations first (a
   refusal there then leaves every copy in place), dropping each copy from the catalogue;
4. record a PREMIS deletion event beside it in each of those locations (skipped where
   recorded), then mark it ``destroyed``.

When every item is destroyed, the 销毁清册 (XLSX and PDF) is written into ``registers/``
and archived as a permanent record of the home's first fonds.

The copy of a transferred record (``remove_copy``) goes the same way; its tombstone, its
deletion events and its row in the 销毁清册 say it was transferred and only the copy here
removed, naming the transfer and the receipt.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from archive.aip import ITEM_XML, PREMIS_XML
from archive.catalogue import Catalogue, ItemRow
from archive.config import Settings
from archive.errors import DanganError, ExitCode, LockedError, RecordExistsError, StorageError
from archive.evidence import events_in, record_event
from archive.i18n import _
from archive.premis import DELETION, Event, events_from_xml
from archive.storage import Location, open_locations
from archive.storage.base import ObjectLock
from archive.tombstone import COPY_REMOVED, DESTROYED, DESTROYING, TOMBSTONE, Tombstone, read_tombstone
from retention.appraisal import Decision
from retention.destruction import DestructionBatch, check_approved
from retention.errors import InvalidBatchError
from retention.periods import PERMANENT
from retention.registers import DestructionRegister, destruction_register_pdf, destruction_register_xlsx, find_cjk_font
from retention.rules import Schedule, SenderCopy, home_schedule
from search.indexing import open_search

from ._home import BatchChangedError, metas_of, now, signed_batch
from ._ledger import Ledger, approval_to_dict, batch_digest, decision_to_dict
from ._sender_copies import copy_to_dict, sender_copies

log = logging.getLogger(__name__)

#: Statuses a run may act on or find done; a transferred item only as a sender copy (batch_problems).
RUNNABLE = ("archived", "transferred", DESTROYING, "destroyed")
METHOD = "从全部存储位置删除内容，保留墓碑与保管记录 (content deleted from every location; tombstone kept)"


@dataclass
class ItemOutcome:
    """What the run did to one item."""

    archival_code: str
    destroyed: bool
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"archival_code": self.archival_code, "destroyed": self.destroyed, "message": self.message}


@dataclass
class RunResult:
    """The outcome of ``destroy run``: per item, and the 销毁清册 once every item is destroyed."""

    batch_id: str
    items: list[ItemOutcome] = field(default_factory=list)
    register_code: str | None = None  # 档号 of the archived 销毁清册
    register_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.items) and all(i.destroyed for i in self.items) and self.register_code is not None

    @property
    def exit_code(self) -> int:
        return ExitCode.ok if self.complete else ExitCode.storage

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "complete": self.complete,
            "destroyed": [i.archival_code for i in self.items if i.destroyed],
            "not_destroyed": [i.to_json() for i in self.items if not i.destroyed],
            "register": {"archival_code": self.register_code, "files": self.register_files},
            "warnings": self.warnings,
        }


@dataclass
class _Run:
    settings: Settings
    catalogue: Catalogue
    locations: list[Location]
    batch: DestructionBatch
    digest: str
    schedule: Schedule
    copies: dict[str, SenderCopy]  # the batch's transferred records (check_approved: each under remove_copy)


def run_batch(
    settings: Settings,
    catalogue: Catalogue,
    batch_id: str,
    locations: list[Location] | None = None,
    *,
    as_of: date | None = None,
) -> RunResult:
    """Destroy an approved batch, or finish a run that stopped; see the module docstring.

    Raises:
        DestructionRefusedError: The batch is not approved, changed since it was signed, or
            an item is held, not due, or destroyed under another batch. Nothing is deleted.
        MissingDependencyError: No CJK font for the 销毁清册 PDF (checked before deleting).
    """
    ledger = Ledger(settings.home)
    with ledger.locked(f"batches/{batch_id}.lock"):
        batch = signed_batch(ledger, batch_id)
        find_cjk_font()  # the register must be printable: fail before anything is deleted
        schedule = home_schedule(settings)
        copies = sender_copies(settings.home, catalogue, schedule, batch.archival_codes)
        locations = locations or open_locations(settings)
        run = _Run(settings, catalogue, locations, batch, batch_digest(batch), schedule, copies)
        _check(run, ledger, as_of)
        result = RunResult(batch_id)
        for decision in batch.decisions:
            result.items.append(_destroy_item(run, decision))
        result.warnings += _drop_from_search(run)
        if all(i.destroyed for i in result.items):
            _finish(run, ledger, result)
        return result


def _check(run: _Run, ledger: Ledger, as_of: date | None) -> None:
    """check_approved over the items not yet destroyed (holds re-read now), approvals always."""
    metas = metas_of(run.catalogue, run.batch.archival_codes)
    away = [code for code in metas if run.catalogue.get(code).status not in RUNNABLE]
    if away:
        raise InvalidBatchError(
            _("{codes} 不在档，不能销毁").format(codes="、".join(away)), path=run.batch.batch_id,
            rule="destruction:in-archive",
        )  # fmt: skip
    done, elsewhere = _already_destroyed(run)
    if elsewhere:
        raise BatchChangedError(
            "；".join(_("{code} 已由批次 {batch_id} 销毁").format(code=c, batch_id=b) for c, b in elsewhere),
            path=run.batch.batch_id,
            rule="destruction:once",
        )
    remaining = tuple(d for d in run.batch.decisions if d.archival_code not in done)
    if remaining:
        check_approved(
            replace(run.batch, decisions=remaining), ledger.holds(), metas, schedule=run.schedule, as_of=as_of,
            sender_copies=run.copies,
        )  # fmt: skip
    else:  # only the register is left to do: the signatures still have to hold
        check_approved(run.batch, (), metas, schedule=run.schedule, as_of=as_of, sender_copies=run.copies)


def _already_destroyed(run: _Run) -> tuple[set[str], list[tuple[str, str]]]:
    """Items destroyed by this batch (a re-run skips them), and items whose tombstone names another batch.

    Every item's tombstone is looked for, whatever the catalogue says: a run of another
    batch may have stopped between writing its tombstones and marking the item.
    """
    mine: set[str] = set()
    theirs: list[tuple[str, str]] = []
    for code in run.batch.archival_codes:
        row = run.catalogue.get(code)
        tomb = _existing_tombstone(run, row.aip_key) if row is not None else None
        if tomb is not None and tomb.batch_id != run.batch.batch_id:
            theirs.append((code, tomb.batch_id))
        elif row is not None and row.status == "destroyed":
            mine.add(code)
    return mine, theirs


# --- one item ------------------------------------------------------------------------------


def _destroy_item(run: _Run, decision: Decision) -> ItemOutcome:
    code = decision.archival_code
    row = run.catalogue.get(code)
    if row.status == "destroyed":
        return ItemOutcome(code, True, _("此前已销毁"))
    key = row.aip_key
    try:
        present = [loc for loc in run.locations if loc.exists(key)]
        evidence = [loc for loc in run.locations if loc in present or next(iter(loc.list_records(key)), None)]
        tomb = _existing_tombstone(run, key) or _new_tombstone(run, row, decision, present)
        _write_tombstones(evidence, key, tomb)
    except DanganError as exc:
        return ItemOutcome(code, False, _("未销毁：未能在每个存储位置写入墓碑: {error}").format(error=exc))
    if row.status != DESTROYING:
        with run.catalogue.write():
            run.catalogue.set_status(code, DESTROYING)
    # A location under Object Lock goes first: its refusal then leaves every other copy whole.
    for loc in sorted(present, key=lambda loc: loc.object_lock() is not ObjectLock.enforced):
        failed = _delete_from(run, loc, key, code)
        if failed:
            return ItemOutcome(code, False, failed)
    for loc in evidence:
        _record_deletion(run, loc, key, code)
    with run.catalogue.write():
        run.catalogue.set_status(code, "destroyed")
        run.catalogue.drop_copies(code)
    log.info("destroyed %s", code)
    return ItemOutcome(code, True)


def _delete_from(run: _Run, loc: Location, key: str, code: str) -> str:
    """Delete one copy; an error message when the location refused or failed, else ""."""
    try:
        loc.delete(key)
    except LockedError as exc:
        message = _("未销毁：存储位置 {location} 处于对象锁定期内，拒绝删除；锁定期满后请重新运行 destroy run: {error}")
        return message.format(location=loc.name, error=exc.message)
    except StorageError as exc:
        return _("未销毁：存储位置 {location} 删除失败，请重新运行: {error}").format(location=loc.name, error=exc)
    with run.catalogue.write():
        run.catalogue.drop_copy(code, loc.name)
    return ""


def _existing_tombstone(run: _Run, key: str) -> Tombstone | None:
    for loc in run.locations:
        try:
            tomb = read_tombstone(loc, key)
        except DanganError:
            continue  # unreadable here; another location's may do, or a new one is written
        if tomb is not None:
            return tomb
    return None


def _new_tombstone(run: _Run, row: ItemRow, decision: Decision, present: list[Location]) -> Tombstone:
    code, key = row.archival_code, row.aip_key
    if not present:
        raise StorageError(_("没有任何存储位置持有该 AIP，也没有墓碑"), path=key)
    item_xml, premis = _read_bag_records(present, key)
    files = [
        {k: v for k, v in f.to_json().items() if k != "archival_code"}  # path, kind, size, digests, format, pages
        for f in run.catalogue.files(code)
    ]
    batch = run.batch
    copy = run.copies.get(code)
    return Tombstone(
        archival_code=code,
        aip_key=key,
        item_xml=item_xml.decode("utf-8"),
        ingested_at=row.ingested_at,
        files=tuple(files),
        aip_events=tuple(e.to_json() for e in events_from_xml(premis, name=f"{key}/{PREMIS_XML}")),
        batch_id=batch.batch_id,
        batch_digest=run.digest,
        proposer=batch.proposer,
        proposed_at=batch.proposed_at.isoformat(timespec="seconds"),
        decision=decision_to_dict(decision),
        approvals=tuple(approval_to_dict(a) for a in batch.approvals),
        written_at=now().isoformat(timespec="seconds"),
        disposition=COPY_REMOVED if copy else DESTROYED,
        transfer=copy_to_dict(copy) if copy else None,
    )


def _read_bag_records(present: list[Location], key: str) -> tuple[bytes, bytes]:
    problem: DanganError | None = None
    for loc in present:
        try:
            return loc.read(key, ITEM_XML), loc.read(key, PREMIS_XML)
        except DanganError as exc:
            problem = exc
    raise StorageError(_("无法读取 AIP 的元数据: {error}").format(error=problem), path=key)


def _write_tombstones(evidence: list[Location], key: str, tomb: Tombstone) -> None:
    data = tomb.to_bytes()
    for loc in evidence:
        try:
            loc.append_record(key, TOMBSTONE, data)
        except RecordExistsError:
            pass  # written by an earlier, interrupted run


def _record_deletion(run: _Run, loc: Location, key: str, code: str) -> None:
    if any(e.type == DELETION and e.outcome == "success" for e in events_in(loc, key)):
        return  # recorded by an earlier, interrupted run
    detail = (
        f"销毁 (destruction), 批次 {run.batch.batch_id}: 已删除 AIP 内容, 保留墓碑与保管记录 "
        "(content deleted; tombstone and records kept)"
    )
    copy = run.copies.get(code)
    if copy is not None:
        detail = (
            f"删除已移交副本 (transferred, copy removed), 批次 {run.batch.batch_id}: 档案已移交{copy.receiver} "
            f"(移交编号 {copy.transfer_id}), 本库副本保留期满后删除, 保留墓碑与保管记录 "
            "(the record is held by the receiving archive; tombstone and records kept)"
        )
    record_event(run.catalogue, loc, key, code, Event(DELETION, detail, "success", location=loc.name))


# --- the 销毁清册 ----------------------------------------------------------------------------


def _finish(run: _Run, ledger: Ledger, result: RunResult) -> None:
    """Write the 销毁清册 once, and archive it (once: the run state remembers its 档号)."""
    batch_id = run.batch.batch_id
    state = ledger.run_state(batch_id)
    if "destroyed_on" not in state:
        state = {"batch_id": batch_id, "batch_digest": run.digest, "destroyed_on": now().date().isoformat()}
        ledger.save_run_state(batch_id, state)
    on = date.fromisoformat(state["destroyed_on"])
    files = _register_files(run, ledger, on)
    result.register_files = [str(p) for p in files]
    code = state.get("register_code") or _archive_register(run, files, on, result)
    if code:
        result.register_code = code
        ledger.save_run_state(batch_id, {**state, "register_code": code, "complete": True})


def _drop_from_search(run: _Run) -> list[str]:
    """Take every item whose destruction has begun out of the search index: its text goes with it."""
    codes = [c for c in run.batch.archival_codes if run.catalogue.get(c).status in ("destroyed", DESTROYING)]
    try:
        with open_search(run.settings) as index:
            index.delete(codes)
    except DanganError as exc:
        return [_("检索索引未能更新, 下次归档或 reindex 时补做: {error}").format(error=exc)]
    return []


def _register_files(run: _Run, ledger: Ledger, on: date) -> list[Path]:
    """The XLSX and PDF under ``registers/``: written once, so a re-run archives the same bytes."""
    metas = metas_of(run.catalogue, run.batch.archival_codes)
    register = DestructionRegister.from_batch(run.batch, metas, destroyed_on=on, method=METHOD)
    folder = ledger.root / "销毁清册"
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"销毁清册-{run.batch.batch_id}"
    made = {
        base.with_suffix(".xlsx"): lambda: destruction_register_xlsx(register),
        base.with_suffix(".pdf"): lambda: destruction_register_pdf(register, created=_noon_utc(on)),
    }
    for path, render in made.items():
        if not path.is_file():
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(render())
            tmp.replace(path)
    return list(made)


def _noon_utc(day: date) -> datetime:
    """The PDF's creation time, pinned to the destruction day, so a re-rendered register is the same."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def _archive_register(run: _Run, files: list[Path], on: date, result: RunResult) -> str | None:
    """Ingest the register as one 永久 WS item; its 档号, or None (with the reason in ``result``)."""
    # Imported here: ingest loads the format and image libraries, which only this step needs.
    from ingest.metadata import ClassDefaults
    from ingest.pipeline import Ingestor

    fonds = run.settings.fonds[0]
    defaults = ClassDefaults(
        fonds=fonds.code, category="WS", year=on.year, retention=PERMANENT, carrier="电子", author=fonds.name,
        date=f"{on:%Y%m%d}",
    )  # fmt: skip
    work = run.settings.work_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        folder = Path(tmp) / f"销毁清册 (批次 {run.batch.batch_id})"
        folder.mkdir()
        for f in files:
            shutil.copyfile(f, folder / f"销毁清册{f.suffix}")
        with Ingestor.open(run.settings, run.catalogue) as ingestor:
            outcome = ingestor.run(Path(tmp), None, defaults).items
    item = outcome[0] if len(outcome) == 1 else None
    if item is not None and item.status in ("archived", "duplicate", "incomplete"):
        if item.status == "incomplete":
            result.warnings.append(_("销毁清册 {code} 副本未齐, 下次归档时补写").format(code=item.archival_code))
        return item.archival_code
    reasons = "; ".join(f"{f.code} {f.message}" for r in outcome for f in r.errors)
    result.warnings.append(_("销毁清册未能归档, 请重新运行 destroy run: {reasons}").format(reasons=reasons))
    return None
