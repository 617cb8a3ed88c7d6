"""全文提取: the text of an archived file, page by page, for the AIP derivative and for search.

:func:`extract_text` picks the way by the PRONOM identification already made at ingest
(:class:`~ingest.formats.Inspection`):

- scans (TIFF, every frame; JPEG; PNG; JPEG 2000): OCR of each frame;
- PDF: each page's own text (文本层) through PDFium; a page with content but no text
  (a scanned page, or text drawn as outlines) is rendered and OCR'd;
- DOCX: ``word/document.xml`` read with the hardened XML parser; XLSX: one page per sheet
  through openpyxl's streaming reader; plain text and CSV in UTF-8 (with or without BOM),
  UTF-16 with BOM, or GB18030;
- OFD: not extracted (no maintained library reads it soundly), said in a finding.

The file has already passed validation, so nothing here raises for bad content: a page
whose OCR fails or times out, or a file that cannot be read after all, becomes a finding
and the pages read so far are kept. Only a missing OCR engine raises
(:class:`~archive.errors.MissingDependencyError`): that is the machine's fault, not the
file's. Memory stays bounded: one page image at a time, and at most ``max_chars``
characters of text per file.

PDFium is not thread-safe, so its calls are serialised in the process; OCR runs outside
that lock.
"""

from __future__ import annotations

import codecs
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from archive.errors import MissingDependencyError
from archive.model import Finding, Verdict
from archive.xmlsafe import parse_xml
from ingest._decode import decodes, describe
from ingest._text_run import (
    OCR_MAX_PIXELS,
    TEXT_NO_ENGINE,
    TEXT_NOT_EXTRACTED,
    TEXT_OCR_FAILED,
    TEXT_OCR_TIMEOUT,
    TEXT_TRUNCATED,
    TEXT_UNREADABLE,
    OcrTimeSpent,
    Run,
)
from ingest.formats import Inspection
from ingest.ocr import SOURCE_FILE, SOURCE_TEXT_LAYER, EngineInfo, OcrEngine, PageText

__all__ = [
    "ExtractedText",
    "TEXT_NO_ENGINE",
    "TEXT_NOT_EXTRACTED",
    "TEXT_OCR_FAILED",
    "TEXT_OCR_TIMEOUT",
    "TEXT_TRUNCATED",
    "TEXT_UNREADABLE",
    "extract_text",
]

#: Pages are rendered for OCR at this resolution (DA/T 31 recommends 300 dpi scans for OCR).
PDF_RENDER_DPI = 300
_DOCX_PART_LIMIT = 64 * 1024**2
# A page with an image and fewer visible characters than this is OCR'd: its text is a stamp, not the page.
_FEW_CHARS = 10
_PDFIUM_LOCK = threading.Lock()


@dataclass
class ExtractedText:
    """提取的全文: the pages of one file, the OCR engine if one was used, and what went wrong.

    ``pages`` are in order, numbered from 1; a page whose OCR failed is missing from it
    and named in ``findings``. ``engine`` is set when OCR was attempted on any page;
    ``blank_pages`` counts the pages that were not sent to it as blank or tiny.
    """

    pages: list[PageText] = field(default_factory=list)
    engine: EngineInfo | None = None
    findings: list[Finding] = field(default_factory=list)
    blank_pages: int = 0  # blank or tiny pages not sent to the OCR engine

    @property
    def text(self) -> str:
        """All pages, separated by a blank line (for indexing)."""
        return "\n\n".join(page.text for page in self.pages)


# --- dispatch -------------------------------------------------------------------------------

_DOCX = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-word.document.macroenabled.12",
        "fmt/412",
        "fmt/523",
    }
)
_XLSX = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "fmt/214",
        "fmt/445",
    }
)
_OFD_MIME = "application/ofd"  # set by the zip decoder; PRONOM itself calls OFD a plain zip


def _kind(inspection: Inspection) -> str | None:
    mime, puid = (inspection.mime or "").lower(), inspection.puid or ""
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("image/") and "svg" not in mime:
        return "image"
    if mime in _DOCX or puid in _DOCX:
        return "docx"
    if mime in _XLSX or puid in _XLSX:
        return "xlsx"
    if mime == _OFD_MIME:
        return "ofd"
    if mime.startswith("text/") and "xml" not in mime:
        return "text"
    return None


