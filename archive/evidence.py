"""保管过程证据: PREMIS events of replication, audits and repairs, kept beside the AIP.

Each event is one small record written once in the location it is about (append-only:
a new name per event, never rewritten) and also entered in the catalogue, which can
therefore be rebuilt from the locations alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from archive.catalogue import Catalogue, Copy
from archive.errors import StorageError
from archive.premis import FIXITY_CHECK, REPAIR, REPLICATION, STATUS_AFTER, Event, events_from_xml, events_to_xml
from archive.storage.base import Location

#: event types after which a copy has been read back and found whole (when the outcome is success)
PROVING = (REPLICATION, FIXITY_CHECK, REPAIR)
SM3_MARK = "SM3"  # event details name the algorithms verified; SM3 is the slow one on its own cycle


def record_name(event: Event) -> str:
    """A record name that sorts by time and never collides: time, type, event id."""
    stamp = event.time.replace("-", "").replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    return f"{stamp}-{event.type.replace(' ', '-')}-{event.id}.xml"


def record_event(
    catalogue: Catalogue,
    location: Location,
    key: str,
    archival_code: str,
    event: Event,
    fallback: Location | None = None,
) -> bool:
    """Store ``event`` beside the AIP in ``location`` and in the catalogue.

    When ``location`` cannot take it (it is down), the record goes beside the AIP in
    ``fallback`` instead, so the evidence still survives a rebuild of the catalogue.
    Returns whether it was stored in ``location`` itself.
    """
    event.location = event.location or location.name
    stored = store_record(location, key, archival_code, event, fallback)
    with catalogue.write():
        catalogue.add_event(archival_code, event)
    return stored


def store_record(
    location: Location, key: str, archival_code: str, event: Event, fallback: Location | None = None
) -> bool:
    """The storage half of :func:`record_event`: False (and noted in the event) when ``location`` is down."""
    data = events_to_xml([event], archival_code)
    try:
        location.append_record(key, record_name(event), data)
        return True
    except StorageError as exc:
        _note_not_stored(event, exc)
        if fallback is not None:
            fallback.append_record(key, record_name(event), events_to_xml([event], archival_code))
        return False


def store_records(records: Sequence[tuple[Location, str, str, Event]]) -> None:
    """:func:`store_record` for many (location, key, 档号, event) at once, each location's share as one batch.

    A batch is made durable together (:meth:`Location.append_records`); an event its
    location could not take says so in its outcome detail. There is no fallback here:
    the caller enters every event in the catalogue.
    """
    by_location: dict[str, tuple[Location, list[tuple[str, str, Event]]]] = {}
    for location, key, archival_code, event in records:
        by_location.setdefault(location.name, (location, []))[1].append((key, archival_code, event))
    for location, items in by_location.values():
        batch = [(key, record_name(event), events_to_xml([event], code)) for key, code, event in items]
        try:
            errors = location.append_records(batch)
        except StorageError as exc:
            errors = [exc] * len(batch)
        for (_key, _code, event), error in zip(items, errors, strict=True):
            if error is not None:
                _note_not_stored(event, error)


def _note_not_stored(event: Event, exc: StorageError) -> None:
    event.outcome_detail = f"{event.outcome_detail} [未能写入存储位置 (not stored in location): {exc.message}]"


def events_in(location: Location, key: str) -> Iterator[Event]:
    """Every event recorded beside one AIP in one location."""
    for name in location.list_records(key):
        if name.endswith(".xml"):
            yield from events_from_xml(location.read_record(key, name), name=f"{location.name}:{key}/{name}")


def copy_from_events(location: str, events: list[Event], ingested_at: str, *, primary: bool) -> Copy | None:
    """What the catalogue knows of a copy, from the events kept beside it.

    The primary copy was written and read back at ingest; a further copy counts only
    after a successful replication (or a repair that re-verified it). A copy whose latest
    check failed has no verification times: it stays due until a check or repair proves it.
    """
    # Times are to the second. In one second, a failure comes before a success: an audit
    # finds damage and then repairs it, as the catalogue saw it happen.
    checks = sorted((e for e in events if e.type in PROVING), key=lambda e: (e.time, e.outcome == "success"))
    proofs = [e for e in checks if e.outcome == "success"]
    if primary:
        stored, verified, sm3 = ingested_at, ingested_at, ""
    elif proofs:
        stored, verified, sm3 = proofs[0].time, proofs[0].time, ""
    else:
        return None
    if checks and checks[-1].outcome != "success":
        return Copy(location, stored, "", "")
    for e in proofs:
        verified = max(verified, e.time)
        if SM3_MARK in e.detail:
            sm3 = max(sm3, e.time)
    return Copy(location, stored, verified, sm3)


def status_from_events(events: list[Event]) -> str:
    """An item's status replayed from its events: the last successful status change wins."""
    status = "archived"
    for e in sorted(events, key=lambda e: e.time):
        if e.outcome == "success" and e.type in STATUS_AFTER:
            status = STATUS_AFTER[e.type]
    return status
