"""墓碑 (tombstone): what the archive keeps of an item after its content is destroyed.

Destruction removes the AIP from every storage location, but not the fact that the item
existed: its 档号 must never be given again, the 销毁清册 must be checkable against it,
and ``dangan reindex`` must rebuild its catalogue row from storage alone. So before the
first copy is deleted, a tombstone record is written beside the AIP in every location
that holds it or its records (append-only, like the PREMIS records, which it joins).

It holds the item's DA/T 46 metadata exactly as archived (``metadata/item.xml``), the
digest and size of every file from the catalogue, the PREMIS events of the bag
(``metadata/premis.xml``, which goes with the bag), and the decision and people behind the
destruction. It is JSON, not XML, so :func:`archive.evidence.events_in` (which reads
every ``*.xml`` record as PREMIS) passes it by.

``disposition`` says why the content went: ``destroyed`` after appraisal, or
``transferred-copy-removed`` (已移交，副本删除) when the record was transferred and only
this home's copy was removed after its keep period; ``transfer`` then names the 移交编号,
the receiver and the receipt. Either way the item has no content left here, so audits
expect no copy and ``reindex`` gives it back as destroyed. A tombstone written before
these keys existed reads as ``destroyed``.

:func:`destroyed_notice` says so to people: commands that need an item's content
(``export``, ``validate``) call it first, so a destroyed record is reported as destroyed,
in which batch and when, not as a missing or damaged AIP.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime
from typing import Any

from archive.catalogue import Catalogue, IndexedAIP
from archive.errors import DanganError, StorageError
from archive.evidence import events_in
from archive.i18n import _
from archive.itemxml import item_from_xml
from archive.premis import DELETION, Event
from archive.storage.base import Location

__all__ = [
    "COPY_REMOVED",
    "DESTROYED",
    "DESTROYING",
    "TOMBSTONE",
    "Tombstone",
    "TombstoneError",
    "destroyed_notice",
    "find_tombstones",
    "tombstone_aip",
]

#: The record name of a tombstone beside the AIP.
TOMBSTONE = "tombstone.json"
FORMAT = "dangan-tombstone/1"
#: Dispositions: destroyed after appraisal, or a transferred record's copy removed here.
DESTROYED = "destroyed"
COPY_REMOVED = "transferred-copy-removed"

#: Catalogue status of an item whose destruction has begun (tombstone written) and not yet
#: finished in every location. Not ``archived``, so neither ``audit --repair`` nor the copy
#: policy ever writes its content back; not ``destroyed``, because some copy may remain.
DESTROYING = "destroying"


class TombstoneError(StorageError):
    """墓碑记录无法读取: the tombstone beside a destroyed item is damaged or of an unknown format."""


@dataclass(frozen=True)
class Tombstone:
    """墓碑: one destroyed item's metadata, digests, decision and approvers."""

    archival_code: str
    aip_key: str
    item_xml: str  # metadata/item.xml of the AIP, byte for byte (UTF-8)
    ingested_at: str
    files: tuple[dict[str, Any], ...]  # catalogue rows: path, kind, size, sha256, sm3, puid, format_name, pages
    aip_events: tuple[dict[str, Any], ...]  # the bag's own PREMIS events (ingest), as Event fields
    batch_id: str
    batch_digest: str  # SHA-256 of the batch content the approvers signed
    proposer: str
    proposed_at: str
    decision: dict[str, Any]  # the 鉴定意见: action, reason, decided_by, time
    approvals: tuple[dict[str, Any], ...]  # person, role, time
    written_at: str
    disposition: str = DESTROYED
    transfer: dict[str, str] | None = None  # transfer_id, receiver, receipt_sha256, transferred_on, removable_on

    def to_bytes(self) -> bytes:
        data = {"format": FORMAT, **asdict(self)}
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> Tombstone:
        """Read a tombstone record.

        Raises:
            TombstoneError: Not JSON, another format, or a field missing.
        """
        try:
            raw = json.loads(data.decode("utf-8"))
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw or f.default is MISSING}
        except (UnicodeDecodeError, ValueError, KeyError, AttributeError) as exc:
            raise TombstoneError(_("墓碑记录无法读取: {reason}").format(reason=exc), path=name) from None
        for name_ in ("files", "aip_events", "approvals"):
            values[name_] = tuple(values[name_])
        return cls(**values)

    def events(self) -> list[Event]:
        return [Event(**e) for e in self.aip_events]

    def tag_files(self) -> dict[str, dict[str, Any]]:
        tags = (f for f in self.files if f["kind"] == "tag")
        return {f["path"]: {"size": f["size"], "sha256": f["sha256"], "sm3": f["sm3"]} for f in tags}


