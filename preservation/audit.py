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
"""

from __future__ import annotations

import logging
import queue
import time
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from archive.catalogue import Catalogue, Copy
from archive.config import Settings
from archive.copycheck import CopyCheck, Expected, Listing, Problem, ProblemKind, check_copy
from archive.errors import ExitCode, StorageError, UsageError
from archive.evidence import SM3_MARK, record_event, store_records
from archive.fixity import ALGORITHMS, hash_stream
from archive.premis import FIXITY_CHECK, REPAIR, Event, default_agent, now_iso
from archive.storage.base import Location, ObjectLock, stage_stream
from preservation.replicas import expected_files, retain_until

log = logging.getLogger(__name__)

WORKERS = 2  # hashlib releases the GIL: two threads keep both cores hashing
IN_FLIGHT = 8 * WORKERS  # copies under way at once: the hashing threads never wait while this thread records
INVENTORY_SHARE = 4  # see _listed_whole
BATCH = 64  # checks whose records are flushed together and entered in one transaction (see _Recorder)
BATCH_SECONDS = 5.0  # ... and at least this often, so a slow location's checks are not kept back for long
NO_GOOD_COPY = "无完好副本可用于修复, 未做任何修改 (no good copy to repair from; nothing changed)"


@dataclass(frozen=True)
class AuditOptions:
    """What one run covers: ``dangan audit`` flags."""

    max_seconds: float | None = None
    max_bytes: int | None = None
    all: bool = False
    location: str | None = None
    repair: bool = False
    algorithms: tuple[str, ...] | None = None  # None: by the cycles in dangan.toml


@dataclass
class AuditReport:
    """What a run checked and found."""

    checked_aips: int = 0
    checked_files: int = 0
    checked_bytes: int = 0
    checked_copies: int = 0
    problems: list[Problem] = field(default_factory=list)
    remaining: int = 0  # due copies left for the next run (bounds reached, location down)
    object_lock: dict[str, str] = field(default_factory=dict)
    no_good_copy: list[str] = field(default_factory=list)  # 档号 with damage and nothing to repair from
    # "档号 @ location: why" where writing the repair failed (a full disk); unrepaired, so exit 1 as before
    repair_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unrepaired(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def exit_code(self) -> int:
        if any(p.kind is ProblemKind.unreadable for p in self.unrepaired):
            return ExitCode.storage
        return ExitCode.rejected if self.unrepaired else ExitCode.ok

    def to_dict(self) -> dict[str, object]:
        return {
            "checked_aips": self.checked_aips,
            "checked_files": self.checked_files,
            "checked_bytes": self.checked_bytes,
            "problems": [p.to_dict() for p in self.problems],
            "checked_copies": self.checked_copies,
            "remaining_due": self.remaining,
            "object_lock": self.object_lock,
            "no_good_copy": self.no_good_copy,
            "repair_failed": self.repair_failed,
        }


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


def audit(settings: Settings, catalogue: Catalogue, locations: list[Location], options: AuditOptions) -> AuditReport:
    """Run one audit over the archive's copies; see the module docstring."""
    started = time.monotonic()
    by_name = {loc.name: loc for loc in locations}
    if options.location is not None and options.location not in by_name:
        raise UsageError(f"没有名为 {options.location} 的存储位置 (no such location)", rule="dangan.toml [[storage]]")
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


def _detail(check: CopyCheck) -> str:
    algs = " + ".join("SM3" if a == "sm3" else "SHA-256" for a in check.algorithms)
    return f"固定性检查 {algs}: {check.files} 个文件, {check.bytes} 字节 (fixity check)"


def _summary(problems: list[Problem]) -> str:
    return "; ".join(f"{p.kind} {p.path or ''} {p.detail}".strip() for p in problems)