def extract_text(
    path: Path,
    inspection: Inspection,
    *,
    engine: OcrEngine | None,
    display_name: str | None = None,
    max_chars: int = 10_000_000,
    pdf_dpi: int = PDF_RENDER_DPI,
    ocr_images: bool = True,
    ocr_time_limit: float | None = None,
) -> ExtractedText:
    """Extract the text of one validated file, page by page (全文提取).

    Args:
        path: The file on disk.
        inspection: Its :func:`~ingest.formats.inspect_file` result; the MIME type and
            PRONOM id choose the extractor.
        engine: The OCR engine for scanned pages; None extracts only text the file
            carries (and says so in a finding when a page needed OCR).
        display_name: The name people know the file by, for messages; defaults to the
            file name.
        max_chars: Characters kept per file; the rest is cut with a finding.
        pdf_dpi: Resolution at which PDF pages without a text layer are rendered for OCR.
        ocr_images: Whether an image file is a scanned page to read. A born-digital
            photograph (载体 not 纸质) is described by its metadata, not OCR'd; an image-only
            PDF is OCR'd either way.
        ocr_time_limit: Seconds of OCR for this file, counted from its first OCR'd page
            ([ingest] ocr_time_limit); when spent, OCR stops with a warning and the pages
            read so far are kept. None: no limit beyond each engine's per-page timeout.

    Returns:
        The pages, the engine used, and findings (warnings; never a raise for bad content).

    Raises:
        MissingDependencyError: OCR was needed and the engine is not installed.
    """
    path = Path(path)
    run = Run(display_name or path.name, path, engine, max_chars, pdf_dpi, ocr_time_limit)
    kind = _kind(inspection)
    pages: list[PageText] = []
    if kind == "image" and not ocr_images:
        zh, en = "非扫描图像 (载体非纸质) 不做 OCR", "born-digital image: not OCR'd"
        run.notes.add(Verdict.not_applicable, TEXT_NOT_EXTRACTED, zh, en, None)
    elif kind is None or kind == "ofd":
        _not_extracted(run, kind, inspection)
    else:
        _collect(_EXTRACTORS[kind](path, run), pages, run)
    return ExtractedText(pages, run.engine_info, run.notes.findings, run.blank_pages)


def _collect(pages_found: Iterable[PageText], pages: list[PageText], run: Run) -> None:
    try:
        for page in pages_found:
            pages.append(page)
            if run.full:
                break
    except MissingDependencyError:
        raise
    except OcrTimeSpent:
        zh = f"OCR 用时已达设置 [ingest] ocr_time_limit = {run.ocr_seconds:g} 秒, 其后的页面未提取文本"
        run.notes.warn(TEXT_OCR_TIMEOUT, zh, "OCR time limit reached; later pages not read", f"{len(pages)} pages kept")
    # The last net: the file passed validation, yet a library may still trip on it, and
    # text extraction must never sink an ingest.
    except Exception as exc:  # noqa: BLE001
        run.notes.warn(TEXT_UNREADABLE, "文件文本无法读取", "text cannot be read", describe(exc))


def _not_extracted(run: Run, kind: str | None, inspection: Inspection) -> None:
    what = inspection.format_name or inspection.mime or "unknown"
    if kind == "ofd":
        run.notes.warn(
            TEXT_NOT_EXTRACTED, "OFD 文件的文本暂不提取", "OFD text is not extracted: no maintained reader", what
        )
    else:
        run.notes.add(Verdict.not_applicable, TEXT_NOT_EXTRACTED, "此格式不提取文本", "no text extractor", what)


# --- scans ----------------------------------------------------------------------------------


def _image_pages(path: Path, run: Run) -> Iterator[PageText]:
    """One OCR page per frame; a TIFF's frames are decoded one at a time."""
    if run.engine is None:
        run.no_engine()
        return
    with Image.open(path) as im:
        for index in range(getattr(im, "n_frames", 1)):
            im.seek(index)
            page = run.ocr(_frame(im), index + 1)
            if page is not None:
                yield page


def _frame(im: Image.Image) -> Image.Image:
    """The current frame upright (a phone photo states its rotation in EXIF) and with its dpi."""
    frame = ImageOps.exif_transpose(im) if im.format in ("JPEG", "MPO") else im.copy()
    if "dpi" in im.info:
        frame.info["dpi"] = im.info["dpi"]
    return frame


# --- PDF ------------------------------------------------------------------------------------


