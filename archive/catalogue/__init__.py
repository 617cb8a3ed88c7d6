"""目录数据库 (catalogue): an SQLite cache of what the AIPs in storage say, and the only owner of its SQL.

Everything here can be rebuilt from the AIPs alone (:func:`archive.aipread.read_aip`
feeds :meth:`Catalogue.index`). Writes go through one connection inside
``BEGIN IMMEDIATE``: that is where 件号 are allocated
(:meth:`Catalogue.allocate_and_commit` states the contract). Callers get frozen rows
(:class:`ItemRow`, :class:`FileRow`, :class:`EventRow`) and the archive's own errors:
:class:`~archive.errors.CatalogueDamagedError`, or a :class:`~archive.errors.StorageError`
for a catalogue that cannot be written.
"""

from __future__ import annotations

from .records import Catalogue
from .rows import Copy, EventRow, FileRow, IndexedAIP, ItemRow, KeptItem, ListFilter
from .schema import ITEM_COLUMNS, SCHEMA

__all__ = [
    "ITEM_COLUMNS", "SCHEMA", "Catalogue", "Copy", "EventRow", "FileRow", "IndexedAIP", "ItemRow", "KeptItem",
    "ListFilter",
]  # fmt: skip
