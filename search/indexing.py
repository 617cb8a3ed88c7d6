"""检索索引的维护 (keeping the search index): a cache of the catalogue and the AIPs' text.

Each AIP carries the text of its files as derivatives under ``metadata/text/`` (OCR of
scans, text layers and document text), so the index can always be rebuilt from storage.
Ingest adds each item as it is archived; after a crash between store and index,
:func:`sync` adds what the index lacks and drops what the archive no longer holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from archive.aip import TEXT_DIR
from archive.catalogue import Catalogue, ItemRow
from archive.config import Settings
from archive.errors import DanganError
from archive.storage.base import Location
from search import SearchDoc, SearchIndex, open_index

log = logging.getLogger(__name__)

__all__ = ["SEARCHABLE", "open_search", "rebuild", "search_doc", "sync"]

SEARCHABLE = ("archived", "transferred")  # destroyed items leave the index with their content


def open_search(settings: Settings) -> SearchIndex:
    """The home's search index: SQLite FTS5 in the home, or Elasticsearch per ``[search]``."""
    cfg = settings.search
    if cfg["backend"] == "elasticsearch":
        return open_index("elasticsearch", url=cfg["url"], index_prefix=cfg["index_prefix"])
    return open_index("sqlite", path=settings.home / "search.sqlite")


def search_doc(row: ItemRow, body: str) -> SearchDoc:
    """The search document of one catalogue row and its text."""
    extra = (row.author, row.doc_number, row.remarks, row.fonds_name, row.classification)
    return SearchDoc(
        archival_code=row.archival_code,
        fonds_code=row.fonds_code,
        year=int(row.year),
        category=row.category,
        retention=row.retention,
        title=row.title,
        date=row.date or "",
        metadata_text=" ".join(v for v in extra if v),
        body=body,
    )


def body_of(catalogue: Catalogue, locations: list[Location], row: ItemRow) -> str:
    """The item's text, read from the first copy that can be read."""
    paths = [f.path for f in catalogue.files(row.archival_code) if f.path.startswith(TEXT_DIR + "/")]
    if not paths:
        return ""
    held = catalogue.copies(row.archival_code)
    for loc in sorted(locations, key=lambda loc: loc.name not in held):
        try:
            return "\n\n".join(loc.read(row.aip_key, p).decode("utf-8") for p in paths)
        except (DanganError, UnicodeDecodeError):
            continue
    return ""


def _docs(catalogue: Catalogue, locations: list[Location], codes: Iterable[str] | None) -> Iterator[SearchDoc]:
    wanted = None if codes is None else set(codes)
    for row in catalogue.with_status(SEARCHABLE):
        if wanted is None or row.archival_code in wanted:
            yield search_doc(row, body_of(catalogue, locations, row))


def has_searchable(catalogue: Catalogue) -> bool:
    """Whether the catalogue holds any item the index should hold."""
    return catalogue.any_with_status(SEARCHABLE)


def sync(catalogue: Catalogue, index: SearchIndex, locations: list[Location]) -> tuple[int, int]:
    """Make the index hold exactly the searchable items; return (added, removed).

    An index of an older layout (a new release changed it) is rebuilt whole: it is a cache,
    and ingest must not stop at it.
    """
    if index.outdated():
        return rebuild(catalogue, index, locations), 0
    want = catalogue.codes_with_status(SEARCHABLE)
    have = index.codes()
    added = index.upsert(_docs(catalogue, locations, want - have)) if want - have else 0
    removed = index.delete(have - want) if have - want else 0
    if added or removed:
        log.info("search index: %d added, %d removed", added, removed)
    return added, removed


def rebuild(catalogue: Catalogue, index: SearchIndex, locations: list[Location]) -> int:
    """Rebuild the whole index from the catalogue and the AIPs' text, swapped in at the end."""
    count = index.rebuild(_docs(catalogue, locations, None))
    log.info("search index rebuilt: %d records", count)
    return count
