"""后端 (backends): a home's settings checked against the one registry of each kind.

Each kind of backend is registered once, on the floor that implements it: storage types
in :mod:`archive.storage.registry`, search backends in :data:`search.BACKENDS`, OCR
engines in :data:`ingest.ocr.ENGINES`. ``archive.config`` sits below the last two and
keeps no list of its own: the application hands it :func:`check_names` when it loads or
writes ``dangan.toml``, so a name is judged by the registry that will open it.
"""

from __future__ import annotations

from pathlib import Path

from archive.config import Settings
from archive.errors import ConfigError
from archive.i18n import _
from archive.storage import TYPES as STORAGE_TYPES
from archive.storage.registry import backend as storage_backend
from ingest.ocr import ENGINES
from search import BACKENDS

#: ``[ingest] ocr``: an engine, or ``off`` for none
OCR_CHOICES = (*ENGINES, "off")

__all__ = ["OCR_CHOICES", "STORAGE_TYPES", "check_names"]


def check_names(settings: Settings, path: Path) -> None:
    """Refuse a storage type, search backend or OCR engine that no registry has.

    Raises:
        ConfigError: naming the setting, the choices and the file.
    """
    for entry in settings.storage:
        try:
            storage_backend(entry.type)
        except ConfigError as exc:
            raise ConfigError(exc.message, path=str(path)) from None
    if settings.search["backend"] not in BACKENDS:
        choices = f" {_('或')} ".join(BACKENDS)
        message = _("[search] backend 只能是 {choices}: {value}").format(
            choices=choices, value=settings.search["backend"]
        )
        raise ConfigError(message, path=str(path))
    if settings.ingest["ocr"] not in OCR_CHOICES:
        message = _("[ingest] ocr 只能是 {choices}: {value}")
        raise ConfigError(message.format(choices=" / ".join(OCR_CHOICES), value=settings.ingest["ocr"]), path=str(path))
