"""存储 (archival storage): locations that hold AIPs, behind one narrow interface.

The storage types are listed once, in :mod:`archive.storage.registry`.
"""

from __future__ import annotations

from archive.config import Settings
from archive.storage.base import Location, ObjectLock, aip_key
from archive.storage.fs import FsLocation
from archive.storage.registry import TYPES, open_location, parse_spec

__all__ = [
    "TYPES",
    "FsLocation",
    "Location",
    "ObjectLock",
    "aip_key",
    "open_location",
    "open_locations",
    "parse_spec",
    "prepare_locations",
]


def open_locations(settings: Settings) -> list[Location]:
    """Every configured location, the first being the primary one ingest commits to."""
    return [open_location(settings, cfg) for cfg in settings.storage]


def prepare_locations(settings: Settings) -> list[Location]:
    """Create every configured location (``dangan init``) and return them."""
    locations = open_locations(settings)
    for loc in locations:
        loc.prepare()
    return locations