class _Recorder:
    """The evidence of each check: a record beside the copy, and the catalogue's event and copy rows.

    Checks are gathered in batches of up to BATCH. A batch's records are stored on the
    I/O thread, each location's share made durable together (one flush for the batch,
    not one per record), while the checks go on; only then does the catalogue take the
    batch, in one transaction. So the catalogue never names a record that storage lacks:
    a crash forgets at most the checks of the batches under way, whose records, where
    already stored, serve ``dangan reindex``. A record that could not be stored is still
    entered, its event saying so.
    """

    def __init__(self, catalogue: Catalogue, io: ThreadPoolExecutor):
        self.catalogue, self.io = catalogue, io
        self.agent = default_agent()  # the same for every event of the run; looked up once
        self.batch: list[tuple[Location, _Due, Event, bool]] = []
        self.storing: deque[tuple[Future[None], list[tuple[Location, _Due, Event, bool]]]] = deque()
        self.opened = time.monotonic()

    def add(self, loc: Location, d: _Due, check: CopyCheck) -> None:
        outcome = "success" if check.ok else "failure"
        summary = _summary(check.problems)
        event = Event(FIXITY_CHECK, _detail(check), outcome, summary, agent=self.agent, location=loc.name)
        self.batch.append((loc, d, event, "sm3" in check.algorithms))
        if len(self.batch) >= BATCH or time.monotonic() - self.opened >= BATCH_SECONDS:
            self._send()
        self._enter(wait=False)

    def flush(self) -> None:
        """Every check so far stored and entered (before a repair, and at the end)."""
        self._send()
        self._enter(wait=True)

    def _send(self) -> None:
        batch, self.batch = self.batch, []
        self.opened = time.monotonic()
        if batch:
            records = [(loc, d.key, d.archival_code, event) for loc, d, event, _sm3 in batch]
            self.storing.append((self.io.submit(store_records, records), batch))

    def _enter(self, *, wait: bool) -> None:
        """Enter the batches whose records are stored, oldest first."""
        while self.storing and (wait or self.storing[0][0].done()):
            stored, batch = self.storing.popleft()
            stored.result()
            with self.catalogue.write():
                for _loc, d, event, sm3 in batch:
                    self.catalogue.add_event(d.archival_code, event)
                    if event.outcome == "success":
                        _set_verified(self.catalogue, d.archival_code, event.location, event.time, sm3)
                    else:
                        _set_failed(self.catalogue, d.archival_code, event.location)


def _mark_verified(catalogue: Catalogue, code: str, location: str, when: str, sm3: bool) -> None:
    with catalogue.write():
        _set_verified(catalogue, code, location, when, sm3)


def _set_verified(catalogue: Catalogue, code: str, location: str, when: str, sm3: bool) -> None:
    """Note a copy proven now (call inside a write transaction)."""
    old = catalogue.copies(code).get(location)
    copy = Copy(location, old.stored_at if old else when, when, when if sm3 else (old.sm3_verified_at if old else ""))
    catalogue.set_copy(code, copy)


def _set_failed(catalogue: Catalogue, code: str, location: str) -> None:
    """Note a copy found damaged (inside a write transaction): no longer proven, so due on every run
    until a check or a repair proves it again (as :func:`archive.evidence.copy_from_events` replays it)."""
    old = catalogue.copies(code).get(location)
    if old is not None:  # a copy never stored (missing where the policy wants one) stays unknown
        catalogue.set_copy(code, Copy(location, old.stored_at, "", ""))


# --- repair ----------------------------------------------------------------------------


