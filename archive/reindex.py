"""Rebuild the catalogue from the AIPs in storage: the catalogue is only a cache."""

from __future__ import annotations

from archive.aip import read_aip
from archive.catalogue import Catalogue
from archive.config import Settings
from archive.storage import open_locations


def rebuild(settings: Settings, catalogue: Catalogue) -> int:
    """Replace the catalogue with what the primary location holds; return the item count."""
    location = open_locations(settings)[0]
    location.recover()
    return catalogue.replace_all(read_aip(location, key) for key in location.list_keys())
