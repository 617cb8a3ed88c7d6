"""Private still-image decoder behind :mod:`ingest.formats`: every frame of a TIFF, JPEG, PNG,
JPEG 2000, GIF or BMP decoded with the format's own Pillow plugin, and its stated resolution."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ingest._decode import (
    BOMB_EN,
    BOMB_ZH,
    DECODE_ERRORS,
    FILE_PIXELS_FACTOR,
    Decoded,
    Limits,
    Notes,
    colour_mode,
    describe,
    pages_refused,
    pillow_headers_only,
    pillow_scope,
    richest,
)

PIL_FORMATS = {
    "tiff": ("TIFF",),
    "jpeg": ("JPEG", "MPO"),
    "png": ("PNG",),
    "jp2": ("JPEG2000",),
    "gif": ("GIF",),
    "bmp": ("BMP", "DIB"),
}
_SCAN_KINDS = frozenset({"tiff", "jpeg", "png", "jp2"})
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


@dataclass
class _Frame:
    pixels: int
    mode: str
    dpi: list[tuple[float, float]]  # every resolution this frame states, converted to dpi


def check_image(path: Path, kind: str, notes: Notes, limits: Limits) -> Decoded:
    """Read every frame's header, then decode every frame with the format's own Pillow plugin.

    What the headers state (pages, resolution, colour mode) is reported even when the pixels
    fail to decode or exceed the ceiling: a damaged scan still states its dpi, and reporting
    it as stating none would add a false reason to the real one. A file with more frames
    than ``max_pages`` is refused before any pixel is decoded.
    """
    out = Decoded(is_scan=kind in _SCAN_KINDS)
    frames: list[_Frame] = []
    with pillow_scope(limits.max_pixels, notes):
        try:
            with Image.open(path, formats=PIL_FORMATS[kind]) as im:
                frames = _frames(im, kind, notes, limits.max_pages)
                loaded = len(frames) <= limits.max_pages and _load_frames(im, frames, notes, limits.max_pixels)
            if loaded and kind == "png":
                _verify_png(path)
        except Image.DecompressionBombError as exc:
            notes.fail("GD-3-4", BOMB_ZH, BOMB_EN, describe(exc))
            frames = frames or _refused_frames(path, kind, notes, limits.max_pages)
        except DECODE_ERRORS as exc:
            notes.fail("GD-3-4", "图像无法完整解码", "image cannot be fully decoded", describe(exc))
    if pages_refused(notes, len(frames), limits):
        return out
    if frames:
        out.pages = len(frames) if kind == "tiff" else 1
        _summarise(frames, out, notes)
    return out


def _load_frames(im: Image.Image, frames: list[_Frame], notes: Notes, max_pixels: int) -> bool:
    """Load every frame once all their sizes are checked; False when one, or all together, are over the ceiling."""
    biggest = max(frame.pixels for frame in frames)
    if biggest > max_pixels:
        notes.fail("GD-3-4", BOMB_ZH, BOMB_EN, f"{biggest} > {max_pixels} pixels")
        return False
    total = sum(frame.pixels for frame in frames)
    if total > FILE_PIXELS_FACTOR * max_pixels:  # many frames each under the ceiling: a bomb of frames
        reason = f"{len(frames)} frames, {total} > {FILE_PIXELS_FACTOR} × {max_pixels} pixels"
        notes.fail("GD-3-4", f"各页合计{BOMB_ZH}", f"{BOMB_EN} of frames", reason)
        return False
    for index in range(len(frames)):
        im.seek(index)
        im.load()
    return True


def _refused_frames(path: Path, kind: str, notes: Notes, max_pages: int) -> list[_Frame]:
    """The headers of an image Pillow refused to open as a bomb, read with its ceiling lifted.

    No pixel is decoded. Only TIFF goes past the first frame: its seek reads directories
    alone, where seeking GIF or APNG frames decodes the ones before.
    """
    try:
        with pillow_headers_only(), Image.open(path, formats=PIL_FORMATS[kind]) as im:
            if kind == "tiff":
                return _frames(im, kind, notes, max_pages)
            return [_Frame(im.size[0] * im.size[1], im.mode, _stated_dpi(im, kind, notes))]
    except DECODE_ERRORS:
        return []  # the bomb is reported; a header that will not read adds nothing


def _verify_png(path: Path) -> None:
    """load() stops once the pixels are in; verify() checks every chunk's CRC up to IEND."""
    with Image.open(path, formats=["PNG"]) as im:
        im.verify()
    with path.open("rb") as fh:
        fh.seek(-len(_PNG_IEND), os.SEEK_END)
        if fh.read() != _PNG_IEND:
            raise SyntaxError("PNG does not end with its IEND chunk (truncated, or data after IEND)")


