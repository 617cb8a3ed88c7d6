"""Private PDF decoder behind :mod:`ingest.formats`: syntax, active content, every page and image.

Each page's content stream (and every form it draws) is parsed while tracking the CTM
through q/Q/cm. An image XObject fills the unit square of the CTM in force at its Do, so
its placed size in points is the length of the CTM's two axes, and its effective dpi is
pixels / (points / 72), times the page's /UserUnit. The lowest over all images is the
PDF's dpi when the PDF is image-only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pikepdf

from ingest._decode import (
    BOMB_EN,
    BOMB_ZH,
    DECODE_ERRORS,
    Decoded,
    Limits,
    Notes,
    colour_mode,
    describe,
    pages_refused,
    pillow_scope,
    richest,
)

_SCAN_OPERATORS = "q Q cm Tr Tj TJ ' \" Do BI ID EI"
_TEXT_SHOW = {"Tj", "TJ", "'", '"'}
_INVISIBLE_TEXT = {3, 7}  # Tr 3 (neither fill nor stroke) is the OCR "sandwich" layer
_IMAGE_SKIPPED = (
    pikepdf.UnsupportedImageTypeError,
    pikepdf.NotExtractableError,
    pikepdf.DependencyError,
)
_FORM_BUDGET = 2000
Matrix = tuple[float, float, float, float, float, float]


@dataclass
class _PdfScan:
    """What the page walk saw across the whole document."""

    notes: Notes
    max_pixels: int
    page_no: int = 0
    visible_text: bool = False
    images: int = 0
    dpis: list[float] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    decoded: set[tuple[int, int]] = field(default_factory=set)
    forms: int = 0  # form XObjects walked: a budget against self-drawing or exploding forms


def check_pdf(path: Path, notes: Notes, limits: Limits) -> Decoded:
    """Open, check syntax, look for active content, parse every page and decode every image of a PDF."""
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        notes.fail("GD-3-8", "加密或受密码保护的 PDF 不能归档", "encrypted PDF")
        return Decoded()
    except DECODE_ERRORS as exc:
        notes.fail("GD-3-4", "PDF 无法解析", "PDF cannot be parsed", describe(exc))
        return Decoded()
    with pdf:
        return _check_open_pdf(pdf, notes, limits)


def _check_open_pdf(pdf: pikepdf.Pdf, notes: Notes, limits: Limits) -> Decoded:
    from ingest._active import pdf_active_content  # _active builds on this module's Notes

    if pdf.is_encrypted:  # opened with the empty user password: still encrypted
        notes.fail("GD-3-8", "加密或受密码保护的 PDF 不能归档", "encrypted PDF")
    syntax = _syntax_messages(pdf)
    try:
        pages = len(pdf.pages)
    except DECODE_ERRORS as exc:
        notes.fail("GD-3-4", "PDF 页面树损坏", "PDF page tree is damaged", describe(exc))
        return Decoded()
    pdf_active_content(pdf, notes, limits.active_content)
    if pages == 0:
        notes.fail("GD-3-4", "PDF 没有任何页面", "PDF has zero pages")
    if pages_refused(notes, pages, limits):
        return Decoded()
    scan = _PdfScan(notes, limits.max_pixels)
    reported: set[str] = set()
    for scan.page_no, page in enumerate(pdf.pages, 1):
        reported |= _scan_page(pdf, page, scan)
    for message in [m for m in syntax if m not in reported][:10]:
        notes.warn("GD-3-4", "PDF 结构有误，已被自动修复或容忍", "PDF syntax problem", message)
    # Image-only: images drawn and no visible text; an invisible OCR layer still counts.
    is_scan = scan.images > 0 and not scan.visible_text
    return Decoded(
        pages=pages,
        dpi=min(scan.dpis) if is_scan and scan.dpis else None,
        color_mode=richest(scan.modes) if is_scan else None,
        is_scan=is_scan,
    )


def _syntax_messages(pdf: pikepdf.Pdf) -> list[str]:
    # check_pdf_syntax also returns the repairs qpdf made silently while opening.
    try:
        return [m.removeprefix("WARNING: ") for m in pdf.check_pdf_syntax()]
    except DECODE_ERRORS as exc:
        return [describe(exc)]


def _scan_page(pdf: pikepdf.Pdf, page: pikepdf.Page, scan: _PdfScan) -> set[str]:
    """Walk one page's content; qpdf's warnings while doing so mean it cannot render fully."""
    notes, where = scan.notes, f"第 {scan.page_no} 页"
    unit = float(page.obj.get("/UserUnit", 1))
    try:
        resources = _inherited(page.obj, "/Resources")
        _walk(page.obj, resources, (unit, 0.0, 0.0, unit, 0.0, 0.0), scan, depth=0)
        # Images in the resources are decoded too, drawn or not (get_images: pikepdf >= 10.9).
        images = page.get_images() if hasattr(page, "get_images") else page.images
        for image in images.values():
            _decode_image(image, scan)
    except DECODE_ERRORS as exc:
        notes.fail("GD-3-4", f"{where}内容无法解析", f"page {scan.page_no} cannot be parsed", describe(exc))
    problems = [m.removeprefix("WARNING: ") for m in pdf.get_warnings()]
    if problems:
        more = f" (+{len(problems) - 1})" if len(problems) > 1 else ""
        notes.fail("GD-3-4", f"{where}内容无法完整解析", f"page {scan.page_no} is damaged", problems[0] + more)
    return set(problems)


def _inherited(node: pikepdf.Object, key: str) -> pikepdf.Object | None:
    for _ in range(64):  # page trees are shallow; a /Parent loop must not spin
        if key in node:
            return node[key]
        if "/Parent" not in node:
            return None
        node = node["/Parent"]
    return None


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m × n for PDF's row-vector matrices [a b c d e f]."""
    return (
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    )


