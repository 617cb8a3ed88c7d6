"""归档 (ingest): each item of a batch becomes a checked BagIt AIP, or is rejected with reasons.

Per item, cheap to costly: metadata against its profile → copy every file into a
private staging bag while taking SHA-256 and SM3 on the way → identify and fully
decode each staged copy, extract its text, re-read it and compare SHA-256 (all in the
worker processes) → item checks (页数, scan resolution, duplicates) → allocate the 件号
and commit. The commit runs inside the catalogue's write transaction and ends with one
rename, so a kill at any moment leaves whole AIPs only and no gap in the 件号.

One item's failure never stops the batch: it is recorded and the next item goes on.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from archive.aip import ITEM_XML, ORIGINAL_DIR, PREMIS_XML, REPORT_XML, read_aip, write_aip
from archive.archival_code import ArchivalCodeRule, load_rule
from archive.bagparse import unsafe_reason
from archive.catalogue import Catalogue, Copy, IndexedAIP
from archive.config import Settings
from archive.errors import AIPExistsError, ConfigError, DanganError, ExitCode, RetentionError, StorageError
from archive.fixity import SourceReadError, copy_and_hash, hash_file, require_algorithms
from archive.itemxml import item_to_xml, validate_item_xml
from archive.model import CheckReport, FileEntry, Finding, Item, ItemMetadata, Verdict
from archive.premis import (
    DIGEST_CALCULATION,
    EXTRACTION,
    FORMAT_IDENTIFICATION,
    INGESTION,
    VALIDATION,
    Event,
    events_to_xml,
    now_iso,
)
from archive.storage import Location, aip_key, open_locations
from ingest._writefail import ItemUnwritable, storage_finding, unstorable, write_failure
from ingest.checks import (
    complete_report,
    fail,
    page_count_findings,
    page_limit_findings,
    report_to_xml,
    scan_resolution_findings,
)
from ingest.formats import INSPECT_SETTINGS, inspect_file, preload
from ingest.metadata import ClassDefaults, build_metadata, require_class_options
from ingest.ocr import OcrEngine, get_engine
from ingest.sources import SourceItem, read_batch
from ingest.text import ExtractedText, extract_text
from metadata_profiles import Profiles, load_profiles, validate_metadata
from preservation.replicas import complete_copies, replicate, retain_until
from retention.rules import Schedule, home_schedule
from search import SearchDoc, SearchIndex
from search.indexing import TEXT_DIR, open_search, search_doc, text_path
from search.indexing import sync as sync_index

log = logging.getLogger(__name__)


@dataclass
class ItemResult:
    """The outcome for one item of a batch: archived, rejected, duplicate, incomplete (a copy missing),
    failed (storage failed under it) or not_attempted (the batch stopped at a storage failure before it)."""

    source: str
    status: str
    archival_code: str | None = None
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def brief(f: Finding) -> dict[str, Any]:
            return {"code": f.code, "message": f.message, **({"path": f.path} if f.path else {})}

        return {
            "source": self.source,
            "status": self.status,
            "archival_code": self.archival_code,
            "errors": [brief(f) for f in self.errors],
            "warnings": [brief(f) for f in self.warnings],
        }


@dataclass
class IngestResult:
    """The outcome of a batch."""

    items: list[ItemResult] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)  # batch-level, e.g. system junk files skipped
    errors: list[Finding] = field(default_factory=list)  # batch-level storage failures (the index, recovery)
    stopped: bool = False  # storage failed: the rest of the batch was not attempted

    def count(self, status: str) -> int:
        return sum(1 for r in self.items if r.status == status)

    @property
    def exit_code(self) -> int:
        if self.count("incomplete") or self.count("failed") or self.errors:
            return ExitCode.storage
        return ExitCode.rejected if self.count("rejected") else ExitCode.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [r.to_dict() for r in self.items],
            "archived": self.count("archived"),
            "rejected": self.count("rejected"),
            "duplicate": self.count("duplicate"),
            "incomplete": self.count("incomplete"),
            "failed": self.count("failed"),
            "not_attempted": self.count("not_attempted"),
            "warnings": [{"code": f.code, "message": f.message, "path": f.path} for f in self.warnings],
            "errors": [{"code": f.code, "message": f.message, "path": f.path} for f in self.errors],
        }


PREFETCH = 3  # items being received while one commits
INDEX_BATCH = 100  # archived items indexed in one transaction
PAGE_BREAK = "\f"  # between the pages of one file's text derivative
PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies


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
            aip = write_aip(bag_dir, key, item, self._tag_files(item, report, when, texts), when[:10])
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

    def _tag_files(
        self, item: Item, report: CheckReport, when: str, texts: dict[str, ExtractedText]
    ) -> dict[str, bytes]:
        code = item.metadata.archival_code or ""
        final = CheckReport(report.stage, list(report.findings))
        if not self.rule.is_valid(code):
            raise AssertionError(f"rendered 档号 does not parse under its own rule: {code}")
        complete_report(final)
        item_xml = item_to_xml(item)
        schema_problems = validate_item_xml(item_xml, name=ITEM_XML)
        if schema_problems:
            raise AssertionError(f"item.xml fails its own XSD: {schema_problems[0].message}")
        derived = {name: PAGE_BREAK.join(p.text for p in t.pages).encode("utf-8") for name, t in texts.items()}
        derived = {name: data for name, data in derived.items() if data.strip()}
        events = _ingest_events(item, final, when) + _text_events(texts, when) + _shortened_event(derived, when)
        return {
            ITEM_XML: item_xml,
            REPORT_XML: report_to_xml(final, code, when),
            PREMIS_XML: events_to_xml(events, code),
            **{text_path(name): data for name, data in derived.items()},
        }


def _ingest_events(item: Item, report: CheckReport, when: str) -> list[Event]:
    n = len(item.files)
    puids = sorted({f.puid or "?" for f in item.files})
    return [
        Event(DIGEST_CALCULATION, f"SHA-256 与 SM3 摘要, {n} 个文件, 接收时计算并写入后复核", "success", time=when),
        Event(FORMAT_IDENTIFICATION, "PRONOM 格式识别 (opf-fido)", "success", ", ".join(puids), time=when),
        Event(
            VALIDATION, "归档四性检测 (DA/T 70)", "success", f"{len(report.findings)} 项检测, 全部通过或警告", time=when
        ),
        Event(INGESTION, f"归档为 {item.metadata.archival_code}", "success", time=when),
    ]


def _text_events(texts: dict[str, ExtractedText], when: str) -> list[Event]:
    """An event per OCR engine used (its name, version and settings, and the pages each reader read),
    and one for text read from the files."""
    by_engine: dict[str, tuple[int, Counter[str], int]] = {}
    read = 0
    for t in texts.values():
        if t.engine:
            key = json.dumps(vars(t.engine), sort_keys=True, ensure_ascii=False)
            files, readers, blank = by_engine.get(key, (0, Counter(), 0))
            readers.update(p.reader for p in t.pages if p.reader)
            by_engine[key] = (files + 1, readers, blank + t.blank_pages)
        elif t.pages:
            read += 1
    events = [
        Event(
            EXTRACTION,
            f"OCR 全文识别 (OCR) {engine}",
            "success",
            f"{files} 个文件"
            + "".join(f"; {reader} 识别 {n} 页" for reader, n in sorted(readers.items()))
            + (f"; 空白或过小页 {blank} 页未送识别 (blank or tiny pages skipped)" if blank else ""),
            time=when,
        )
        for engine, (files, readers, blank) in sorted(by_engine.items())
    ]
    if read:
        events.append(
            Event(
                EXTRACTION, "全文提取: 文本层与文档结构 (text read from files)", "success", f"{read} 个文件", time=when
            )
        )
    return events


def _shortened_event(names: Iterable[str], when: str) -> list[Event]:
    """Where a text derivative's name had to be shortened (255 bytes), which original file it belongs to."""
    pairs = [f"{text_path(n)} ← {ORIGINAL_DIR}/{n}" for n in names if text_path(n) != f"{TEXT_DIR}/{n}.txt"]
    if not pairs:
        return []
    detail = "全文派生文件名过长, 已缩短 (text derivative names shortened to fit 255 bytes)"
    return [Event(EXTRACTION, detail, "success", "; ".join(pairs), time=when)]


