"""Storing the AIPs of a package that passed every check: resumable, one whole AIP at a time.

See the module docstring of :mod:`disposition.transfer` for why a receive that stops half-way
is completed by running it again rather than rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from archive.aip import read_aip
from archive.bagcheck import DirectorySource
from archive.catalogue import Catalogue, Copy
from archive.config import Settings
from archive.errors import AIPExistsError, StorageError
from archive.evidence import record_event
from archive.fixity import hash_file, hash_stream
from archive.model import Finding, ItemMetadata
from archive.premis import INGESTION, Event, now_iso
from archive.storage import Location
from archive.storage.base import os_failure, stage_stream
from preservation.replicas import replicate, retain_until

from ._durable import sync_folder
from ._package import CheckedPackage, PackageAip, fail


@dataclass
class StoreOutcome:
    """What one store run did: AIPs written now, AIPs already there, and why it stopped early."""

    stored: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)


def store_package(
    settings: Settings, catalogue: Catalogue, locations: list[Location], package: CheckedPackage
) -> StoreOutcome:
    """Store, index and replicate every AIP of a checked package; stop at the first storage failure.

    Every required location is probed first, so a location that is down stores nothing at
    all. A failure after that leaves whole, verified AIPs only; running the receive again
    stores the rest (AIPs already held are recognised by their digests and kept).
    """
    outcome = StoreOutcome()
    try:
        _probe(settings, locations, package.aips)
    except StorageError as exc:
        outcome.failures.append(_storage_failure(exc, "未保存任何内容 (nothing stored)"))
        return outcome
    source = DirectorySource(package.root)
    for aip in package.aips:
        try:
            _store_aip(settings, catalogue, locations, source, package, aip)
        except StorageError as exc:
            outcome.failures.append(_storage_failure(exc, "再次运行接收即可补齐 (run receive again to complete)"))
            break
        (outcome.held if aip.held else outcome.stored).append(aip.row.archival_code)
    return outcome


def _storage_failure(exc: StorageError, note: str) -> Finding:
    return fail("BC-4-8", f"存储失败 (storage failed), {note}: {exc.message}", exc.path)


def _required(settings: Settings, locations: list[Location], meta: ItemMetadata) -> list[Location]:
    return locations[: settings.required_copies(meta.retention)]


def _probe(settings: Settings, locations: list[Location], aips: Iterable[PackageAip]) -> None:
    """Touch every location a copy will go to before anything is written; raises StorageError when one is down."""
    needed: dict[str, tuple[Location, str]] = {}
    for aip in aips:
        assert aip.meta is not None
        for loc in _required(settings, locations, aip.meta):
            needed.setdefault(loc.name, (loc, aip.key))
    for loc, key in needed.values():
        loc.recover()  # what a killed receive or ingest left half-written is cleared first, as ingest does
        loc.exists(key)


def _store_aip(
    settings: Settings,
    catalogue: Catalogue,
    locations: list[Location],
    source: DirectorySource,
    package: CheckedPackage,
    aip: PackageAip,
) -> None:
    meta = aip.meta
    assert meta is not None and meta.archival_code
    primary, code, until = locations[0], meta.archival_code, retain_until(meta.retention, meta.year)
    if not aip.held:
        _commit_primary(primary, source, package, aip, until)
    if catalogue.get(code) is None:
        # Indexed as ingest indexes a fresh AIP (cf. ingest.pipeline.Ingestor._read_primary).
        indexed = read_aip(primary, aip.key)
        when = now_iso()
        indexed.copies = {primary.name: Copy.fresh(primary.name, when)}
        catalogue.index(indexed)
        detail = f"接收移交 (received by transfer) {package.transfer_id} 自 {package.sender}"
        record_event(catalogue, primary, aip.key, code, Event(INGESTION, detail, "success", time=when))
    for target in _required(settings, locations, meta)[1:]:
        if target.name in catalogue.copies(code):
            continue
        check = replicate(catalogue, code, aip.key, primary, target, until)
        if not check.ok:
            problem = check.problems[0]
            raise StorageError(
                f"副本未能写入 {target.name} (copy not stored): {problem.kind} {problem.detail}", path=code
            )


def _commit_primary(
    primary: Location, source: DirectorySource, package: CheckedPackage, aip: PackageAip, until: date
) -> None:
    """Copy the AIP from the package into staging, read each file back against the package manifest, make
    it durable, commit."""
    with primary.staging() as work:
        for rel in sorted(aip.files):
            with source.open(aip.base + rel) as src:  # a write failure: storage, completed by the next receive
                target = stage_stream(primary.name, work, rel.split("/"), src, f"{aip.base}{rel}")
            try:
                written = hash_file(target, ("sha256",))[1]["sha256"]
            except OSError as exc:
                raise os_failure(primary.name, "read", target, exc) from exc
            if written != package.sha256.get(aip.base + rel):
                raise StorageError(f"写入后复核摘要不符 (digest differs after the write): {rel}", path=aip.key)
        sync_folder(work)
        try:
            primary.commit(aip.key, work, until)
        except AIPExistsError:
            # Committed meanwhile by a concurrent receive of the same package: fine if it is this very AIP.
            with primary.open(aip.key, "tagmanifest-sha256.txt") as f:
                if hash_stream(f, ("sha256",))[1]["sha256"] != aip.digests.get("SHA-256"):
                    raise
