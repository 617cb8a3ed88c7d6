"""归档 (ingest): each item of a batch becomes a checked BagIt AIP, or is rejected with reasons.

Per item, cheap to costly: metadata against its profile → copy every file into a
private staging bag while taking SHA-256 and SM3 on the way → identify and fully
decode each staged copy, extract its text, re-read it and compare SHA-256 (all in the
worker processes) → item checks (页数, scan resolution, duplicates) → allocate the 件号
and commit. The commit runs inside the catalogue's write transaction and ends with one
rename, so a kill at any moment leaves whole AIPs only and no gap in the 件号.

One item's failure never stops the batch: it is recorded and the next item goes on.
The workers' per-file work is in :mod:`ingest._receive`, the AIP's tag files in
:mod:`ingest._tagfiles`, and the results reported in :mod:`ingest._results`.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from archive.aip import ORIGINAL_DIR, read_aip, write_aip
from archive.archival_code import ArchivalCodeRule, load_rule
from archive.catalogue import Catalogue, Copy, IndexedAIP
from archive.config import Settings
from archive.errors import AIPExistsError, ConfigError, DanganError, RetentionError, StorageError
from archive.fixity import hash_file, require_algorithms
from archive.model import CheckReport, FileEntry, Finding, Item, ItemMetadata, Verdict
from archive.premis import now_iso
from archive.storage import Location, aip_key, open_locations
from ingest._item_checks import _judge_carrier, _unbaggable_names
from ingest._receive import PR_SET_PDEATHSIG, _die_with_parent, _Ocr, _receive_file
from ingest._results import IngestResult, ItemResult, _duplicate, _rejected, _warnings
from ingest._tagfiles import PAGE_BREAK, tag_files
from ingest._writefail import ItemUnwritable, storage_finding, write_failure
from ingest.checks import fail, page_count_findings, page_limit_findings, scan_resolution_findings
from ingest.formats import INSPECT_SETTINGS, preload
from ingest.metadata import ClassDefaults, build_metadata, require_class_options
from ingest.sources import SourceItem, read_batch
from ingest.text import ExtractedText
from metadata_profiles import Profiles, load_profiles, validate_metadata
from preservation.replicas import complete_copies, replicate, retain_until
from retention.rules import Schedule, home_schedule
from search import SearchDoc, SearchIndex
from search.indexing import open_search, search_doc
from search.indexing import sync as sync_index

__all__ = [
    "INDEX_BATCH",
    "PAGE_BREAK",
    "PREFETCH",
    "PR_SET_PDEATHSIG",
    "IngestResult",
    "Ingestor",
    "ItemResult",
]

log = logging.getLogger(__name__)

PREFETCH = 3  # items being received while one commits
INDEX_BATCH = 100  # archived items indexed in one transaction


@dataclass
class _Pending:
    """An item whose files are being received by the workers into its staging bag."""

    src: SourceItem
    meta: ItemMetadata
    findings: list[Finding]
    stack: ExitStack
    bag_dir: Path
    jobs: list[Future[tuple[FileEntry | None, bool, list[Finding]]]]


class _Duplicate(Exception):
    def __init__(self, archival_code: str):
        self.archival_code = archival_code


class _Stopped(Exception):
    """Storage failed after the item was committed: its result as far as it got, and the batch stops."""

    def __init__(self, result: ItemResult):
        self.result = result


class Ingestor:
    """Ingests batches into one archive home's primary storage location."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        locations: list[Location],
        profiles: Profiles,
        rule: ArchivalCodeRule,
        index: SearchIndex | None = None,
    ):
        require_algorithms()
        self.index = index
        self.settings = settings
        self.catalogue = catalogue
        self.locations = locations
        self.location = locations[0]  # primary: where bags are built and first committed
        self.profiles = profiles
        self.rule = rule
        self.workers = int(settings.ingest["workers"])
        self._schedule: Schedule | None = None  # the home's 保管期限表, loaded on first use
        self._pool: ProcessPoolExecutor | None = None
        self._unindexed: list[SearchDoc] = []  # archived, for the index's next batch
        self._index_failures: list[Finding] = []  # the index could not be written (the next run mends it)

    def __enter__(self) -> Ingestor:
        """Start the worker processes (before any other thread, e.g. a progress bar, is running)."""
        if self._pool is None:
            preload()
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"), initializer=_die_with_parent
            )
            # Fork every worker now, while no staging lock is open: a worker forked later would
            # inherit that lock and keep it held after a crash of this process.
            self._pool.submit(int).result()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @classmethod
    def open(cls, settings: Settings, catalogue: Catalogue) -> Ingestor:
        """An ingestor for the home's settings, its primary location first.

        An index that cannot be opened (a full disk) does not stop ingest: it is a cache, reported
        with the batch and filled in by a later run.
        """
        try:
            index, failure = open_search(settings), None
        except StorageError as exc:
            index, failure = None, exc
        ingestor = cls(
            settings,
            catalogue,
            open_locations(settings),
            load_profiles(settings.profiles_dir),
            load_rule(settings.archival_code_rule, extra_dir=settings.profiles_dir),
            index,
        )
        if failure is not None:
            ingestor._index_failures.append(storage_finding(failure))
        return ingestor

    def recover(self) -> list[str]:
        """Finish what a killed run left: drop abandoned staging, index AIPs the catalogue missed,
        and write the copies the policy requires that were not written."""
        done = list(self.location.recover())
        for loc in self.locations[1:]:
            try:
                done += loc.recover()
            except StorageError:
                pass  # a replica location that is down: its copies are completed on a later run
        known = self.catalogue.keys()
        for key in self.location.list_keys():
            if key not in known:
                aip = self._read_primary(key)
                if aip is not None:
                    self.catalogue.index(aip)
                    done.append(key)
        for check in complete_copies(self.catalogue, self.locations, self.settings.required_copies):
            done.append(f"{check.location}:{check.archival_code}")
        if self.index is not None:
            added, removed = sync_index(self.catalogue, self.index, self.locations)
            done += [f"index+{added}"] * bool(added) + [f"index-{removed}"] * bool(removed)
        return done

    def _read_primary(self, key: str) -> IndexedAIP | None:
        """An AIP a killed run committed to the primary location but did not catalogue; None when its
        copy does not agree with itself (reindex reports it; its 档号 stays taken, never reused)."""
        try:
            aip = read_aip(self.location, key)
        except DanganError:
            return None
        aip.copies = {self.location.name: Copy.fresh(self.location.name, aip.ingested_at)}
        return aip

    def run(
        self,
        root: Path,
        catalog: Path | None = None,
        defaults: ClassDefaults | None = None,
        on_item: Callable[[ItemResult, int, int], None] | None = None,
    ) -> IngestResult:
        """Ingest a folder (with its item list, if any); every item gets a result."""
        if self._pool is None:
            with self:
                return self.run(root, catalog, defaults, on_item)
        defaults = defaults or ClassDefaults()
        if catalog is None:
            require_class_options(defaults, self.profiles)  # once for the batch, not per item
        result = IngestResult()
        try:
            self.recover()
        except StorageError as exc:  # e.g. a full disk under the catalogue: nothing is attempted
            result.errors.append(storage_finding(exc))
            result.stopped = True
        sources, batch_findings = read_batch(root, catalog)
        for f in batch_findings:
            if f.failed:
                result.items.append(ItemResult(source=f.path or str(root), status="rejected", errors=[f]))
            else:
                result.warnings.append(f)
        # Items are received a few ahead of the one being committed, so the workers copy, hash
        # and decode while this process checks, writes tag files and commits, in batch order.
        window: deque[ItemResult | _Pending] = deque()
        started = 0
        try:
            for src in sources:
                if result.stopped:
                    break
                window.append(self._start(src, defaults))
                started += 1
                if len(window) > PREFETCH:
                    self._done(result, window.popleft(), len(sources), on_item)
            while window and not result.stopped:
                self._done(result, window.popleft(), len(sources), on_item)
        finally:
            for left in window:  # after a storage failure (or an unexpected error): drop their staging bags
                if isinstance(left, _Pending):
                    for job in left.jobs:
                        job.cancel()
                    wait(left.jobs)  # a worker still copying would make the folder again after its removal
                    left.stack.close()
            self._flush_index()
            result.errors += self._index_failures
            self._index_failures = []
        # what a storage failure left unattempted is listed, so the report accounts for the whole batch
        result.items += [s if isinstance(s, ItemResult) else ItemResult(s.src.source, "not_attempted") for s in window]
        result.items += [ItemResult(s.source, "not_attempted") for s in sources[started:]]
        return result

    def _done(
        self, result: IngestResult, started: ItemResult | _Pending, total: int, on_item: Callable[..., None] | None
    ) -> None:
        try:
            item_result = self._complete(started)
        except StorageError as exc:  # the staging area, the location or the catalogue: the batch stops
            source = started.source if isinstance(started, ItemResult) else started.src.source
            item_result = ItemResult(source, "failed", errors=[storage_finding(exc)])
        except _Stopped as stop:
            item_result = stop.result
            result.stopped = True
        result.stopped |= item_result.status == "failed"
        result.items.append(item_result)
        level = logging.INFO if item_result.status in ("archived", "duplicate") else logging.WARNING
        codes = ", ".join(f.code for f in item_result.errors)
        log.log(level, "%s %s %s %s", item_result.status, item_result.archival_code or "-", item_result.source, codes)
        if on_item:
            on_item(item_result, len(result.items), total)

    # --- one item ------------------------------------------------------------------

    def ingest(self, src: SourceItem, defaults: ClassDefaults) -> ItemResult:
        """Check and archive one item; never raises for a bad item."""
        if self._pool is None:
            with self:
                return self.ingest(src, defaults)
        result = self._complete(self._start(src, defaults))
        self._flush_index()
        return result

    def _start(self, src: SourceItem, defaults: ClassDefaults) -> ItemResult | _Pending:
        """Cheap checks, then open a staging bag and hand its files to the workers."""
        meta, findings = build_metadata(src.fields, defaults, self.settings)
        findings += src.findings
        # Without a 页数 in the list (bare-folder mode) the pages are counted from the files below.
        findings += self._metadata_findings(meta if meta.page_count is not None else replace(meta, page_count=1))
        if not src.files:
            findings.append(fail("GD-2-7", "该件没有任何文件 (the item has no files)"))
        findings += _unbaggable_names(src, [r for loc in self.locations if (r := loc.bag_path_room()) is not None])
        findings += page_limit_findings(meta.page_count, int(self.settings.ingest["max_pages"]))  # before any OCR
        if any(f.failed for f in findings):
            return _rejected(src, findings)
        stack = ExitStack()
        try:
            bag_dir = stack.enter_context(self.location.staging())
        except StorageError as exc:  # no room for even a staging folder: an item archived before is still 重复
            dup = self._already_archived(src, meta)
            if dup is not None:
                return _duplicate(src, dup)
            return ItemResult(src.source, "failed", errors=[storage_finding(exc)], warnings=_warnings(findings))
        options = self.settings.ingest
        limits = {name: options[name] for name in INSPECT_SETTINGS}
        dest = bag_dir / ORIGINAL_DIR
        ocr = _Ocr(options["ocr"], options["tesseract_languages"], meta.carrier != "电子", options["ocr_time_limit"])
        where = self.location.name
        jobs = [self._pool.submit(_receive_file, name, path, dest, limits, ocr, where) for name, path in src.files]
        return _Pending(src, meta, findings, stack, bag_dir, jobs)

    def _complete(self, started: ItemResult | _Pending) -> ItemResult:
        """The item's result: an early rejection as it is, a pending item once received and committed."""
        if isinstance(started, ItemResult):
            return started
        with started.stack:
            return self._ingest_staged(started)

    def _metadata_findings(self, meta: ItemMetadata) -> list[Finding]:
        try:
            profile = self.profiles.for_category(meta.category)
        except ConfigError as exc:
            return [fail("GD-1-4", exc.message, expected="门类代码表", found=meta.category)]
        findings = validate_metadata(meta, profile, self.profiles.codes)
        if not any(f.failed for f in findings):
            findings += self._schedule_findings(meta)
        return findings

    def _schedule_findings(self, meta: ItemMetadata) -> list[Finding]:
        """GD-1-4: the 保管期限 is one the home's schedule accepts for the 门类, and not below its legal
        minimum (a 会计凭证 coded D10): the 档号 carries the code for good, so it is judged at 归档."""
        if self._schedule is None:
            self._schedule = home_schedule(self.settings)
        try:
            self._schedule.check(meta)
        except RetentionError as exc:
            return [fail("GD-1-4", exc.message, expected=exc.rule or "保管期限表", found=meta.retention)]
        return []

    def _ingest_staged(self, pending: _Pending) -> ItemResult:
        src, meta, findings, bag_dir = pending.src, pending.meta, pending.findings, pending.bag_dir
        received = [job.result() for job in pending.jobs]
        failed = next((r.storage for r in received if r.storage), None)
        if failed is not None:  # the staging area could not be written: not the source's fault
            dup = self._already_archived(src, meta)
            if dup is not None:
                return _duplicate(src, dup)
            raise StorageError(failed)
        entries = [r.entry for r in received if r.entry is not None]
        # a file that failed to decode is rejected as such: its resolution is not judged on top
        decoded = [r for r in received if r.entry is not None and not any(f.failed for f in r.findings)]
        scan_names = {r.entry.name for r in decoded if r.is_scan}
        findings += [f for r in received for f in r.findings]
        item = Item(meta, entries)
        texts = {r.entry.name: r.text for r in received if r.entry is not None and r.text is not None}
        if meta.page_count is None:
            paginated = [e.pages for e in entries if e.pages is not None]
            meta.page_count = sum(paginated) if paginated else None
            if meta.page_count is None and self.profiles.for_category(meta.category).is_required("page_count"):
                message = (
                    "页数为必填著录项, 但无法从这些文件得出 (文本、办公文档不计页), "
                    "请在归档文件目录 (--catalog) 中填写页数 "
                    "(页数 is required and cannot be counted from these files: give it in an item list)"
                )
                findings.append(fail("GD-2-4", message))
            else:
                findings += [f for f in self._metadata_findings(meta) if f not in findings]
        if not meta.carrier:
            findings += _judge_carrier(meta, scan_names)
        findings += page_count_findings(meta, entries)
        findings += page_limit_findings(sum(e.pages or 0 for e in entries), int(self.settings.ingest["max_pages"]))
        findings += scan_resolution_findings(meta, entries, scan_names, int(self.settings.ingest["min_scan_dpi"]))
        findings += self._duplicate_file_warnings(entries)
        report = CheckReport("归档", findings)
        if not report.ok:
            return _rejected(src, findings)
        try:
            aip = self.catalogue.allocate_and_commit(meta, lambda n: self._commit(n, item, report, bag_dir, texts))
        except _Duplicate as dup:
            return _duplicate(src, dup.archival_code)
        except ItemUnwritable as refused:
            return _rejected(src, [*findings, refused.finding])
        code = aip.item.metadata.archival_code
        try:
            failures = self._replicate(aip)
        except StorageError as exc:  # the catalogue could not record a copy: the next run completes it
            raise _Stopped(ItemResult(src.source, "incomplete", code, errors=[storage_finding(exc)])) from exc
        if self.index is not None:
            body = "\n\n".join(PAGE_BREAK.join(p.text for p in t.pages) for t in texts.values())
            self._unindexed.append(search_doc(self.catalogue.get(code), body))
            if len(self._unindexed) >= INDEX_BATCH:
                self._flush_index()
        if failures:
            return ItemResult(src.source, "incomplete", code, errors=failures, warnings=_warnings(findings))
        return ItemResult(src.source, "archived", code, warnings=_warnings(findings))

    def _flush_index(self) -> None:
        """Index what was archived since the last flush; a crash before it is mended by the next run's sync,
        and so is an index that could not be written (a full disk): that is reported, the batch goes on."""
        try:
            if self.index is not None and self._unindexed:
                self.index.upsert(self._unindexed)
        except StorageError as exc:
            self._index_failures.append(storage_finding(exc))
        finally:
            self._unindexed = []

    def _already_archived(self, src: SourceItem, meta: ItemMetadata) -> str | None:
        """The 档号 holding exactly this item's content, read from its source files (when staging failed,
        no digest was taken): an item archived before is a duplicate whatever the staging area's state."""
        entries = []
        for name, path in src.files:
            try:
                size, digests = hash_file(path, ("sha256",))
            except OSError:
                return None
            entries.append(FileEntry(name=name, size=size, sha256=digests["sha256"], sm3=""))
        return self.catalogue.find_duplicate(Item(meta, entries).content_digest())

    def _replicate(self, aip: IndexedAIP) -> list[Finding]:
        """Write the further copies the copy policy requires; an AIP counts as stored only with all of them."""
        meta = aip.item.metadata
        targets = self.locations[1 : self.settings.required_copies(meta.retention)]
        until = retain_until(meta.retention, meta.year, meta.category)
        failures = []
        for target in targets:
            check = replicate(self.catalogue, meta.archival_code, aip.key, self.location, target, until)
            for p in check.problems:
                message = (
                    f"副本未能写入存储位置 {target.name}, 将在下次运行时补写 "
                    f"(copy not stored; retried on the next run): {p.kind} {p.detail}"
                )
                failures.append(fail("BC-4-8", message, p.path))
        return failures

    def _duplicate_file_warnings(self, entries: list[FileEntry]) -> list[Finding]:
        out = []
        for e in entries:
            holders = self.catalogue.items_with_file(e.sha256)
            if holders:
                out.append(
                    Finding(
                        "GD-1-8",
                        Verdict.warning,
                        f"相同文件已归档于 {', '.join(holders[:3])} (same file already archived)",
                        e.name,
                    )
                )
        return out

    # --- commit (inside the catalogue's write transaction) ---------------------------

    def _commit(
        self, number: int, item: Item, report: CheckReport, bag_dir: Path, texts: dict[str, ExtractedText]
    ) -> IndexedAIP | None:
        dup = self.catalogue.find_duplicate(item.content_digest())
        if dup:
            raise _Duplicate(dup)
        meta = item.metadata
        meta.item_number = number
        meta.archival_code = self.rule.render(meta, number)
        key = aip_key(meta.fonds_code, meta.archival_code)
        when = now_iso()
        try:
            aip = write_aip(bag_dir, key, item, tag_files(self.rule, item, report, when, texts), when[:10])
        except OSError as exc:  # the staging bag's tag files: a full disk is the location's failure
            raise write_failure(exc, self.location.name, bag_dir) from exc
        try:
            self.location.commit(key, bag_dir, retain_until(meta.retention, meta.year, meta.category))
        except AIPExistsError:
            existing = self._read_primary(key)
            if existing is not None:
                self.catalogue.index_in_transaction(existing)
            return None  # the next number is tried
        aip.copies = {self.location.name: Copy.fresh(self.location.name, when)}
        return aip