def _judge_carrier(meta: ItemMetadata, scan_names: set[str]) -> list[Finding]:
    """载体 stated nowhere: an item holding scan formats (images, image-only PDFs) is taken as 纸质, so
    the DA/T 31 scan rules apply unless the archivist says 电子; any other item is 电子."""
    if not scan_names:
        meta.carrier = "电子"
        return []
    meta.carrier = "纸质"
    message = (
        "未给出载体, 含扫描格式文件, 按纸质扫描件检测 (DA/T 31); 如为电子原件, "
        "请在目录载体列或命令行 --carrier 中写明电子 "
        "(carrier not given: scan formats found, checked as scans; state 电子 for born-digital files)"
    )
    return [Finding("GD-2-4", Verdict.warning, message)]


def _unbaggable_names(src: SourceItem, rooms: list[int]) -> list[Finding]:
    """GD-4-7: names a bag's manifest could not list safely (a backslash), judged by the rule
    ``dangan validate`` applies, so that no AIP is written that its own validator refuses; and names
    a storage location could not hold (a component over 255 bytes, an S3 key over its ``rooms``)."""
    out = []
    for name, _path in src.files:
        reason = unsafe_reason(f"{ORIGINAL_DIR}/{name}")
        if reason:
            zh, en = reason
            out.append(fail("GD-4-7", f"文件名不能写入 BagIt 清单: {zh} (a bag cannot list this name: {en})", name))
        elif message := unstorable(name, rooms):
            out.append(fail("GD-4-7", message, name))
    return out


