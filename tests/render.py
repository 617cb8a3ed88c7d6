"""Render Chinese test scans: pages set in Noto CJK (SC, or TC for traditional text), saved with real resolution tags.

Used by the tests, by ``examples/make_sample.py`` and by the OCR benchmarks. Pages are
laid out with CJK line breaking (no 。，、 at a line start), can be degraded like a real
scan (speckle, skew, blur) with a seeded generator so the same call always gives the same
pixels, and are saved as TIFF (Group 4 for black-and-white), JPEG (JFIF density), PNG
(pHYs) or image-only PDF sized to the physical page. :func:`save_text_pdf` writes a small
born-digital PDF with real, extractable Chinese text.

Every text in :data:`SAMPLE_DOCS` is invented for testing: the community, the people
and the numbers do not exist.
"""

from __future__ import annotations

import functools
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "SAMPLE_DOCS",
    "FontMissingError",
    "SampleDoc",
    "find_font",
    "render_page",
    "render_pages",
    "save_scan",
    "save_text_pdf",
    "wrap",
]

FONT_ENV = "DANGAN_CJK_FONT"
_FONT_DIRS = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
)
_FONT_FILES = {
    "sans": (
        "NotoSansCJK-Regular.ttc",
        "NotoSansCJKsc-Regular.otf",
        "NotoSansSC-Regular.otf",
        "NotoSansSC-Regular.ttf",
    ),
    "serif": ("NotoSerifCJK-Regular.ttc", "NotoSerifCJKsc-Regular.otf", "NotoSerifSC-Regular.otf"),
}
_NO_LINE_START = set("，。、；：！？）》」』”’…%,.;:!?)]}")
_NO_LINE_END = set("（《「『“‘([{")
_TOKEN = re.compile(r"[A-Za-z0-9@#&+\-./_]+|.", re.S)
_INK, _RED, _PAPER = (20, 20, 20), (200, 30, 30), (250, 248, 240)
#: the dates written into PDFs, so the same pages always give the same bytes
FIXED_TIME = time.strptime("2024-01-01", "%Y-%m-%d")


class FontMissingError(RuntimeError):
    """No Noto CJK font was found; tests skip on it (``apt install fonts-noto-cjk``)."""


# --- fonts -----------------------------------------------------------------------------


@functools.cache
def find_font(style: str = "sans", region: str = "SC") -> tuple[Path, int]:
    """Locate a Noto CJK font file and the index of its face for ``region``.

    Args:
        style: ``"sans"`` or ``"serif"``.
        region: ``"SC"`` (mainland glyph forms) or ``"TC"`` (Taiwan forms, as traditional
            documents are set); a single-face file serves either.

    Returns:
        The font file and the face index to pass to ``ImageFont.truetype``.

    Raises:
        FontMissingError: no suitable font is installed (set ``DANGAN_CJK_FONT`` to a file).
    """
    override = os.environ.get(FONT_ENV)
    if override and Path(override).is_file():
        return Path(override), _face_index(Path(override), region)
    names = _FONT_FILES[style]
    for folder in (Path(d).expanduser() for d in _FONT_DIRS):
        for name in names:
            if (folder / name).is_file():
                return folder / name, _face_index(folder / name, region)
    for folder in (Path(d).expanduser() for d in _FONT_DIRS):
        found = sorted(p for name in names for p in folder.rglob(name)) if folder.is_dir() else []
        if found:
            return found[0], _face_index(found[0], region)
    msg = f"找不到 Noto CJK {style} 字体，请安装 fonts-noto-cjk 或设置 {FONT_ENV} (Noto CJK font not found)"
    raise FontMissingError(msg)


def _face_index(path: Path, region: str) -> int:
    """The face of a collection named '... SC' or '... TC' (JP comes first in the Noto .ttc files)."""
    if region not in ("SC", "TC"):
        raise ValueError(f"region must be 'SC' or 'TC', not {region!r}")
    for index in range(12):
        try:
            family = ImageFont.truetype(str(path), 10, index=index).getname()[0] or ""
        except OSError:
            break
        if family.endswith(f" {region}"):
            return index
    return 0


@functools.cache
def _font(size_px: int, face: tuple[str, str]) -> ImageFont.FreeTypeFont:
    path, index = find_font(*face)
    return ImageFont.truetype(str(path), size_px, index=index)


