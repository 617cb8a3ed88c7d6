"""存储 (archival storage): locations that hold AIPs, behind one narrow interface."""

from __future__ import annotations

from pathlib import Path

from archive.config import Settings, StorageConfig
from archive.errors import ConfigError
from archive.storage.base import Location, ObjectLock, aip_key
from archive.storage.fs import FsLocation

__all__ = ["FsLocation", "Location", "ObjectLock", "aip_key", "open_location", "open_locations", "prepare_locations"]


def open_location(settings: Settings, cfg: StorageConfig) -> Location:
    """Build the location an ``[[storage]]`` entry describes."""
    if cfg.type == "fs":
        path = Path(cfg.options.get("path", cfg.name))
        return FsLocation(cfg.name, path if path.is_absolute() else settings.home / path)
    if cfg.type == "s3":
        from archive.storage.s3 import S3Location  # boto3 is imported only by homes that use S3

        return S3Location.from_options(cfg.name, cfg.options)
    raise ConfigError(f"未知存储类型 (unknown storage type): {cfg.type}", rule="dangan.toml [[storage]]")


def open_locations(settings: Settings) -> list[Location]:
    """Every configured location, the first being the primary one ingest commits to."""
    return [open_location(settings, cfg) for cfg in settings.storage]


def prepare_locations(settings: Settings) -> list[Location]:
    """Create every configured location (``dangan init``) and return them."""
    locations = open_locations(settings)
    for loc in locations:
        loc.prepare()
    return locations
