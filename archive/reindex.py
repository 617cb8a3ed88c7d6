"""Rebuild the catalogue from the AIPs in storage: the catalogue is only a cache.

Every location is read: an AIP's own bag gives its metadata, files and ingest events
(from the first location whose copy can be read); each location's records give the
later events and so when each copy was last proven intact. A destroyed item has no bag
left, only records: its tombstone (:mod:`archive.tombstone`) gives its row back, so
its 档号 stays taken and its history stays visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from archive.aip import read_aip
from archive.catalogue import Catalogue, IndexedAIP
from archive.config import Settings
from archive.errors import DanganError
from archive.evidence import copy_from_events, events_in, status_from_events
from archive.i18n import _
from archive.storage import Location, open_locations
from archive.tombstone import DESTROYING, find_tombstones, tombstone_aip


@dataclass(frozen=True)
class ReadProblem:
    """A copy of an AIP that :func:`rebuild` did not take, or an AIP it left out (no copy agreed)."""

    key: str
    message: str
    left_out: bool = False

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def rebuild(settings: Settings, catalogue: Catalogue, problems: list[ReadProblem] | None = None) -> int:
    """Replace the catalogue with what the locations hold; return the item count.

    An AIP is read from the first copy that agrees with its own tag manifests
    (:func:`archive.aip.read_aip`). Each copy passed over, and each AIP no copy of which
    agrees (left out of the catalogue, its copies untouched, for a person to look at),
    gets a line in ``problems``.
    """
    locations = open_locations(settings)
    for loc in locations:
        loc.recover()
    return catalogue.replace_all(_indexed(locations, problems if problems is not None else []))


def _indexed(locations: list[Location], problems: list[ReadProblem]) -> Iterator[IndexedAIP]:
    holders: dict[str, list[Location]] = {}
    for loc in locations:
        for key in loc.list_keys():
            holders.setdefault(key, []).append(loc)
    tombstones = find_tombstones(locations)
    for key in sorted(holders):
        aip = _first_consistent(key, holders[key], problems)
        if aip is None:
            continue
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


def _first_consistent(key: str, holders: list[Location], problems: list[ReadProblem]) -> IndexedAIP | None:
    passed_over = []
    for loc in holders:
        try:
            aip = read_aip(loc, key)
        except DanganError as exc:
            passed_over.append(f"{loc.name}: {exc.message}")  # damaged: the next location's copy may be whole
            continue
        problems += [
            ReadProblem(key, _("副本未采用, 已改用 {location} 的副本: {problem}").format(location=loc.name, problem=p))
            for p in passed_over
        ]
        return aip
    message = _("没有一份副本与自身标签清单相符, 未编入目录, 副本均未改动, 请人工检查: {problems}").format(
        problems="; ".join(passed_over)
    )
    problems.append(ReadProblem(key, message, left_out=True))
    return None
