"""复制策略 (copy policy): every AIP in as many locations as its 保管期限 requires.

The policy names a count per 保管期限; the locations are the first N of
``dangan.toml``, the primary first. A copy counts only once it has been written and
read back against the independent record (the catalogue's digests of every file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import date
from functools import cache

from archive.catalogue import Catalogue, Copy
from archive.copycheck import CopyCheck, Expected, Problem, ProblemKind, check_copy
from archive.errors import AIPExistsError, DanganError, StorageError
from archive.evidence import record_event
from archive.fixity import ALGORITHMS
from archive.model import ItemMetadata
from archive.premis import REPLICATION, Event, now_iso
from archive.storage.base import Location
from retention.rules import Schedule, load_schedule

log = logging.getLogger(__name__)


def retain_until(retention: str, year: int, category: str = "WS") -> date:
    """Object Lock retention for an AIP: its appraisal date by the retention schedule; 永久 far ahead.

    The bundled schedule is used (lock dates must not depend on a home's later edits); a
    code the schedule cannot place is locked as long as a 永久 record, never shorter.
    """
    meta = ItemMetadata(fonds_code="", fonds_name="", category=category, year=year, retention=retention, title="")
    try:
        return _schedule().dates(meta).retain_until
    except DanganError:
        return _schedule().permanent_retain_until


@cache
def _schedule() -> Schedule:
    return load_schedule()


def expected_files(catalogue: Catalogue, archival_code: str) -> list[Expected]:
    """The independent record of an AIP: every file with its size and digests."""
    rows = sorted(catalogue.files(archival_code), key=lambda f: f.path)
    return [Expected(f.path, f.size, f.sha256, f.sm3) for f in rows]


def replicate(
    catalogue: Catalogue,
    archival_code: str,
    key: str,
    source: Location,
    target: Location,
    until: date | None,
    pool: Executor | None = None,
) -> CopyCheck:
    """Write ``source``'s copy into ``target``, read it back, and record it when it verifies."""
    try:
        target.commit_from(key, source, key, until)
    except AIPExistsError:
        pass  # written by an earlier, interrupted run: what counts is whether it verifies
    except StorageError as exc:
        log.warning("copy of %s to %s failed: %s", archival_code, target.name, exc.message)
        check = CopyCheck(archival_code, target.name, ALGORITHMS)
        check.problems.append(Problem(archival_code, target.name, None, ProblemKind.unreadable, exc.message))
        return check
    check = check_copy(target, key, archival_code, expected_files(catalogue, archival_code), ALGORITHMS, pool)
    when = now_iso()
    if check.ok:
        with catalogue.write():
            catalogue.set_copy(archival_code, Copy(target.name, when, when, when))
    outcome = "success" if check.ok else "failure"
    log.log(logging.INFO if check.ok else logging.WARNING, "copy of %s to %s: %s", archival_code, target.name, outcome)
    detail = f"从 {source.name} 复制到 {target.name} 并以 SHA-256 与 SM3 复核 (copied and verified)"
    summary = "; ".join(f"{p.kind}: {p.path or ''}" for p in check.problems)
    event = Event(REPLICATION, detail, outcome, summary, time=when, location=target.name)
    record_event(catalogue, target, key, archival_code, event, fallback=source)
    return check


def missing_copies(
    catalogue: Catalogue, locations: list[Location], required_copies: Callable[[str], int]
) -> list[tuple[str, str, str, int, str, list[Location]]]:
    """Items whose required locations do not all hold a verified copy.

    Each as (档号, key, 保管期限, 年度, 门类, the locations lacking it).
    """
    out = []
    for row in catalogue.kept_items(("archived",)):
        lacking = [loc for loc in locations[: required_copies(row.retention)] if loc.name not in row.held]
        if lacking:
            out.append((row.archival_code, row.aip_key, row.retention, row.year, row.category, lacking))
    return out


def complete_copies(
    catalogue: Catalogue, locations: list[Location], required_copies: Callable[[str], int], pool: Executor | None = None
) -> list[CopyCheck]:
    """Write every missing required copy from a verified one (after a crash or an outage)."""
    results = []
    by_name = {loc.name: loc for loc in locations}
    for code, key, retention, year, category, lacking in missing_copies(catalogue, locations, required_copies):
        sources = [by_name[name] for name in catalogue.copies(code) if name in by_name]
        if not sources:
            for target in lacking:
                check = CopyCheck(code, target.name, ALGORITHMS)
                none = "没有已核实的副本可复制 (no verified copy)"
                check.problems.append(Problem(code, target.name, None, ProblemKind.missing_copy, none))
                results.append(check)
            continue
        for target in lacking:
            results.append(
                replicate(catalogue, code, key, sources[0], target, retain_until(retention, year, category), pool)
            )
    return results