def read_tombstone(location: Location, key: str) -> Tombstone | None:
    """The tombstone beside ``key`` in one location, or None when there is none."""
    if TOMBSTONE not in set(location.list_records(key)):
        return None
    return Tombstone.from_bytes(location.read_record(key, TOMBSTONE), name=f"{location.name}:{key}/{TOMBSTONE}")


def find_tombstones(locations: list[Location]) -> dict[str, list[Location]]:
    """Every key with a tombstone, and the locations whose records hold it."""
    found: dict[str, list[Location]] = {}
    for loc in locations:
        for key in loc.record_keys():
            if TOMBSTONE in set(loc.list_records(key)):
                found.setdefault(key, []).append(loc)
    return found


def tombstone_aip(key: str, holders: list[Location], locations: list[Location]) -> IndexedAIP:
    """The catalogue entry of an item with no AIP left: from its tombstone and every location's records.

    Raises:
        TombstoneError: No holder's tombstone can be read.
    """
    tomb = _first_readable(key, holders)
    item = item_from_xml(tomb.item_xml.encode("utf-8"), name=f"{key}/{TOMBSTONE}")
    events = tomb.events()
    seen = {e.id for e in events}
    for loc in locations:
        for e in events_in(loc, key):
            if e.id not in seen:
                events.append(e)
                seen.add(e.id)
    # No content is left. The run records its deletion events only once every copy is gone, so one
    # such event means "destroyed", whatever came before it (a transfer confirmed in the same second
    # would tie with it on time). Short of that the item is on its way out, never "archived" or
    # "transferred", whose copies an audit would expect and restore.
    destroyed = any(e.type == DELETION and e.outcome == "success" for e in events)
    return IndexedAIP(
        key=key,
        item=item,
        tag_files=tomb.tag_files(),
        events=events,
        ingested_at=tomb.ingested_at,
        status="destroyed" if destroyed else DESTROYING,
    )


def _first_readable(key: str, holders: list[Location]) -> Tombstone:
    problem: DanganError | None = None
    for loc in holders:
        try:
            tomb = read_tombstone(loc, key)
        except DanganError as exc:
            problem = exc  # a damaged record here: another location's copy of it may be whole
            continue
        if tomb is not None:
            return tomb
    raise TombstoneError(_("没有可读的墓碑记录 ({problem})").format(problem=problem), path=key)


# --- telling people ---------------------------------------------------------------------------------

#: What the deletion events of a run say (disposition._destroy_run._record_deletion).
_BATCH = re.compile(r"批次 ([^\s:：,，]+)")
_TRANSFERRED = re.compile(r"档案已移交(.+?) \(移交编号 ([^)\s]+)\)")


def destroyed_notice(catalogue: Catalogue, archival_code: str) -> str | None:
    """A message for people when the record's content was destroyed here, else None.

    Read from the catalogue alone (its row's status and the PREMIS deletion events, which
    ``reindex`` rebuilds from the records beside the AIP): when and in which batch the
    content went, and for a transferred record's removed copy, where the record is now.
    A destruction that has begun and not finished (``destroying``) gets a message too: its
    content may be partly gone and is not served.
    """
    row = catalogue.get(archival_code)
    if row is None or row.status not in ("destroyed", DESTROYING):
        return None
    code = archival_code
    if row.status == DESTROYING:
        return _(
            "档号 {code} 的档案正在销毁：销毁已开始，尚未在全部存储位置完成，内容不再提供；"
            "请运行 dangan destroy run 完成该批次"
        ).format(code=code)
    deletions = [e for e in catalogue.events(code) if e.type == DELETION and e.outcome == "success"]
    if not deletions:
        return _("档号 {code} 的档案已销毁，仅存墓碑").format(code=code)
    last = deletions[-1]
    day = _local_day(last.time)
    batch = _BATCH.search(last.detail)
    where = _("经销毁批次 {batch} ").format(batch=batch.group(1)) if batch else ""
    moved = _TRANSFERRED.search(last.detail)
    if moved:
        receiver, transfer_id = moved.groups()
        return _(
            "档号 {code} 的档案已移交{receiver}（移交编号 {transfer}），本库副本已于 {day} {batch}删除，"
            "仅存墓碑；请向{receiver}查阅"
        ).format(code=code, receiver=receiver, transfer=transfer_id, day=day, batch=where)
    return _("档号 {code} 的档案已于 {day} {batch}销毁，仅存墓碑").format(code=code, day=day, batch=where)


def _local_day(when: str) -> str:
    """The day of a PREMIS time (UTC) in local time, as the 销毁清册 dates it."""
    try:
        return datetime.fromisoformat(when).astimezone().date().isoformat()
    except ValueError:
        return when[:10]
