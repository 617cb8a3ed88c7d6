"""One file's text extraction under way: its findings, its character and OCR-time budgets, and the
OCR of one page (blank and tiny pages skipped, huge ones scaled down). Used by :mod:`ingest.text`."""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from archive.errors import MissingDependencyError
from archive.model import Verdict
from ingest._decode import Notes, describe
from ingest.ocr import EngineInfo, OcrEngine, OcrError, OcrTimeoutError, PageText

# Finding codes of text extraction. They are this project's, not DA/T 70's: extraction
# runs after the 四性检测 and its problems never reject an item.
TEXT_OCR_FAILED = "text:ocr-failed"
TEXT_OCR_TIMEOUT = "text:ocr-timeout"
TEXT_NO_ENGINE = "text:no-ocr-engine"
TEXT_UNREADABLE = "text:unreadable"
TEXT_NOT_EXTRACTED = "text:not-extracted"
TEXT_TRUNCATED = "text:truncated"

#: Larger page images are scaled down before OCR: A4 at 600 dpi is 35 million pixels, and
#: neither engine reads better above 300 dpi.
OCR_MAX_PIXELS = 40_000_000
#: A page narrower or lower than this many pixels holds no legible text and is not OCR'd.
MIN_OCR_SIDE = 16
#: A page whose every channel spans at most this many levels is blank (one colour) and is not OCR'd.
BLANK_SPREAD = 2


class OcrTimeSpent(Exception):
    """The file's OCR time ([ingest] ocr_time_limit) is spent: reading stops, the pages so far are kept."""


class Run:
    """One file's extraction: its OCR engine, its findings and its character and OCR-time budgets."""

    def __init__(
        self, name: str, path: Path, engine: OcrEngine | None, max_chars: int, pdf_dpi: int, ocr_seconds: float | None
    ) -> None:
        self.notes = Notes(name, path)  # libraries quote the staging path; messages use the name
        self.engine = engine
        self.engine_info: EngineInfo | None = None
        self.remaining = max_chars
        self.pdf_dpi = pdf_dpi
        self.full = False  # the character budget is spent: stop reading
        self.ocr_seconds = ocr_seconds
        self.ocr_deadline: float | None = None  # set at the first OCR'd page: decoding is not OCR time
        self.blank_pages = 0

    def page(
        self, number: int, text: str, source: str, confidence: float | None = None, reader: str | None = None
    ) -> PageText:
        """A page, its text cut to what is left of the budget (the cut is reported once)."""
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if len(text) > self.remaining:
            text, self.full = text[: max(0, self.remaining)], True
            self.notes.warn(TEXT_TRUNCATED, "文本过长，已截断", "text truncated", f"page {number} cut")
        self.remaining -= len(text)
        return PageText(number, text, source, confidence, reader)

    def ocr(self, image: Image.Image, number: int) -> PageText | None:
        """OCR one page; a failure becomes a finding and None (the next page goes on)."""
        if self.engine is None:
            self.no_engine()
            return None
        if self.engine_info is None:
            self.engine_info = self.engine.info()
        if _blank_or_tiny(image):
            self.blank_pages += 1
            return None
        self._check_time()
        try:
            found = self.engine.recognize(ocr_ready(image))
        except MissingDependencyError:
            raise
        except OcrTimeoutError as exc:
            self.notes.warn(TEXT_OCR_TIMEOUT, f"第 {number} 页识别超时", f"page {number} OCR timed out", exc.message)
            return None
        except OcrError as exc:
            self.notes.warn(TEXT_OCR_FAILED, f"第 {number} 页识别失败", f"page {number} OCR failed", exc.message)
            return None
        # An engine may trip on one odd page in ways it does not type; the next page still goes on.
        except Exception as exc:  # noqa: BLE001
            self.notes.warn(TEXT_OCR_FAILED, f"第 {number} 页识别失败", f"page {number} OCR failed", describe(exc))
            return None
        return self.page(number, found.text, found.source, found.confidence, found.reader)

    def _check_time(self) -> None:
        if self.ocr_seconds is None:
            return
        now = time.monotonic()
        if self.ocr_deadline is None:
            self.ocr_deadline = now + self.ocr_seconds
        elif now >= self.ocr_deadline:
            raise OcrTimeSpent

    def no_engine(self) -> None:
        """Say once per file that scanned pages were left without OCR."""
        if not any(f.code == TEXT_NO_ENGINE for f in self.notes.findings):
            zh, en = "未启用 OCR，扫描页未提取文本", "no OCR engine: scanned pages not read"
            self.notes.add(Verdict.not_applicable, TEXT_NO_ENGINE, zh, en, None)


def _blank_or_tiny(image: Image.Image) -> bool:
    """A page too small to hold legible text, or of one colour (a blank frame, a separator sheet).

    Only a page without any variation is blank: a faint page with a few strokes still goes to
    the engine. getextrema reads the pixels once in C, far cheaper than recognition.
    """
    if image.width < MIN_OCR_SIDE or image.height < MIN_OCR_SIDE:
        return True
    extrema = image.getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    return all(high - low <= BLANK_SPREAD for low, high in bands)  # type: ignore[operator]


def ocr_ready(image: Image.Image) -> Image.Image:
    """Scale a huge page down to OCR_MAX_PIXELS, keeping the dpi it then has."""
    pixels = image.width * image.height
    if pixels <= OCR_MAX_PIXELS:
        return image
    factor = (OCR_MAX_PIXELS / pixels) ** 0.5
    size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
    mode = "L" if image.mode == "1" else image.mode  # resampling a bilevel page keeps its strokes
    smaller = image.convert(mode).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    dpi = image.info.get("dpi")
    if dpi:
        smaller.info["dpi"] = (dpi[0] * factor, dpi[1] * factor)
    return smaller
