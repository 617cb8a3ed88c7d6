"""Rebuild the catalogue from the AIPs in storage: the catalogue is only a cache.

Every location is read: an AIP's own bag gives its metadata, files and ingest events
(from the first location whose copy can be read); each location's records give the
later events and so when each copy was last proven intact. A destroyed item has no bag
left, only records: its tombstone (:mod:`retention.tombstone`) gives its row back, so
its 档号 stays taken and its history stays visible.
"""

from __future__ import annotations

from collections.abc import Iterator

from archive.aip import read_aip
from archive.catalogue import Catalogue, IndexedAIP
from archive.config import Settings
from archive.errors import DanganError
from archive.evidence import copy_from_events, events_in, status_from_events
from archive.storage import Location, open_locations
from retention.tombstone import DESTROYING, find_tombstones, tombstone_aip


def rebuild(settings: Settings, catalogue: Catalogue) -> int:
    """Replace the catalogue with what the locations hold; return the item count."""
    locations = open_locations(settings)
    for loc in locations:
        loc.recover()
    return catalogue.replace_all(_indexed(locations))


def _indexed(locations: list[Location]) -> Iterator[IndexedAIP]:
    holders: dict[str, list[Location]] = {}
    for loc in locations:
        for key in loc.list_keys():
            holders.setdefault(key, []).append(loc)
    tombstones = find_tombstones(locations)
    for key in sorted(holders):
        aip = _first_readable(key, holders[key])
        primary = locations[0].name
        for loc in holders[key]:
            later = [e for e in events_in(loc, key) if e.id not in {x.id for x in aip.events}]
            aip.events += later
            copy = copy_from_events(loc.name, later, aip.ingested_at, primary=loc.name == primary)
            if copy is not None:
                aip.copies[loc.name] = copy
        aip.status = status_from_events(aip.events)
        if key in tombstones and aip.status in ("archived", "transferred"):
            aip.status = DESTROYING  # a destruction stopped half-way: no copy may be written back
        yield aip
    for key in sorted(set(tombstones) - set(holders)):
        yield tombstone_aip(key, tombstones[key], locations)


def _first_readable(key: str, holders: list[Location]) -> IndexedAIP:
    for loc in holders[:-1]:
        try:
            return read_aip(loc, key)
        except DanganError:
            continue  # a damaged copy: the next location's copy may be whole
    return read_aip(holders[-1], key)