def _duplicate(src: SourceItem, archival_code: str) -> ItemResult:
    warning = Finding("GD-1-8", Verdict.warning, f"内容已归档为 {archival_code}, 未重复归档 (already archived)")
    return ItemResult(src.source, "duplicate", archival_code, warnings=[warning])


def _warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.verdict is Verdict.warning]


def _rejected(src: SourceItem, findings: list[Finding]) -> ItemResult:
    return ItemResult(src.source, "rejected", errors=[f for f in findings if f.failed], warnings=_warnings(findings))


# --- work done in the worker processes (module level, so it can be pickled) ----------


def _die_with_parent() -> None:
    """Linux: a worker is killed with its parent, so a SIGKILLed ingest leaves no orphans behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: orphans wait on their queue until the machine's next cleanup


@dataclass
class _Received:
    """What a worker found of one file: its entry, whether it is a scan format, findings and text."""

    entry: FileEntry | None
    is_scan: bool
    findings: list[Finding]
    text: ExtractedText | None = None
    storage: str | None = None  # the staging copy could not be written or read back (a full disk)


@dataclass(frozen=True)
class _Ocr:
    """How a worker reads an item's pages: the engine, Tesseract's languages, and whether image files are scans."""

    engine: str
    tesseract_languages: str
    scans: bool
    time_limit: float  # seconds of OCR per file ([ingest] ocr_time_limit)

    def get_engine(self) -> OcrEngine | None:
        if self.engine == "off":
            return None
        options = {"languages": self.tesseract_languages} if self.engine == "tesseract" else {}
        return get_engine(self.engine, **options)


def _receive_file(name: str, src: Path, dest: Path, limits: dict[str, Any], ocr: _Ocr, location: str) -> _Received:
    target = dest / name
    if dest.resolve() not in target.resolve().parents:
        return _Received(None, False, [fail("GD-4-7", "文件名越出包目录 (file name escapes the bag)", name)])
    try:
        size, digests = copy_and_hash(src, target)
        return _examine(name, target, dest, size, digests, limits, ocr)
    except SourceReadError as exc:
        return _Received(None, False, [fail("GD-2-7", f"无法读取文件 (cannot read): {exc.strerror}", name)])
    except OSError as exc:  # writing or re-reading the staged copy: never the source file's fault
        failure = write_failure(exc, location, target, name)
        if isinstance(failure, ItemUnwritable):
            return _Received(None, False, [failure.finding])
        return _Received(None, False, [], storage=str(failure))


def _examine(
    name: str, target: Path, dest: Path, size: int, digests: dict[str, str], limits: dict[str, Any], ocr: _Ocr
) -> _Received:
    """Identify, decode and read the text of one staged copy, then re-read it against its digests."""
    found = inspect_file(target, name, **limits)
    entry = FileEntry(
        name=name, size=size, sha256=digests["sha256"], sm3=digests["sm3"], puid=found.puid,
        format_name=found.format_name, mime=found.mime, pages=found.pages, dpi=found.dpi,
        color_mode=found.color_mode,
    )  # fmt: skip
    findings = [f if f.path else replace(f, path=name) for f in found.findings]
    text = None
    if not any(f.failed for f in findings):
        text = extract_text(
            target,
            found,
            engine=ocr.get_engine(),
            display_name=name,
            ocr_images=ocr.scans,
            ocr_time_limit=ocr.time_limit,
        )
        # only what went wrong: "not applicable" notes (audio, OCR off) would clutter the 四性 report
        findings += [f if f.path else replace(f, path=name) for f in text.findings if f.verdict is Verdict.warning]
    # GD-1-1: the written copy, read back, against the digests taken on receipt
    reverified = _reverify_file(dest, entry)
    return _Received(entry, found.is_scan_format, findings + ([reverified] if reverified else []), text)


def _reverify_file(dest: Path, entry: FileEntry) -> Finding | None:
    size, digests = hash_file(dest / entry.name, ("sha256",))
    if size == entry.size and digests["sha256"] == entry.sha256:
        return None
    message = "写入后复核摘要不符 (digest differs after the write)"
    return fail("GD-1-1", message, entry.name, entry.sha256, digests["sha256"])
