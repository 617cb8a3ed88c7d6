"""修复 (repair) of a damaged copy from copies that verify now, file by file, read back before it counts.

With no good copy of a file it changes nothing and says so; a missing copy is rebuilt whole or not at all.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from archive.catalogue import Catalogue
from archive.copycheck import CopyCheck, Expected, Problem, ProblemKind, check_copy
from archive.errors import StorageError
from archive.evidence import SM3_MARK, record_event
from archive.fixity import ALGORITHMS, hash_stream
from archive.premis import REPAIR, Event, now_iso
from archive.storage.base import Location, stage_stream
from preservation._audit_report import AuditReport
from preservation._due import _Due
from preservation._record import _mark_verified, _summary
from preservation.replicas import expected_files, retain_until

log = logging.getLogger("preservation.audit")  # the audit's own log: operators follow one name

NO_GOOD_COPY = "无完好副本可用于修复, 未做任何修改 (no good copy to repair from; nothing changed)"


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
