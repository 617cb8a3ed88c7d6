"""存储 (archival storage): locations that hold AIPs, behind one narrow interface."""

from __future__ import annotations

from pathlib import Path

from archive.config import Settings, StorageConfig
from archive.errors import ConfigError
from archive.storage.base import Location, aip_key
from archive.storage.fs import FsLocation

__all__ = ["FsLocation", "Location", "aip_key", "open_location", "open_locations"]


def open_location(settings: Settings, cfg: StorageConfig) -> FsLocation:
    """Build the location an ``[[storage]]`` entry describes."""
    if cfg.type == "fs":
        path = Path(cfg.options.get("path", "store"))
        return FsLocation(cfg.name, path if path.is_absolute() else settings.home / path)
    raise ConfigError(f"存储类型 {cfg.type} 尚未支持 (storage type not supported yet)", rule="dangan.toml [[storage]]")


def open_locations(settings: Settings) -> list[FsLocation]:
    """Every configured location, the first being the primary one ingest commits to."""
    return [open_location(settings, cfg) for cfg in settings.storage]