# --- layout ----------------------------------------------------------------------------


def wrap(paragraph: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Break a paragraph into lines no wider than ``width``, CJK style.

    Any character may end a line, Latin words and numbers stay whole, closing
    punctuation hangs at the end of a line rather than starting the next, and an
    opening bracket moves down with what follows it.
    """
    lines: list[str] = []
    current, used = "", 0.0
    for token in _TOKEN.findall(paragraph):
        size = measure(token)
        if not current or used + size <= width or token[0] in _NO_LINE_START:
            current, used = current + token, used + size
            continue
        carry = current[-1] if current[-1] in _NO_LINE_END else ""
        lines.append(current[: len(current) - len(carry)].rstrip())
        current = (carry + token).lstrip()
        used = measure(current)
    lines.append(current.rstrip())
    return lines


@dataclass(frozen=True)
class _Line:
    text: str
    kind: str  # "title" (centred, larger, red in colour), "right" (落款), "body", "gap"
    height: float


def _layout(text: str, width: float, body_px: int, face: tuple[str, str]) -> list[_Line]:
    """Lines of a document: '# ' starts a title, '> ' a right-aligned line, '' a gap."""
    out: list[_Line] = []
    title_px = round(body_px * 1.5)
    for raw in text.splitlines():
        if raw.startswith("# "):
            font = _font(title_px, face)
            out += [_Line(t, "title", title_px * 1.8) for t in wrap(raw[2:], width, font.getlength)]
        elif raw.startswith("> "):
            out.append(_Line(raw[2:], "right", body_px * 1.6))
        elif not raw.strip():
            out.append(_Line("", "gap", body_px * 0.8))
        else:
            font = _font(body_px, face)
            out += [_Line(t, "body", body_px * 1.6) for t in wrap(raw, width, font.getlength)]
    return out


def _paginate(lines: list[_Line], height: float) -> list[list[_Line]]:
    pages: list[list[_Line]] = [[]]
    used = 0.0
    for line in lines:
        if used + line.height > height and pages[-1]:
            if line.kind == "gap":
                continue
            pages.append([])
            used = 0.0
        pages[-1].append(line)
        used += line.height
    return pages


# --- drawing and degrading -------------------------------------------------------------


def _draw(
    lines: list[_Line], size: tuple[int, int], margin: int, body_px: int, face: tuple[str, str], colour: bool
) -> Image.Image:
    paper, ink, red = (_PAPER, _INK, _RED) if colour else ((255,) * 3, (0,) * 3, (0,) * 3)
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    y = float(margin)
    for line in lines:
        if line.kind == "title":
            font = _font(round(body_px * 1.5), face)
            x = (size[0] - font.getlength(line.text)) / 2
            draw.text((x, y), line.text, font=font, fill=red)
        elif line.kind in {"body", "right"}:
            font = _font(body_px, face)
            x = size[0] - margin - font.getlength(line.text) if line.kind == "right" else margin
            draw.text((x, y), line.text, font=font, fill=ink)
        y += line.height
    return image


def _speckle(image: Image.Image, amount: float, rng: random.Random, paper: float | tuple[int, ...]) -> Image.Image:
    """Turn about ``amount`` of the pixels into dust (dark) or dropouts (light)."""
    threshold = max(0, min(255, round(amount * 128)))
    noise = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height))
    dust = _INK if image.mode == "RGB" else 0
    image.paste(dust, mask=noise.point(lambda v: 255 if v < threshold else 0))
    image.paste(paper, mask=noise.point(lambda v: 255 if v >= 256 - threshold else 0))
    return image


def _degrade(image: Image.Image, noise: float, skew_deg: float, blur: float, rng: random.Random) -> Image.Image:
    """Make a clean page look scanned: skew first, then blur, then specks on top."""
    paper = image.getpixel((0, 0))
    if skew_deg:
        image = image.rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=paper)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        image = _speckle(image, noise, rng, paper)
    return image


def render_pages(
    text: str,
    *,
    dpi: int = 300,
    size_mm: tuple[float, float] = (210, 297),
    mode: str = "1",
    noise: float = 0,
    skew_deg: float = 0,
    blur: float = 0,
    font_size_pt: float = 12,
    seed: int = 0,
    style: str = "sans",
    region: str = "SC",
) -> list[Image.Image]:
    """Set a document on as many pages as it needs.

    Args:
        text: the document; a line starting with ``# `` is a centred title (red in
            colour), ``> `` a right-aligned line (signature, date), a blank line a gap.
        dpi: the scan resolution; the page is ``size_mm`` at this resolution.
        size_mm: page width and height in millimetres (A4 by default; A5 is 148×210).
        mode: ``'1'`` black-and-white, ``'L'`` grey or ``'RGB'`` colour (tinted paper).
        noise: share of pixels turned into specks, 0–1 (0.002 looks like a dusty glass).
        skew_deg: rotation in degrees, as from a crooked feed.
        blur: Gaussian blur radius in pixels.
        font_size_pt: body text size in points (titles are 1.5 times larger).
        seed: seeds the noise; the same arguments always give the same pixels.
        style: ``'sans'`` (Noto Sans CJK) or ``'serif'`` (Noto Serif CJK).
        region: the glyph forms, ``'SC'`` or ``'TC'``; traditional pages from Taiwan, Hong
            Kong or older files are set in TC forms (戶 with its top stroke, 為 not 爲).

    Returns:
        The pages; each ``info`` holds ``dpi`` and ``ground_truth`` (its text, for OCR).

    Raises:
        FontMissingError: no Noto CJK font is installed.
    """
    if mode not in {"1", "L", "RGB"}:
        raise ValueError(f"mode must be '1', 'L' or 'RGB', not {mode!r}")
    size = (round(size_mm[0] / 25.4 * dpi), round(size_mm[1] / 25.4 * dpi))
    margin = round(min(size_mm) * 0.12 / 25.4 * dpi)
    body_px = max(4, round(font_size_pt / 72 * dpi))
    face = (style, region)
    lines = _layout(text, size[0] - 2 * margin, body_px, face)
    pages = []
    for number, page in enumerate(_paginate(lines, size[1] - 2 * margin)):
        image = _draw(page, size, margin, body_px, face, colour=mode == "RGB")
        image = image if mode == "RGB" else image.convert("L")
        image = _degrade(image, noise, skew_deg, blur, random.Random(seed * 1009 + number))
        if mode == "1":
            image = image.convert("1", dither=Image.Dither.NONE)
        image.info["dpi"] = (dpi, dpi)
        image.info["ground_truth"] = "\n".join(line.text for line in page if line.kind != "gap")
        pages.append(image)
    return pages


def render_page(
    text: str,
    *,
    dpi: int = 300,
    size_mm: tuple[float, float] = (210, 297),
    mode: str = "1",
    noise: float = 0,
    skew_deg: float = 0,
    blur: float = 0,
    font_size_pt: float = 12,
    seed: int = 0,
    style: str = "sans",
    region: str = "SC",
) -> Image.Image:
    """Render a short document as one page image; the arguments are those of :func:`render_pages`.

    Raises:
        ValueError: the text needs more than one page (use :func:`render_pages`).
    """
    options = {"noise": noise, "skew_deg": skew_deg, "blur": blur, "font_size_pt": font_size_pt}
    pages = render_pages(text, dpi=dpi, size_mm=size_mm, mode=mode, seed=seed, style=style, region=region, **options)
    if len(pages) > 1:
        raise ValueError(f"text needs {len(pages)} pages; use render_pages()")
    return pages[0]


# --- saving ----------------------------------------------------------------------------

_FORMATS = {"tif": "tiff", "tiff": "tiff", "jpg": "jpeg", "jpeg": "jpeg", "png": "png", "pdf": "pdf"}


def save_scan(
    images: Image.Image | Sequence[Image.Image],
    path: Path,
    fmt: str | None = None,
    dpi: float | None = None,
    *,
    quality: int = 75,
) -> list[Path]:
    """Save pages as a scan with real resolution tags.

    TIFF and PDF hold every page in one file (TIFF in Group 4 when all pages are
    black-and-white, LZW otherwise; PDF sized so each page has its physical size).
    JPEG and PNG hold one page each: several pages become ``name-001.jpg``, ``name-002.jpg``.

    Args:
        images: one page or several.
        path: the file to write (its suffix gives the format unless ``fmt`` is given).
        fmt: ``tiff``, ``jpeg``, ``png`` or ``pdf``.
        dpi: the resolution to state; defaults to the first page's ``info['dpi']``, else 300.
        quality: JPEG quality (JPEG files only; grey and colour PDF pages use Pillow's 75).

    Returns:
        The files written.
    """
    pages = [images] if isinstance(images, Image.Image) else list(images)
    path = Path(path)
    kind = _FORMATS[(fmt or path.suffix.lstrip(".")).lower()]
    res = float(dpi or pages[0].info.get("dpi", (300, 300))[0])
    if kind == "tiff":
        compression = "group4" if all(p.mode == "1" for p in pages) else "tiff_lzw"
        options: dict[str, object] = {"compression": compression, "dpi": (res, res)}
        return [_save_all(pages, path, "TIFF", options)]
    if kind == "pdf":
        # no quality here: Pillow hands it to the Group 4 encoder of '1' pages too, which refuses it
        options = {"resolution": res, "creationDate": FIXED_TIME, "modDate": FIXED_TIME}
        return [_save_all([_pdf_ready(p) for p in pages], path, "PDF", options)]
    targets = (
        [path]
        if len(pages) == 1
        else [path.with_name(f"{path.stem}-{n:03d}{path.suffix}") for n in range(1, len(pages) + 1)]
    )
    for page, target in zip(pages, targets, strict=True):
        if kind == "jpeg":
            page = page.convert("L") if page.mode == "1" else page
            page.save(target, "JPEG", dpi=(res, res), quality=quality, optimize=True)
        else:
            page.save(target, "PNG", dpi=(res, res), optimize=True)
    return targets


def _save_all(pages: list[Image.Image], path: Path, fmt: str, options: dict[str, object]) -> Path:
    pages[0].save(path, fmt, save_all=True, append_images=pages[1:], **options)
    return path


def _pdf_ready(page: Image.Image) -> Image.Image:
    return page if page.mode in {"1", "L", "RGB"} else page.convert("RGB")


# --- born-digital text PDF -------------------------------------------------------------


def _cjk_width(token: str) -> float:
    """Advance of a token in em: Adobe-GB1 gives ASCII half-width glyphs, the rest full."""
    return sum(0.5 if ord(ch) < 0x80 else 1.0 for ch in token)


def _to_unicode_cmap(text: str) -> bytes:
    """A ToUnicode CMap for 2-byte UCS-2 codes, one range per high byte in use."""
    highs = sorted({ord(ch) >> 8 for ch in text})
    blocks = []
    for start in range(0, len(highs), 100):
        chunk = highs[start : start + 100]
        ranges = "\n".join(f"<{h:02X}00> <{h:02X}FF> <{h:02X}00>" for h in chunk)
        blocks.append(f"{len(chunk)} beginbfrange\n{ranges}\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def save_text_pdf(text: str, path: Path, *, size_mm: tuple[float, float] = (148, 210), font_size_pt: float = 11) -> int:
    """Write a born-digital PDF whose Chinese text can be extracted; returns the page count.

    The font is the standard Adobe-GB1 ``STSong-Light`` referenced, not embedded (so the
    file stays a few kilobytes), with a ToUnicode map for text extraction. The same
    markup as :func:`render_page` applies ('# ' title, '> ' right-aligned line).
    """
    text = "".join(ch if ord(ch) < 0x10000 else "?" for ch in text)
    width, height = size_mm[0] / 25.4 * 72, size_mm[1] / 25.4 * 72
    margin = min(width, height) * 0.12
    lines = _text_lines(text, width - 2 * margin, font_size_pt)
    pdf = pikepdf.new()
    font = _song_font(pdf, text)
    per_page = max(1, int((height - 2 * margin) // (font_size_pt * 1.6)))
    for start in range(0, len(lines), per_page):
        stream = _text_stream(lines[start : start + per_page], width, height, margin, font_size_pt)
        page = pdf.add_blank_page(page_size=(width, height))
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.Contents = pdf.make_stream(stream)
    title = next((ln[2:] for ln in text.splitlines() if ln.startswith("# ")), Path(path).stem)
    pdf.docinfo["/Title"] = title
    pdf.docinfo["/CreationDate"] = time.strftime("D:%Y%m%d%H%M%SZ", FIXED_TIME)
    pdf.save(path, deterministic_id=True)
    return len(pdf.pages)


def _text_lines(text: str, width: float, size: float) -> list[tuple[str, str, float]]:
    """(kind, text, font size) per line, wrapped to ``width`` points."""
    out: list[tuple[str, str, float]] = []
    for raw in text.splitlines():
        kind, body, pt = "body", raw, size
        if raw.startswith("# "):
            kind, body, pt = "title", raw[2:], size * 1.4
        elif raw.startswith("> "):
            kind, body = "right", raw[2:]
        out += [(kind, line, pt) for line in wrap(body, width, lambda t, pt=pt: _cjk_width(t) * pt)]
    return out


def _text_stream(lines: list[tuple[str, str, float]], width: float, height: float, margin: float, size: float) -> bytes:
    ops = ["BT"]
    y = height - margin - size
    for kind, line, pt in lines:
        if not line:
            y -= size * 1.6
            continue
        advance = _cjk_width(line) * pt
        x = (width - advance) / 2 if kind == "title" else width - margin - advance if kind == "right" else margin
        ops.append(f"/F1 {pt:.2f} Tf 1 0 0 1 {x:.2f} {y:.2f} Tm <{line.encode('utf-16-be').hex().upper()}> Tj")
        y -= size * 1.6
    ops.append("ET")
    return "\n".join(ops).encode("ascii")


def _song_font(pdf: pikepdf.Pdf, text: str) -> pikepdf.Object:
    """A Type0 font on the non-embedded Adobe-GB1 STSong-Light, with ToUnicode."""
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=pikepdf.Name("/STSong-Light"),
        Flags=6,
        FontBBox=[-25, -254, 1000, 880],
        ItalicAngle=0,
        Ascent=880,
        Descent=-120,
        CapHeight=880,
        StemV=93,
    )
    cid_font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType0,
        BaseFont=pikepdf.Name("/STSong-Light"),
        CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="GB1", Supplement=2),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=1000,
        W=[1, 95, 500],
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=pikepdf.Name("/STSong-Light"),
            Encoding=pikepdf.Name("/UniGB-UCS2-H"),
            DescendantFonts=[pdf.make_indirect(cid_font)],
            ToUnicode=pdf.make_stream(_to_unicode_cmap(text)),
        )
    )


# --- invented community records --------------------------------------------------------


@dataclass(frozen=True)
class SampleDoc:
    """One invented record with the catalogue columns it would carry (DA/T 22)."""

    key: str
    title: str
    author: str
    date: str  # YYYYMMDD
    doc_number: str
    retention: str  # Y / D30 / D10
    text: str  # markup as for render_page


_CMTE = "示例市和平区振兴社区居民委员会"
_NOTE = "（本文为测试用虚构文本，人物与数据均不存在）"

SAMPLE_DOCS: tuple[SampleDoc, ...] = (
    SampleDoc(
        "garbage", "关于开展垃圾分类宣传活动的通知", _CMTE, "20230310", "振社〔2023〕3号", "D10",
        "# 关于开展垃圾分类宣传活动的通知\n\n各居民小组、辖区各单位：\n"
        "　　为做好生活垃圾分类工作，社区定于2023年3月18日（星期六）上午9时在文化广场开展宣传活动，"
        "现场讲解厨余垃圾、可回收物、有害垃圾和其他垃圾的投放方法，并发放分类垃圾袋。\n"
        "　　请各居民小组长组织本组居民参加，每户至少一人。志愿者请于8时30分到场。\n"
        "　　联系人：刘晓燕，电话：0000-1234567。\n\n"
        f"> {_CMTE}\n> 2023年3月10日\n\n{_NOTE}",
    ),
    SampleDoc(
        "meeting", "2023年第二季度居民代表会议记录", _CMTE, "20230628", "", "D30",
        "# 2023年第二季度居民代表会议记录\n\n时间：2023年6月28日下午2时30分\n地点：社区党群服务中心二楼会议室\n"
        "主持人：陈建国　　记录人：周丽\n应到代表35人，实到31人。\n\n一、议题\n"
        "　　1. 通报上半年社区工作情况；2. 讨论老旧小区加装电梯意见征集；3. 商议夏季防汛值班安排。\n\n二、讨论情况\n"
        "　　代表赵卫东提出，3号楼一单元多数住户同意加装电梯，但一楼住户担心采光，建议请设计单位现场说明。"
        "代表孙美华建议在小区南门增设非机动车停放区。代表钱志强反映，雨季地下车库入口积水，需提前准备沙袋。\n\n"
        "三、会议决定\n　　（一）由社区联系街道城建科，7月15日前组织加装电梯现场说明会；\n"
        "　　（二）防汛值班自7月1日起执行，名单另行公布；\n　　（三）非机动车停放区设置方案提交下次会议讨论。\n\n"
        f"> 记录人：周丽\n> 2023年6月28日\n\n{_NOTE}",
    ),
    SampleDoc(
        "dibao", "最低生活保障申请书（王秀英）", "王秀英", "20230415", "", "D30",
        "# 最低生活保障申请书\n\n振兴社区居民委员会：\n"
        "　　本人王秀英，女，1961年生，身份证号3201**********0000，住和平区振兴路88号2幢301室。"
        "本人于2022年退休后仅有少量养老金，丈夫长期患病需要治疗，家庭月收入低于本市最低生活保障标准。\n"
        "　　现申请最低生活保障，本人承诺所报家庭收入、财产情况真实，同意有关部门依法核查。\n\n"
        "　　附：户口簿复印件、收入证明、病历复印件。\n\n"
        f"> 申请人：王秀英\n> 2023年4月15日\n\n{_NOTE}",
    ),
    SampleDoc(
        "election", "关于社区居民委员会换届选举工作安排的公告", _CMTE, "20230801", "振社〔2023〕7号", "Y",
        "# 关于社区居民委员会换届选举工作安排的公告\n\n"
        "　　根据上级有关换届工作的部署，本社区第十二届居民委员会换届选举工作现已启动，有关事项公告如下：\n"
        "　　一、选民登记时间为2023年8月5日至8月12日，登记地点为社区服务大厅。\n"
        "　　二、候选人提名采取居民小组推荐方式，推荐表于8月15日前交社区选举委员会。\n"
        "　　三、正式选举日定于2023年9月2日，投票时间为上午8时至下午4时。\n"
        f"　　对选举工作有疑问的，请向社区选举委员会咨询。\n\n> {_CMTE}\n> 2023年8月1日\n\n{_NOTE}",
    ),
    SampleDoc(
        "summary", "2023年度社区工作总结", _CMTE, "20231225", "振社〔2023〕12号", "Y",
        "# 2023年度社区工作总结\n\n"
        "　　2023年，社区居委会围绕为民服务主线，重点做好以下工作。\n"
        "　　一、民生保障。全年走访困难家庭46户次，协助办理最低生活保障新申请5件、复核27件。\n"
        "　　二、环境整治。开展垃圾分类宣传活动6场，清理楼道堆放物120余处，新增非机动车停放区2处。\n"
        "　　三、居民自治。召开居民代表会议4次，完成第十二届居委会换届选举，参选率92.6%。\n"
        "　　四、存在不足。老旧小区加装电梯推进较慢，社区档案数字化工作刚刚起步。\n"
        "　　2024年，社区将继续做好档案规范化管理，完成历年纸质档案扫描。\n\n"
        f"> {_CMTE}\n> 2023年12月25日\n\n{_NOTE}",
    ),
    SampleDoc(
        "visit", "困难家庭走访情况记录", _CMTE, "20231120", "", "D10",
        "# 困难家庭走访情况记录\n\n走访时间：2023年11月20日　　走访人：周丽、吴海涛\n"
        "走访对象：李德明（独居老人，82岁）\n"
        "　　情况：老人身体状况稳定，冬季取暖设备正常，希望社区帮助联系上门理发服务。\n"
        f"　　处理：已登记需求，转社区志愿服务队安排。\n\n{_NOTE}",
    ),
    SampleDoc(
        "mediation", "人民调解协议书", "振兴社区人民调解委员会", "20230905", "振调〔2023〕2号", "D30",
        "# 人民调解协议书\n\n当事人：郑某某（5幢402室）、冯某某（5幢302室）\n"
        "纠纷事项：楼上卫生间渗水致楼下天花板受损。\n"
        "　　经调解，双方自愿达成如下协议：郑某某于9月20日前请专业人员修复防水层，并承担楼下天花板修补费用800元。\n"
        f"　　本协议一式三份，双方当事人及调解委员会各执一份。\n\n> 2023年9月5日\n\n{_NOTE}",
    ),
)  # fmt: skip
