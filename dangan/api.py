"""The ``Archive``: one archive home (档案库) and everything a person does with it.

The CLI, the web service and the tests construct an :class:`Archive` and call its
methods; each returns a plain data class (:mod:`dangan.results`) or raises a
:class:`~archive.errors.DanganError` with a message for people. Nothing here prints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from archive.catalogue import Catalogue, ListFilter
from archive.config import (
    DEFAULT_COPIES,
    Fonds,
    Settings,
    StorageConfig,
    init_home,
    load_settings,
    refuse_existing,
    resolve_home,
)
from archive.errors import NotFoundError, UsageError
from archive.i18n import _
from archive.storage import Location, open_locations, prepare_locations

from . import parsing
from .backends import check_names
from .results import CatalogFile, Export, Found, RecordList, RecordView, Reindex, Validation

if TYPE_CHECKING:
    from preservation.audit import AuditReport

    from ._disposal import Disposal
    from ._transfers import Transfers

log = logging.getLogger(__name__)

OnItem = Callable[[Any, int, int], None]


@dataclass(frozen=True)
class LocationState:
    """存储位置 as ``init`` reports it: what it is and whether Object Lock protects it."""

    name: str
    description: str
    object_lock: str
    lock_mode: str | None = None  # GOVERNANCE / COMPLIANCE where locks are enforced


class Archive:
    """一个档案库: settings, catalogue and storage locations of one home, opened lazily."""

    def __init__(self, home: Path, settings: Settings | None = None, catalogue: Catalogue | None = None):
        self.home = home
        self._settings = settings
        self._catalogue = catalogue

    @cached_property
    def disposal(self) -> Disposal:
        """鉴定、冻结与销毁 (imported on first use: it loads the spreadsheet and PDF libraries)."""
        from ._disposal import Disposal

        return Disposal(self)

    @cached_property
    def transfers(self) -> Transfers:
        """移交与接收 (imported on first use, as :attr:`disposal`)."""
        from ._transfers import Transfers

        return Transfers(self)

    # --- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> Archive:
        """The home at ``home``, ``$DANGAN_HOME`` or ``./dangan-data``; settings are read on first use."""
        return cls(resolve_home(home))

    @classmethod
    def init(
        cls,
        home: str | os.PathLike[str],
        *,
        fonds_code: str,
        fonds_name: str,
        rule: str = "dat22",
        storage: tuple[StorageConfig, ...] | None = None,
        ingest: Mapping[str, Any] = MappingProxyType({}),
        copies: Mapping[str, int] = MappingProxyType({}),
    ) -> Archive:
        """创建档案库: write ``dangan.toml``, create the catalogue and every storage location."""
        from metadata_profiles import load_profiles, validate_fonds

        path = Path(home)
        refuse_existing(path)  # said before the fonds is judged
        problems = [f for f in validate_fonds(fonds_code, fonds_name, load_profiles()) if f.failed]
        if problems:
            raise UsageError("; ".join(f.message for f in problems), rule="dangan.toml fonds")
        init_home(path, Fonds(fonds_code, fonds_name), rule, storage, ingest=ingest, copies=copies, check=check_names)
        arc = cls(path)
        prepare_locations(arc.settings)
        arc._catalogue = Catalogue(arc.settings.catalogue_path)
        log.info("archive home created at %s", path)
        return arc

    def close(self) -> None:
        if self._catalogue is not None:
            self._catalogue.close()
            self._catalogue = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home, check_names)
        return self._settings

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = Catalogue(self.settings.catalogue_path, create=False)
        return self._catalogue

    def locations(self) -> list[Location]:
        """Every storage location, the primary first."""
        return open_locations(self.settings)

    def storage_state(self) -> list[LocationState]:
        """Each location with its Object Lock state (enforced / unsupported / …)."""
        states = []
        for loc in self.locations():
            lock = str(loc.object_lock())
            states.append(LocationState(loc.name, loc.describe(), lock, loc.lock_mode if lock == "enforced" else None))
        return states

    def copy_shortfall(self) -> dict[str, tuple[int, int]]:
        """保管期限 whose copy policy keeps fewer copies than the default: ``{period: (kept, default)}``."""
        kept = self.settings.copies
        return {r: (kept[r], n) for r, n in DEFAULT_COPIES.items() if kept[r] < n}

    # --- 归档 ----------------------------------------------------------------------------

    def ingest(self, source: Path, catalog: Path | None = None, *, on_item: OnItem | None = None, **defaults: Any):
        """归档: check a folder of records (and its item list) and package each 件 as an AIP.

        ``defaults`` are the class fields an item list may leave out: ``fonds``, ``category``,
        ``year``, ``retention``, ``carrier``, ``org_code``, ``author``, ``date``.
        """
        from ingest.metadata import ClassDefaults
        from ingest.pipeline import Ingestor

        log.info("ingest of %s started (item list: %s)", source, catalog or "none")
        with Ingestor.open(self.settings, self.catalogue) as ingestor:
            result = ingestor.run(source, catalog, ClassDefaults(**defaults), on_item=on_item)
        log.info(
            "ingest of %s done: %d archived, %d rejected, %d duplicate, %d copies incomplete", source,
            result.count("archived"), result.count("rejected"), result.count("duplicate"), result.count("incomplete"),
        )  # fmt: skip
        return result

    # --- 查阅 ----------------------------------------------------------------------------

    def show(self, archival_code: str) -> RecordView:
        """一件档案 with its files, copies, PREMIS events and retention dates."""
        from disposition.disposal import record_dates

        cat = self.catalogue
        row = cat.get(archival_code)
        if row is None:
            raise NotFoundError(_("没有档号为 {code} 的档案").format(code=archival_code))
        return RecordView(
            item=row.to_json(),
            dates=record_dates(self.settings, row),
            files=[f.to_json() for f in cat.files(archival_code)],
            copies=[vars(c) for c in cat.copies(archival_code).values()],
            events=[e.to_json() for e in cat.events(archival_code)],
        )

    def list(self, **filters: str | None) -> RecordList:
        """档案列表 by 全宗/年度/门类/保管期限 (``fonds``, ``year``, ``category``, ``retention`` as typed)."""
        return RecordList([r.to_json() for r in self.catalogue.list(self._filter(**filters))])

    def _filter(
        self,
        fonds: str | None = None,
        year: str | None = None,
        category: str | None = None,
        retention: str | None = None,
    ) -> ListFilter:
        from metadata_profiles import class_codes

        y0, y1 = parsing.year_range(year)
        fonds, category, retention = class_codes(self.settings, fonds, category, retention)
        return ListFilter(fonds=fonds, year_from=y0, year_to=y1, category=category, retention=retention)

    def search(
        self,
        query: str = "",
        *,
        fonds: str | None = None,
        year: str | None = None,
        category: str | None = None,
        retention: str | None = None,
        dates: str | None = None,
        limit: int = 20,
        page: int = 1,
    ) -> Found:
        """全文检索 over metadata and text; an index found empty or damaged is refilled from the catalogue."""
        from metadata_profiles import class_codes
        from search import Query
        from search.indexing import has_searchable, open_search
        from search.indexing import sync as sync_index

        if page < 1:
            raise UsageError(_("页码从 1 开始: {page}").format(page=page))
        year_from, year_to = parsing.year_range(year)
        fonds, category, retention = class_codes(self.settings, fonds, category, retention)
        date_from, date_to = parsing.day_range(dates)
        q = Query(
            text=query, visible_fonds=frozenset(f.code for f in self.settings.fonds), fonds=fonds,
            year_from=year_from, year_to=year_to, category=category, retention=retention,
            date_from=date_from, date_to=date_to, limit=limit, offset=(page - 1) * limit,
        )  # fmt: skip
        with open_search(self.settings) as index:
            result = index.search(q)
            damaged = index.damaged_copy
            # The index is a cache: one found damaged (set aside) or lost is filled again from the catalogue.
            if damaged is None and not (result.total == 0 and has_searchable(self.catalogue) and not index.codes()):
                return Found(result, page)
            log.warning("search index empty or damaged (set aside: %s); refilling from the catalogue", damaged)
            added, _removed = sync_index(self.catalogue, index, self.locations())
            if added:
                result = index.search(q)
        return Found(result, page, refilled=True, damaged_copy=damaged)

    # --- 校验、导出、目录 --------------------------------------------------------------------

    def validate(self, *targets: str) -> Validation:
        """校验: each target is a bag directory or the 档号 of an archived record."""
        from archive.validate import validate_target

        return Validation([validate_target(t, self.home) for t in targets])

    def export(self, archival_code: str, dest: Path) -> Export:
        """导出 DIP: the originals, metadata and a summary, each file checked against the catalogue."""
        from archive.export import export_dip
        from archive.tombstone import destroyed_notice

        if notice := destroyed_notice(self.catalogue, archival_code):
            raise NotFoundError(notice, path=archival_code)
        passed_over: list[str] = []
        written = export_dip(self.catalogue, self.locations(), archival_code, dest, notes=passed_over)
        return Export(dest, written, passed_over)

    def catalog(self, out: Path, **filters: str | None) -> CatalogFile:
        """归档文件目录 (DA/T 22) of the records matching the filters, as XLSX or PDF by ``out``'s extension."""
        from .catalog_list import write_catalog

        rows = self.catalogue.list(self._filter(**filters))
        write_catalog(rows, out)
        return CatalogFile(out, len(rows))

    # --- 保存 ----------------------------------------------------------------------------

    def reindex(self) -> Reindex:
        """从存储重建: the catalogue from the AIPs in storage, then the search index from the catalogue."""
        from archive.reindex import ReadProblem, rebuild
        from search.indexing import open_search
        from search.indexing import rebuild as rebuild_index
        from search.indexing import sync as sync_index

        problems: list[ReadProblem] = []
        self.close()
        self._catalogue = Catalogue(self.settings.catalogue_path, replace_damaged=True)
        count = rebuild(self.settings, self._catalogue, problems)
        locations = self.locations()
        with open_search(self.settings) as index:
            indexed = rebuild_index(self._catalogue, index, locations)
            sync_index(self._catalogue, index, locations)  # what was archived while the index was being rebuilt
        return Reindex(count, indexed, problems)

    def audit(
        self,
        *,
        max_seconds: float | None = None,
        max_bytes: str | int | None = None,
        check_all: bool = False,
        location: str | None = None,
        repair: bool = False,
    ) -> AuditReport:
        """定期检测: verify the copies due (or every copy), repairing from a good copy when asked."""
        from preservation.audit import AuditOptions
        from preservation.audit import audit as run_audit

        options = AuditOptions(max_seconds, parsing.size(max_bytes), check_all, location, repair)
        report = run_audit(self.settings, self.catalogue, self.locations(), options)
        log.info(
            "audit checked %d copies of %d AIPs: %d problems, %d unrepaired, %d copies still due",
            report.checked_copies, report.checked_aips, len(report.problems), len(report.unrepaired), report.remaining,
        )  # fmt: skip
        return report
