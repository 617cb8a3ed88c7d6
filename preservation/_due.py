"""Which copies an audit run checks, in what order, and which locations it lists whole.

Least recently verified first, by the SHA-256 and SM3 cycles in ``dangan.toml [audit]``; a
location is listed in bulk (:meth:`Location.inventory`) only when that is the cheaper way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from archive.catalogue import Catalogue
from archive.config import Settings
from archive.copycheck import Listing
from archive.errors import StorageError
from archive.fixity import ALGORITHMS
from archive.storage.base import Location
from preservation._audit_report import AuditOptions

INVENTORY_SHARE = 4  # see _listed_whole


@dataclass(frozen=True)
class _Due:
    archival_code: str
    key: str
    retention: str
    year: int
    location: str
    verified_at: str
    sm3_verified_at: str
    algorithms: tuple[str, ...]
    size: int


def _listed_whole(due: list[_Due], held: Counter[str], options: AuditOptions) -> set[str]:
    """The locations worth listing whole (:meth:`Location.inventory`) for this run.

    Only when the run has no bounds, so every due copy will be checked, and when at
    least 1/INVENTORY_SHARE of what a location should hold is due: the bulk listing
    costs about a request per thousand objects, each copy listed alone two requests.
    """
    if options.max_seconds is not None or options.max_bytes is not None:
        return set()
    due_here = Counter(d.location for d in due)
    return {name for name, n in due_here.items() if n * INVENTORY_SHARE >= held[name]}


def _feed(due: list[_Due], by_name: dict[str, Location], whole: set[str]) -> Iterator[tuple[_Due, Listing | None]]:
    """The due copies in the order they are checked, each with its listing where one was taken in bulk.

    Copies in a location listed whole come in the inventory's order, as it lists them,
    taken in turn with the others, so that a network location's waits overlap the
    hashing of local copies.
    """
    alone: Iterator[tuple[_Due, Listing | None]] = ((d, None) for d in due if d.location not in whole)
    active = [alone, *(_inventoried(due, by_name[name]) for name in sorted(whole))]
    while active:
        for feed in list(active):
            item = next(feed, None)
            if item is None:
                active.remove(feed)
            else:
                yield item


def _inventoried(due: list[_Due], loc: Location) -> Iterator[tuple[_Due, Listing | None]]:
    """One location's due copies as its inventory lists them; then those it did not list, each checked alone.

    A copy the inventory leaves out is not committed there (or the location is down): its
    own check says which.
    """
    mine = {d.key: d for d in due if d.location == loc.name}
    try:
        for key, files in loc.inventory(list(mine)) or ():
            yield mine.pop(key), files
    except StorageError:
        pass  # the location is down: the first copy checked alone reports it
    yield from ((d, None) for d in mine.values())


def _due(
    settings: Settings, catalogue: Catalogue, locations: list[Location], options: AuditOptions
) -> tuple[list[_Due], Counter[str]]:
    """The copies to check, least recently verified first, and how many copies each location should hold.

    A copy is expected in the locations the copy policy names and wherever the
    catalogue knows one; a copy never verified sorts first.
    """
    held: Counter[str] = Counter()
    now = datetime.now(UTC)
    sha_before = (now - timedelta(days=int(settings.audit["cycle_days"]))).isoformat(timespec="seconds")
    sm3_before = (now - timedelta(days=int(settings.audit["sm3_cycle_days"]))).isoformat(timespec="seconds")
    names = [loc.name for loc in locations]
    out = []
    for row in catalogue.kept_items(("archived", "transferred")):
        code = row.archival_code
        known = catalogue.copies(code)
        expected = set(names[: settings.required_copies(row.retention)]) | (set(known) & set(names))
        for name in sorted(expected, key=names.index):
            if options.location is not None and name != options.location:
                continue
            held[name] += 1
            copy = known.get(name)
            verified = copy.verified_at if copy else ""
            sm3_at = copy.sm3_verified_at if copy else ""
            sm3_due = options.all or sm3_at < sm3_before
            if not (options.all or verified < sha_before or sm3_due):
                continue
            algorithms = options.algorithms or (ALGORITHMS if sm3_due else ("sha256",))
            out.append(
                _Due(
                    code,
                    row.aip_key,
                    row.retention,
                    row.year,
                    name,
                    verified,
                    sm3_at,
                    algorithms,
                    row.stored_bytes,
                )
            )
    # Times have whole seconds: among copies verified in the same second, the older SM3 check goes first.
    out.sort(key=lambda d: (d.verified_at, d.sm3_verified_at, d.archival_code, names.index(d.location)))
    return out, held
