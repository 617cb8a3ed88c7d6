"""定期检测 (periodic fixity audit) and 修复 (repair) of every copy of every AIP.

A run picks the copies that are due, least recently verified first: SHA-256 each
``cycle_days``, SM3 as well each ``sm3_cycle_days`` (SM3 costs eight times as much
per byte here, so the slower digest runs on the longer cycle). ``max_seconds`` and
``max_bytes`` bound a run, so a daily cron job walks through the whole archive within
the cycle. Each copy is streamed from its location and checked against the
independent record in the catalogue (:mod:`archive.copycheck`); each check and each
repair becomes a PREMIS event beside the AIP and in the catalogue.

Repair takes a file only from a copy that has just verified against the record, and
reads the repaired copy back before it counts; with no good copy it changes nothing.
Which copies are due is chosen in :mod:`preservation._due`, the evidence kept by
:mod:`preservation._record`, and repair done by :mod:`preservation._repair`.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from archive.catalogue import Catalogue
from archive.config import Settings
from archive.copycheck import CopyCheck, Expected, Listing, Problem, ProblemKind, check_copy
from archive.errors import StorageError, UsageError
from archive.i18n import _
from archive.storage.base import Location, ObjectLock
from preservation._audit_report import AuditOptions, AuditReport
from preservation._due import INVENTORY_SHARE, _Due, _due, _feed, _listed_whole
from preservation._record import BATCH, BATCH_SECONDS, _Recorder
from preservation._repair import NO_GOOD_COPY, _repair
from preservation.replicas import expected_files

__all__ = [
    "BATCH",
    "BATCH_SECONDS",
    "IN_FLIGHT",
    "INVENTORY_SHARE",
    "NO_GOOD_COPY",
    "WORKERS",
    "AuditOptions",
    "AuditReport",
    "audit",
]

log = logging.getLogger(__name__)

WORKERS = 2  # hashlib releases the GIL: two threads keep both cores hashing
IN_FLIGHT = 8 * WORKERS  # copies under way at once: the hashing threads never wait while this thread records


def audit(settings: Settings, catalogue: Catalogue, locations: list[Location], options: AuditOptions) -> AuditReport:
    """Run one audit over the archive's copies; see the module docstring."""
    started = time.monotonic()
    by_name = {loc.name: loc for loc in locations}
    if options.location is not None and options.location not in by_name:
        raise UsageError(_("没有名为 {name} 的存储位置").format(name=options.location), rule="dangan.toml [[storage]]")
    report = AuditReport()
    if options.max_seconds is not None:
        for loc in locations:
            loc.limit_waits(options.max_seconds)
    down = _probe(locations, options, report)
    due, held = _due(settings, catalogue, locations, options)
    feed = _feed(due, by_name, _listed_whole(due, held, options) - down)
    checked_codes: set[str] = set()
    verified: dict[tuple[str, str], CopyCheck] = {}
    # The evidence is stored on a thread of its own, so no check waits behind a flush.
    with ThreadPoolExecutor(WORKERS) as pool, ThreadPoolExecutor(1) as io:
        recorder = _Recorder(catalogue, io)
        try:
            for d, check in _run(feed, catalogue, by_name, pool, options, started, down, report):
                checked_codes.add(d.archival_code)
                report.checked_copies += 1
                report.checked_files += check.files
                report.checked_bytes += check.bytes
                if check.location_down:
                    if d.location not in down:
                        down.add(d.location)
                        report.problems.append(replace(check.problems[0], archival_code=None))
                    else:
                        report.remaining += 1
                    continue
                recorder.add(by_name[d.location], d, check)
                if check.ok:
                    verified[(d.archival_code, d.location)] = check
                    continue
                report.problems.extend(check.problems)
                for problem in check.problems:
                    log.warning("%s @ %s: %s %s", d.archival_code, d.location, problem.kind, problem.path or "")
                if options.repair:
                    recorder.flush()  # the failed check is on record before any repair event
                    _repair(catalogue, locations, d, check, verified, down, pool, report)
        finally:
            recorder.flush()
    report.checked_aips = len(checked_codes)
    report.seconds = time.monotonic() - started
    return report


def _probe(locations: list[Location], options: AuditOptions, report: AuditReport) -> set[str]:
    """Ask every location at once whether it answers (its Object Lock state); return those that do not.

    A location in the run's scope that cannot be read is reported unreadable (BC-3-2) here,
    before any copy of it is due, so a run whose budget the wait used up cannot end
    looking clean. With ``--repair``, what dead writers left in a location (a pending
    write, staging) is cleared first, as ingest does, so it cannot block a rebuild.
    """
    scope = [options.location in (None, loc.name) for loc in locations]
    with ThreadPoolExecutor(max(1, len(locations))) as pool:
        answers = list(pool.map(lambda loc, mine: _answer(loc, options.repair and mine), locations, scope))
    down: set[str] = set()
    for loc, mine, (state, failure) in zip(locations, scope, answers, strict=True):
        report.object_lock[loc.name] = str(state)
        if failure is None:
            continue
        down.add(loc.name)  # never a repair source either
        if mine:
            report.problems.append(Problem(None, loc.name, None, ProblemKind.unreadable, failure.message))
            log.error("location %s cannot be read (BC-3-2): %s", loc.name, failure.message)
    return down


def _answer(loc: Location, recover: bool) -> tuple[ObjectLock | str, StorageError | None]:
    try:
        state = loc.object_lock()
    except StorageError as exc:
        return "unknown", exc
    if recover:
        try:
            loc.recover()
        except StorageError:
            pass  # the location may still be read; a repair this leaves blocked says why
    return state, None


def _run(
    feed: Iterator[tuple[_Due, Listing | None]],
    catalogue: Catalogue,
    by_name: dict[str, Location],
    pool: ThreadPoolExecutor,
    options: AuditOptions,
    started: float,
    down: set[str],
    report: AuditReport,
) -> Iterator[tuple[_Due, CopyCheck]]:
    """Check due copies a few at a time, yielding each as it completes, until a bound is reached.

    A copy is one task, listed and hashed by one hashing thread: the other thread goes
    on with the next copies meanwhile, and a copy costs one hand-over, not one per file.
    """
    done: queue.SimpleQueue[Future[tuple[_Due, CopyCheck]]] = queue.SimpleQueue()
    in_flight = 0
    budget = 0
    for d, listed in feed:
        if _bound_reached(options, started, budget) or d.location in down:
            report.remaining += 1
            continue
        budget += d.size
        record = expected_files(catalogue, d.archival_code)  # read here: the catalogue belongs to this thread
        pool.submit(_check, by_name[d.location], d, record, listed).add_done_callback(done.put)
        in_flight += 1
        while in_flight >= IN_FLIGHT:
            in_flight -= 1
            yield done.get().result()  # a bug in a worker is raised here, not left waiting
    while in_flight:
        in_flight -= 1
        yield done.get().result()


def _check(loc: Location, d: _Due, record: list[Expected], listed: Listing | None) -> tuple[_Due, CopyCheck]:
    check = check_copy(loc, d.key, d.archival_code, record, d.algorithms, listed=listed)
    if listed is not None and not check.ok:
        # The bulk listing is older than this check: what counts is the copy as it is now.
        check = check_copy(loc, d.key, d.archival_code, record, d.algorithms)
    return d, check


def _bound_reached(options: AuditOptions, started: float, budget: int) -> bool:
    if options.max_seconds is not None and time.monotonic() - started >= options.max_seconds:
        return True
    return options.max_bytes is not None and budget >= options.max_bytes
