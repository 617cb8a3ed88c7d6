"""What the catalogue hands out: plain frozen rows, one class per kind of answer.

Callers read attributes, never SQL rows, so a catalogue on another database can hand
out the same. ``to_json()`` gives the keys and values ``dangan show/list --json`` print.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from archive.model import FileEntry, Item, ItemMetadata
from archive.premis import Event

from .schema import ITEM_COLUMNS


class _Row:
    """Shared by the row classes: their column names, and the row as JSON."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """Column name → value, in column order (what ``dict()`` of an SQLite row gave)."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ItemRow(_Row):
    """One 件 as catalogued: its metadata, where its AIP is, and its status."""

    archival_code: str
    aip_key: str
    fonds_code: str
    fonds_name: str
    category: str
    year: int
    retention: str
    org_code: str
    item_number: int
    title: str
    author: str
    date: str
    doc_number: str
    classification: str
    page_count: int | None
    carrier: str
    remarks: str
    status: str  # 在档 archived / destroying / 已销毁 destroyed / 已移交 transferred
    content_digest: str
    payload_bytes: int
    file_count: int
    ingested_at: str

    def metadata(self) -> ItemMetadata:
        """The ItemMetadata this row describes."""
        return ItemMetadata(**{c: getattr(self, c) for c in ITEM_COLUMNS})


@dataclass(frozen=True)
class FileRow(_Row):
    """One file of an AIP: a payload file (``data/original/…``) or a tag file, with its digests."""

    archival_code: str
    path: str
    kind: str  # payload / tag
    size: int | None
    sha256: str
    sm3: str
    puid: str | None
    format_name: str | None
    pages: int | None

    def entry(self) -> FileEntry:
        """The FileEntry of a payload file."""
        return FileEntry(
            name=self.path.removeprefix("data/original/"), size=self.size, sha256=self.sha256, sm3=self.sm3,
            puid=self.puid, format_name=self.format_name, pages=self.pages,
        )  # fmt: skip


@dataclass(frozen=True)
class EventRow(_Row):
    """One PREMIS event of an item."""

    id: str
    archival_code: str
    type: str
    time: str
    outcome: str
    detail: str
    outcome_detail: str
    agent: str
    location: str


@dataclass(frozen=True)
class KeptItem:
    """An item whose copies are kept: what replication and audit plan from."""

    archival_code: str
    aip_key: str
    retention: str
    year: int
    category: str
    stored_bytes: int  # every file of the AIP, payload and tag files
    held: frozenset[str]  # the locations known to hold a verified copy


@dataclass
class Copy:
    """副本: one location's copy of an AIP and when it was last proven intact."""

    location: str
    stored_at: str
    verified_at: str
    sm3_verified_at: str

    @classmethod
    def fresh(cls, location: str, when: str) -> Copy:
        """A primary copy just written, its payload read back with SHA-256 only (SM3 not yet re-read)."""
        return cls(location, when, when, "")


@dataclass
class IndexedAIP:
    """What the catalogue keeps of one AIP, as read from storage."""

    key: str
    item: Item
    tag_files: dict[str, dict[str, Any]]  # tag path -> {"size", "sha256", "sm3"}
    events: list[Event]
    ingested_at: str
    status: str = "archived"
    copies: dict[str, Copy] = field(default_factory=dict)  # location name -> what is known of that copy


@dataclass(frozen=True)
class ListFilter:
    """Filters of ``dangan list``: 全宗, 年度, 门类, 保管期限."""

    fonds: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    category: str | None = None
    retention: str | None = None