def _frames(im: Image.Image, kind: str, notes: Notes, max_pages: int) -> list[_Frame]:
    """Size, mode and stated resolution of every frame, read before any pixel is.

    At most ``max_pages + 1`` frames are read: ``n_frames`` would walk every TIFF directory,
    and a small file can hold hundreds of thousands of them.
    """
    frames: list[_Frame] = []
    for index in range(max_pages + 1):
        try:
            im.seek(index)  # Pillow stops TIFF IFD loops itself
        except EOFError:
            break
        width, height = im.size
        frames.append(_Frame(width * height, im.mode, _stated_dpi(im, kind, notes)))
    return frames


def _stated_dpi(im: Image.Image, kind: str, notes: Notes) -> list[tuple[float, float]]:
    if kind == "tiff":  # per frame; the TIFF default unit is the inch
        tags = im.tag_v2  # type: ignore[attr-defined]
        return _pairs(_to_dpi(tags.get(282), tags.get(283), tags.get(296, 2)))
    if kind == "jpeg":
        unit, density = im.info.get("jfif_unit"), im.info.get("jfif_density") or (0, 0)
        jfif = _to_dpi(density[0], density[1], {1: 2, 2: 3}.get(unit))  # JFIF 1=inch, 2=cm
        return _pairs(jfif, _exif_dpi(im, notes))
    # PNG pHYs (per metre), JPEG 2000 res boxes, BMP: Pillow sets "dpi" only when stated.
    dpi = im.info.get("dpi")
    return _pairs(_to_dpi(dpi[0], dpi[1], 2)) if isinstance(dpi, tuple) and len(dpi) == 2 else []


def _exif_dpi(im: Image.Image, notes: Notes) -> tuple[float, float] | None:
    raw = im.info.get("exif") or b""
    if raw and raw.removeprefix(b"Exif\x00\x00")[:4] not in (b"II*\x00", b"MM\x00*"):
        notes.warn("GD-3-4", "EXIF 元数据损坏", "corrupt EXIF block", raw[:10].hex(" "))
        return None
    try:
        exif = im.getexif()
    except DECODE_ERRORS as exc:
        notes.warn("GD-3-4", "EXIF 元数据无法读取", "EXIF cannot be read", describe(exc))
        return None
    return _to_dpi(exif.get(282), exif.get(283), exif.get(296, 2))


def _to_dpi(x: Any, y: Any, unit: Any) -> tuple[float, float] | None:
    """TIFF/EXIF ResolutionUnit: 2 inch, 3 centimetre; 1 (no absolute unit) states no dpi."""
    factor = {2: 1.0, 3: 2.54}.get(unit) if isinstance(unit, int) else None
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if factor is None or not all(math.isfinite(v) and v > 0 for v in (x, y)):
        return None
    return (round(x * factor, 3), round(y * factor, 3))


def _pairs(*found: tuple[float, float] | None) -> list[tuple[float, float]]:
    return [pair for pair in found if pair is not None]


def _summarise(frames: list[_Frame], out: Decoded, notes: Notes) -> None:
    pairs = [pair for frame in frames for pair in frame.dpi]
    out.color_mode = richest([colour_mode(frame.mode) for frame in frames])
    if not pairs:
        return
    out.dpi = min(min(pair) for pair in pairs)
    if any(not frame.dpi for frame in frames):
        notes.warn("GD-3-4", "部分页面未声明分辨率", "some frames state no resolution")
    if any(abs(x - y) > 0.01 * max(x, y) for x, y in pairs):
        notes.warn("GD-3-4", "水平与垂直分辨率不一致", "horizontal and vertical dpi differ", str(pairs[0]))