def _walk(owner: Any, resources: Any, ctm: Matrix, scan: _PdfScan, depth: int) -> None:
    """Follow q/Q/cm/Tr and Do through one content stream and the forms it draws."""
    stack: list[tuple[Matrix, int]] = []
    render = 0
    for item in pikepdf.parse_content_stream(owner, _SCAN_OPERATORS):
        if isinstance(item, pikepdf.ContentStreamInlineImage):
            _place(item.iimage, item.iimage.width, item.iimage.height, ctm, scan)
            continue
        operands, op = item.operands, str(item.operator)
        if op == "q":
            stack.append((ctm, render))
        elif op == "Q" and stack:
            ctm, render = stack.pop()
        elif op == "cm" and len(operands) == 6:
            ctm = _multiply(tuple(float(v) for v in operands), ctm)  # type: ignore[arg-type]
        elif op == "Tr" and operands:
            render = int(operands[0])
        elif op in _TEXT_SHOW and render not in _INVISIBLE_TEXT:
            scan.visible_text = True
        elif op == "Do" and operands and resources is not None:
            _draw(resources.get("/XObject", {}).get(operands[0]), resources, ctm, scan, depth)


def _draw(xobj: Any, resources: Any, ctm: Matrix, scan: _PdfScan, depth: int) -> None:
    if xobj is None:
        return
    if xobj.get("/Subtype") == "/Image":
        _place(xobj, int(xobj.get("/Width", 0)), int(xobj.get("/Height", 0)), ctm, scan)
    elif xobj.get("/Subtype") == "/Form" and depth < 12 and scan.forms < _FORM_BUDGET:
        scan.forms += 1
        if scan.forms == _FORM_BUDGET:
            scan.notes.warn("GD-3-4", "表单对象嵌套过多，未全部检查", "too many nested forms; not all checked")
        matrix = tuple(float(v) for v in xobj.get("/Matrix", [1, 0, 0, 1, 0, 0]))
        inner = xobj.get("/Resources", resources)
        _walk(xobj, inner, _multiply(matrix, ctm), scan, depth + 1)  # type: ignore[arg-type]


def _place(image: Any, width: int, height: int, ctm: Matrix, scan: _PdfScan) -> None:
    """An image fills the unit square, so the CTM's axis lengths are its size in points."""
    scan.images += 1
    across, down = math.hypot(ctm[0], ctm[1]), math.hypot(ctm[2], ctm[3])
    if across > 0 and down > 0 and width > 0 and height > 0:
        scan.dpis.append(min(width * 72 / across, height * 72 / down))
    _decode_image(image, scan)


def _decode_image(image: Any, scan: _PdfScan) -> None:
    """Decode one image XObject (once per object) or inline image under the pixel ceiling."""
    inline = isinstance(image, pikepdf.PdfInlineImage)
    if not inline:
        if image.objgen in scan.decoded and image.objgen != (0, 0):
            return
        scan.decoded.add(image.objgen)
    notes, page = scan.notes, scan.page_no
    width, height = (
        (image.width, image.height) if inline else (int(image.get("/Width", 0)), int(image.get("/Height", 0)))
    )
    if width * height > scan.max_pixels:
        notes.fail("GD-3-4", f"第 {page} 页图像{BOMB_ZH}", BOMB_EN, f"{width}×{height}")
        return
    with pillow_scope(scan.max_pixels, notes):
        try:
            pil = (image if inline else pikepdf.PdfImage(image)).as_pil_image()
            pil.load()
            scan.modes.append(colour_mode(pil.mode))
        except _IMAGE_SKIPPED as exc:
            notes.warn("GD-3-4", f"第 {page} 页有图像无法校验", f"page {page}: image not verifiable", describe(exc))
        except DECODE_ERRORS as exc:
            notes.fail("GD-3-4", f"第 {page} 页图像无法解码", f"page {page}: image cannot be decoded", describe(exc))
