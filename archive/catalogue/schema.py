"""The catalogue's tables as SQLite schema text: created with ``IF NOT EXISTS`` on every open, and
always refilled from the AIPs in storage (the catalogue is a cache)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    archival_code TEXT PRIMARY KEY,
    aip_key TEXT NOT NULL UNIQUE,
    fonds_code TEXT NOT NULL,
    fonds_name TEXT NOT NULL,
    category TEXT NOT NULL,
    year INTEGER NOT NULL,
    retention TEXT NOT NULL,
    org_code TEXT NOT NULL DEFAULT '',
    item_number INTEGER NOT NULL,
    title TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    doc_number TEXT NOT NULL DEFAULT '',
    classification TEXT NOT NULL DEFAULT '',
    page_count INTEGER,
    carrier TEXT NOT NULL DEFAULT '',
    remarks TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'archived',
    content_digest TEXT NOT NULL,
    payload_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    UNIQUE (fonds_code, category, year, retention, org_code, item_number)
);
CREATE INDEX IF NOT EXISTS items_digest ON items (content_digest);
CREATE INDEX IF NOT EXISTS items_class ON items (fonds_code, year, category, retention);
CREATE TABLE IF NOT EXISTS files (
    archival_code TEXT NOT NULL REFERENCES items (archival_code),
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER,
    sha256 TEXT NOT NULL,
    sm3 TEXT NOT NULL,
    puid TEXT,
    format_name TEXT,
    pages INTEGER,
    PRIMARY KEY (archival_code, path)
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    archival_code TEXT NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome_detail TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_item ON events (archival_code, time);
CREATE TABLE IF NOT EXISTS copies (
    archival_code TEXT NOT NULL,
    location TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    sm3_verified_at TEXT NOT NULL,
    PRIMARY KEY (archival_code, location)
);
CREATE INDEX IF NOT EXISTS copies_due ON copies (verified_at);
"""

ITEM_COLUMNS = (
    "archival_code", "fonds_code", "fonds_name", "category", "year", "retention", "org_code", "item_number",
    "title", "author", "date", "doc_number", "classification", "page_count", "carrier", "remarks",
)  # fmt: skip