def _pdf_pages(path: Path, run: Run) -> Iterator[PageText]:
    """Each page's text layer; pages that need OCR are rendered one at a time."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(path))
    try:
        for number in range(1, len(pdf) + 1):
            try:
                text, wants_ocr, image = _read_pdf_page(pdf, number - 1, run)
            except pdfium.PdfiumError as exc:
                run.notes.warn(TEXT_UNREADABLE, f"第 {number} 页无法读取", f"page {number} unreadable", describe(exc))
                continue
            page = run.ocr(image, number) if image is not None else None
            if page is None and (not wants_ocr or text.strip()):
                page = run.page(number, text, SOURCE_TEXT_LAYER)  # a blank page too; a stamp when OCR failed
            if page is not None:
                yield page
    finally:
        with _PDFIUM_LOCK:
            pdf.close()


def _read_pdf_page(pdf: Any, index: int, run: Run) -> tuple[str, bool, Image.Image | None]:
    """The page's text, whether it needs OCR, and if so (and there is an engine) the page as an image.

    A page needs OCR when it draws something but has no text (a scan, or text drawn as
    outlines), or when it draws an image and has only a few characters of text (a scan
    with a page number or 档号 stamped on it as text).
    """
    with _PDFIUM_LOCK:
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            if not _needs_ocr(page, text):
                return text, False, None
            if run.engine is None:
                run.no_engine()
                return text, True, None
            return text, True, _render(page, run.pdf_dpi)
        finally:
            page.close()


def _needs_ocr(page: Any, text: str) -> bool:
    import pypdfium2.raw as pdfium_c

    visible = len("".join(text.split()))
    if visible >= _FEW_CHARS:
        return False
    wanted = None if visible == 0 else [pdfium_c.FPDF_PAGEOBJ_IMAGE]
    return next(iter(page.get_objects(filter=wanted, max_depth=2)), None) is not None


def _render(page: Any, dpi: int) -> Image.Image:
    """Render in grey at ``dpi``, scaled down when the page is huge (an A0 plan at 300 dpi is 140 MP)."""
    width, height = page.get_size()
    scale = dpi / 72
    pixels = width * height * scale * scale
    if pixels > OCR_MAX_PIXELS:
        scale *= (OCR_MAX_PIXELS / pixels) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        image = bitmap.to_pil().copy()  # to_pil shares the bitmap's buffer, freed on close
    finally:
        bitmap.close()
    image.info["dpi"] = (scale * 72, scale * 72)
    return image


# --- born-digital documents -----------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


def _docx_pages(path: Path, run: Run) -> Iterator[PageText]:
    """The main document part as one page: paragraphs on their own lines, table cells too."""
    with zipfile.ZipFile(path) as package:
        part = _docx_main_part(package, run.notes.name)
        if package.getinfo(part).file_size > _DOCX_PART_LIMIT:
            run.notes.warn(TEXT_UNREADABLE, "文档正文过大", "document part too large", part)
            return
        root = parse_xml(package.read(part), name=f"{run.notes.name}/{part}")
    # Text boxes are stored twice, as DrawingML and as a VML fallback for old readers.
    for fallback in list(root.iter(_MC_FALLBACK)):
        fallback.getparent().remove(fallback)
    yield run.page(1, _docx_text(root), SOURCE_FILE)


def _docx_main_part(package: zipfile.ZipFile, name: str) -> str:
    """The officeDocument part named in ``_rels/.rels`` (nearly always ``word/document.xml``)."""
    try:
        rels = parse_xml(package.read("_rels/.rels"), name=f"{name}/_rels/.rels")
    except KeyError:
        return "word/document.xml"
    for rel in rels.iter(_RELS):
        if str(rel.get("Type", "")).endswith("/officeDocument"):
            return str(rel.get("Target", "")).lstrip("/")
    return "word/document.xml"


def _docx_text(root: Any) -> str:
    pieces: list[str] = []
    for node in root.iter(_W + "p", _W + "t", _W + "tab", _W + "br", _W + "cr"):
        tag = node.tag
        if tag == _W + "t":
            pieces.append(node.text or "")
        elif tag == _W + "tab":
            pieces.append("\t")
        elif pieces:  # a new paragraph or a line break
            pieces.append("\n")
    lines = (line.rstrip() for line in "".join(pieces).split("\n"))
    return "\n".join(line for line in lines if line)


def _xlsx_pages(path: Path, run: Run) -> Iterator[PageText]:
    """One page per worksheet: its name, then one line per non-empty row, cells tab-separated."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for number, sheet in enumerate(book.worksheets, 1):
            rows = (_row_text(row) for row in sheet.iter_rows(values_only=True))
            yield run.page(number, _bounded(sheet.title, rows, run), SOURCE_FILE)
            if run.full:
                return
    finally:
        book.close()


def _row_text(row: tuple[object, ...]) -> str:
    cells = ["" if value is None else str(value).strip() for value in row]
    while cells and not cells[-1]:
        cells.pop()
    return "\t".join(cells)


def _bounded(first: str, lines: Iterable[str], run: Run) -> str:
    """Join lines, stopping once the file's character budget is spent (a sheet can have a million rows)."""
    kept, size = [first], len(first)
    for line in lines:
        if not line:
            continue
        if size > run.remaining:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _text_pages(path: Path, run: Run) -> Iterator[PageText]:
    """Plain text or CSV as one page, decoded as found at ingest (UTF-8, UTF-16 with BOM, GB18030)."""
    encoding = _encoding(path)
    if encoding is None:
        run.notes.warn(TEXT_UNREADABLE, "文本编码无法识别，按 UTF-8 读取", "unknown encoding; read as UTF-8")
        encoding = "utf-8"
    with path.open(encoding=encoding, errors="replace", newline=None) as fh:
        text = fh.read(run.remaining + 1)
    yield run.page(1, text, SOURCE_FILE)


def _encoding(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return next((enc for enc in ("utf-8", "gb18030") if decodes(path, enc)), None)


_EXTRACTORS: dict[str, Callable[[Path, Run], Iterator[PageText]]] = {
    "image": _image_pages,
    "pdf": _pdf_pages,
    "docx": _docx_pages,
    "xlsx": _xlsx_pages,
    "text": _text_pages,
}
