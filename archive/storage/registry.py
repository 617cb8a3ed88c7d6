"""存储类型登记 (storage registry): the one table of storage types.

Each type names the module and class of its :class:`~archive.storage.base.Location`;
the class builds itself from a ``[[storage]]`` entry (:meth:`Location.from_options`)
and reads the ``--storage NAME=...`` shorthand (:meth:`Location.spec_options`). A
module is imported only when its type is used, so a home without S3 never loads boto3.
Adding a type is one module with its Location class and one line in :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from archive.config import Settings, StorageConfig
from archive.errors import ConfigError, UsageError
from archive.i18n import _
from archive.storage.base import Location

RULE = "dangan.toml [[storage]]"


@dataclass(frozen=True)
class Backend:
    """One storage type: its name in ``dangan.toml``, where its class is, its ``--storage`` prefix."""

    type: str
    module: str
    cls: str
    spec_prefix: str  # ``NAME=<prefix>...`` on the command line; "" for the default type

    def load(self) -> type[Location]:
        """The Location class, its module imported now."""
        found: type[Location] = getattr(importlib.import_module(self.module), self.cls)
        return found


#: every storage type; the one with no ``--storage`` prefix (a plain path) is last
BACKENDS = (
    Backend("s3", "archive.storage.s3", "S3Location", "s3:"),
    Backend("fs", "archive.storage.fs", "FsLocation", ""),
)
TYPES = tuple(b.type for b in BACKENDS)


def backend(kind: str) -> Backend:
    """The storage type called ``kind``.

    Raises:
        ConfigError: no storage type has that name.
    """
    for b in BACKENDS:
        if b.type == kind:
            return b
    raise ConfigError(_("存储类型只能是 {types}: {kind}").format(types=" / ".join(TYPES), kind=kind), rule=RULE)


def open_location(settings: Settings, cfg: StorageConfig) -> Location:
    """Build the location an ``[[storage]]`` entry describes."""
    return backend(cfg.type).load().from_options(cfg.name, cfg.options, home=settings.home)


def parse_spec(spec: str) -> StorageConfig:
    """A ``--storage NAME=WHERE`` argument as a ``[[storage]]`` entry; the prefix of WHERE picks the type.

    Raises:
        UsageError: no name, no place, or a place its type cannot read.
    """
    name, sep, where = spec.partition("=")
    if not sep or not name or not where:
        raise UsageError(_("存储位置写法应为 NAME=PATH 或 NAME=s3:URL/BUCKET: {spec}").format(spec=spec))
    chosen = next(b for b in BACKENDS if where.startswith(b.spec_prefix))
    options = chosen.load().spec_options(where.removeprefix(chosen.spec_prefix), spec)
    return StorageConfig(name, chosen.type, options)
