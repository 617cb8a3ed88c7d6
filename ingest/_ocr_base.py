"""识别引擎接口 (OCR engine interface): what every engine implements, and the page text it returns."""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image

from archive.errors import DanganError, ExitCode

#: Where a page's text came from.
SOURCE_OCR, SOURCE_TEXT_LAYER, SOURCE_FILE = "ocr", "text-layer", "file"


@dataclass(frozen=True)
class PageText:
    """页面文本: the text of one page (a TIFF frame, a PDF page, a whole DOCX, one XLSX sheet).

    ``number`` counts from 1; ``source`` is ``"ocr"``, ``"text-layer"`` (a PDF's own text)
    or ``"file"`` (read from the file's structure); ``confidence`` is the engine's mean
    word or line confidence in 0–1, None when not from OCR or when nothing was recognised;
    ``reader`` names what read an OCR page (``rapidocr``, ``tesseract chi_tra``), since
    :class:`ScriptAwareEngine` hands a page to one of two engines.
    """

    number: int
    text: str
    source: str
    confidence: float | None = None
    reader: str | None = None


@dataclass(frozen=True)
class EngineInfo:
    """What produced OCR text (识别引擎), for the PREMIS event: name, version, settings."""

    name: str
    version: str
    settings: dict[str, Any] = field(default_factory=dict)


class OcrError(DanganError):
    """识别失败: the engine failed on one page (not a missing engine: that is MissingDependencyError)."""

    exit_code = ExitCode.rejected


class OcrTimeoutError(OcrError):
    """识别超时: the engine took longer than its timeout on one page."""


class OcrEngine(ABC):
    """识别引擎: recognises the text of one page image.

    Subclasses keep no per-call state, so one instance may be used for a whole batch.
    """

    name: ClassVar[str]

    @property
    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The settings that change the output, as recorded in PREMIS."""

    @abstractmethod
    def version(self) -> str:
        """The engine's version; also proves the engine is usable.

        Raises:
            MissingDependencyError: the engine or its models/languages are not installed.
        """

    @abstractmethod
    def recognize(self, image: Image.Image) -> PageText:
        """Recognise one page image; returns page number 1 with ``source="ocr"``.

        Raises:
            MissingDependencyError: the engine is not installed.
            OcrTimeoutError: the page took longer than the timeout.
            OcrError: the engine failed on this page.
        """

    def info(self) -> EngineInfo:
        """Name, version and settings together (probes the version)."""
        return EngineInfo(self.name, self.version(), dict(self.settings))


# --- shared helpers -------------------------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def join_words(words: list[str]) -> str:
    """Join recognised pieces of one line: a space only between two non-CJK neighbours.

    Tesseract cuts Chinese lines into one-or-two-character "words"; spaces between them
    would break phrase search, while Latin words and numbers still need theirs.
    """
    out = ""
    for word in (w for w in words if w):
        if out and not _is_cjk(out[-1]) and not _is_cjk(word[0]):
            out += " "
        out += word
    return out


def _page_ready(image: Image.Image) -> Image.Image:
    """Modes both engines read: bilevel, grey or RGB (CMYK, palette, 16-bit are converted)."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode.startswith("I;16"):  # 16-bit grey scans: keep the top 8 bits, not a clipped copy
        return image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("L" if image.mode in ("LA", "La", "I", "F") else "RGB")


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