def _repair(
    catalogue: Catalogue,
    locations: list[Location],
    d: _Due,
    damaged: CopyCheck,
    verified: dict[tuple[str, str], CopyCheck],
    down: set[str],
    pool: ThreadPoolExecutor,
    report: AuditReport,
) -> None:
    """Put each damaged file right from a copy whose file verifies now, then prove the whole copy.

    Sources are chosen file by file, so two copies damaged in different places
    mend each other; a file no copy holds intact is left as it is.
    """
    target = next(loc for loc in locations if loc.name == d.location)
    others = [loc for loc in locations if loc.name != d.location and loc.name not in down]
    record = {e.path: e for e in expected_files(catalogue, d.archival_code)}
    finder = _SourceFinder(d, others, record, verified)
    when = now_iso()
    try:
        unsourced = _apply(finder, target, d, damaged, record)
    except StorageError as exc:
        event = Event(REPAIR, "修复失败 (repair failed)", "failure", exc.message, time=when)
        record_event(catalogue, target, d.key, d.archival_code, event)
        _say_why(damaged.problems, f"修复失败 (repair failed): {exc.message}")
        report.repair_failed.append(f"{d.archival_code} @ {d.location}: {exc.message}")  # e.g. a full disk
        log.error("repair of %s @ %s failed: %s", d.archival_code, d.location, exc.message)
        return
    if unsourced:
        report.no_good_copy.append(f"{d.archival_code} @ {d.location}: {', '.join(unsourced)}")
        _say_why([p for p in damaged.problems if p.path in unsourced or p.path is None], NO_GOOD_COPY)
    if len(unsourced) == len([p for p in damaged.problems if p.kind is not ProblemKind.extra]) and unsourced:
        return  # nothing could be done: no event, nothing changed
    after = check_copy(target, d.key, d.archival_code, list(record.values()), ALGORITHMS, pool)
    still = {(p.path, p.kind) for p in after.problems}
    for p in damaged.problems:
        p.repaired = (p.path, p.kind) not in still and not (p.kind is ProblemKind.missing_copy and still)
    tried = [p for p in damaged.problems if p.path not in unsourced and not (p.path is None and unsourced)]
    _say_why(tried, f"修复后复核仍不符 (still wrong when read back): {_summary(after.problems)}")
    outcome = "success" if after.ok else "failure"
    sources = ", ".join(sorted(finder.used)) or "-"
    log.log(logging.INFO if after.ok else logging.ERROR, "repair of %s @ %s from %s: %s", d.archival_code,
            d.location, sources, outcome)  # fmt: skip
    detail = f"从 {sources} 修复并以 SHA-256 + {SM3_MARK} 复核 (repaired from verified files and re-verified)"
    summary = _summary([p for p in damaged.problems if p.repaired])
    record_event(catalogue, target, d.key, d.archival_code, Event(REPAIR, detail, outcome, summary, time=when))
    if after.ok:
        _mark_verified(catalogue, d.archival_code, target.name, when, True)


def _say_why(problems: list[Problem], reason: str) -> None:
    """Add to each problem left unrepaired why it was (the report must never leave that out)."""
    for p in problems:
        if not p.repaired:
            p.detail = f"{p.detail}; {reason}" if p.detail else reason


class _SourceFinder:
    """Finds, per file, another location whose copy of that file matches the record now."""

    def __init__(
        self, d: _Due, others: list[Location], record: dict[str, Expected], verified: dict[tuple[str, str], CopyCheck]
    ):
        self.d, self.others, self.record, self.verified = d, others, record, verified
        self.used: set[str] = set()

    def __call__(self, path: str) -> Location | None:
        want = self.record[path]
        for loc in self.others:
            if (self.d.archival_code, loc.name) in self.verified or self._file_ok(loc, want):
                self.used.add(loc.name)
                return loc
        return None

    def _file_ok(self, loc: Location, want: Expected) -> bool:
        try:
            with loc.open(self.d.key, want.path) as f:
                size, digests = hash_stream(f, ALGORITHMS)
        except StorageError:
            return False
        return size == want.size and digests == {"sha256": want.sha256, "sm3": want.sm3}


def _apply(
    finder: _SourceFinder, target: Location, d: _Due, damaged: CopyCheck, record: dict[str, Expected]
) -> list[str]:
    """Write good files over the damaged ones; return the paths no copy holds intact."""
    if any(p.kind is ProblemKind.missing_copy for p in damaged.problems):
        sources = {path: finder(path) for path in record}
        unsourced = sorted(path for path, src in sources.items() if src is None)
        if unsourced:
            return unsourced  # a whole copy or none: never commit a partial AIP
        with target.staging() as work:
            for path, src in sources.items():
                with src.open(d.key, path) as good:
                    stage_stream(target.name, work, path.split("/"), good, f"{src.name}:{d.key}/{path}")
            target.commit(d.key, work, retain_until(d.retention, d.year))
        return []
    unsourced = []
    # extra entries first: a link standing where a folder of the AIP belongs must go before files are put there
    for p in sorted(damaged.problems, key=lambda p: p.kind is not ProblemKind.extra):
        if p.path is None:
            continue
        if p.kind is ProblemKind.extra:
            target.remove_file(d.key, p.path)
            continue
        src = finder(p.path)
        if src is None:
            unsourced.append(p.path)
            continue
        with src.open(d.key, p.path) as good:
            target.replace_file(d.key, p.path, good)
    return unsourced
