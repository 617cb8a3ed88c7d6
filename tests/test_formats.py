"""ingest.formats: PRONOM identification and full decoding of one file.

Every file of the shared image and PDF corpora runs through ``inspect_file`` with the
outcome its MANIFEST.md states (decisions where the manifest leaves a choice are marked
below). Other hostile files are made on the spot: bombs, zip bombs, DTDs in OOXML parts,
truncated streams inside PDF pages.
"""

from __future__ import annotations

import functools
import io
import os
import random
import re
import struct
import threading
import wave
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]
from types import SimpleNamespace

import pikepdf
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from archive.errors import MissingDependencyError
from archive.model import FileEntry, ItemMetadata, Verdict
from ingest import _package, _pronom, formats
from ingest.checks import scan_resolution_findings
from ingest.formats import Inspection, identify, inspect_file

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
IMAGES, PDFS = CORPORA / "images", CORPORA / "pdfs"
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"shared corpora not found at {CORPORA}")

CLEAN, VALID = "clean", "valid"  # clean: no finding at all; valid: no failure (warnings allowed)
# From images/MANIFEST.md and pdfs/MANIFEST.md: VALID and VALID (warn) may not fail;
# INVALID must fail with the code given here.
EXPECTED = {
    "hopper.jpg": CLEAN,
    "hopper.png": CLEAN,
    "hopper.tif": CLEAN,
    "hopper_g4.tif": CLEAN,
    "hopper_float_dpi_3.tif": CLEAN,
    "multipage.tiff": CLEAN,
    "multipage_multiple_frame_loop.tiff": VALID,  # VALID (warn): must not hang
    "pil_sample_cmyk.jpg": CLEAN,
    "tiff_16bit_RGB.tiff": CLEAN,
    "photoshop-200dpi.jpg": CLEAN,
    "exif-200dpcm.jpg": CLEAN,
    "no-dpi-in-exif.jpg": CLEAN,
    "invalid-exif.jpg": VALID,  # VALID (warn): corrupt EXIF is reported
    "jfif_unit_cm.jpg": VALID,  # non-square dpi is reported
    "truncated_jpeg.jpg": "GD-3-4",
    "truncated_image.png": "GD-3-4",
    "truncated_end_chunk.png": "GD-3-4",
    "broken.png": "GD-3-4",
    "broken_data_stream.png": "GD-3-4",
    "pngtest_bad.png.bin": "GD-3-3",  # no signature matches; ".bin" says nothing
    "decompression_bomb.gif": "GD-3-4",
    "libtiff_segfault.tif": "GD-3-4",
    "seek_too_large.tif": "GD-3-4",
    "crash-86214e58da443d2b80820cff9677a38a33dcbbca.tif": "GD-3-4",
    "pikepdf_fourpages.pdf": CLEAN,
    "pikepdf_congress.pdf": CLEAN,
    "pikepdf_sandwich.pdf": CLEAN,
    "pikepdf_graph-encrypted.pdf": "GD-3-8",
    # Decision: the manifest allows "INVALID if strict"; a page whose content cannot be
    # parsed is a failure here, so this file fails.
    "pikepdf_content-stream-errors.pdf": "GD-3-4",
    "pikepdf_invalid_creationdate.pdf": VALID,
    "qpdf_bad1.pdf": "GD-3-4",
    "qpdf_xref-errors.pdf": VALID,
    "qpdf_empty.pdf": "GD-3-4",
    "verapdf_A-1b_6-1-2-t01-pass-a.pdf": CLEAN,
    # Decision: PDF/A conformance needs veraPDF and is not this module's job. These fail
    # only as PDF/A, and each is a readable PDF; the damaged xref of 6-1-2 warns.
    "verapdf_A-1b_6-1-2-t01-fail-a.pdf": VALID,
    "verapdf_A-1b_6-1-3-t01-fail-a.pdf": VALID,
    "verapdf_A-1b_6-1-4-t02-fail-b.pdf": VALID,
    "verapdf_A-2b_6-6-4-t01-fail-a.pdf": VALID,
    "verapdf_A-2b_6-1-3-t02-fail-a.pdf": "GD-3-8",  # Encrypt in the trailer, empty user password
}
MUST_WARN = {"invalid-exif.jpg", "jfif_unit_cm.jpg", "qpdf_xref-errors.pdf", "verapdf_A-1b_6-1-2-t01-fail-a.pdf"}


def corpus_files() -> list[Path]:
    """Every data file of the two corpora (not the manifests or licences)."""
    found = [
        p
        for folder in (IMAGES, PDFS)
        if folder.is_dir()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "MANIFEST.md" and not p.name.startswith("LICENSE")
    ]
    return found or [pytest.param(None, marks=pytest.mark.skip(reason=f"shared corpora not found at {CORPORA}"))]


def failures(result: Inspection) -> list[str]:
    return [f.code for f in result.findings if f.failed]


def warnings_of(result: Inspection) -> list[str]:
    return [f.code for f in result.findings if f.verdict is Verdict.warning]


def inspect(path: Path, **kwargs: int | str) -> Inspection:
    return inspect_file(path, path.name, **kwargs)


# --- the corpora -------------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_corpus_outcome(path: Path) -> None:
    assert path.name in EXPECTED, f"{path.name} is new in the corpus: decide its outcome in EXPECTED"
    result = inspect(path)
    expected = EXPECTED[path.name]
    assert all(f.verdict in (Verdict.failed, Verdict.warning) for f in result.findings)
    if expected == CLEAN:
        assert result.findings == []
    elif expected == VALID:
        assert failures(result) == []
    else:
        assert expected in failures(result)
    if path.name in MUST_WARN:
        assert warnings_of(result)
    for finding in result.findings:  # Chinese first, English in parentheses, the file named
        assert finding.message.startswith(f"「{path.name}」") and finding.message.endswith(")")
        assert str(path.parent) not in finding.message  # no staging paths leak into reports


@needs_corpora
@pytest.mark.parametrize(
    ("name", "dpi"),
    [
        ("hopper.tif", 96.0),
        ("hopper.png", 95.987),
        ("hopper_float_dpi_3.tif", 184.912),  # ResolutionUnit = cm
        ("photoshop-200dpi.jpg", 200.0),  # EXIF only
        ("exif-200dpcm.jpg", 508.0),  # EXIF in dots per cm
        ("jfif_unit_cm.jpg", 2.54),  # JFIF cm, non-square: the lower one
        ("pil_sample_cmyk.jpg", 72.0),  # really stated in EXIF
        ("no-dpi-in-exif.jpg", None),  # Pillow says 72; the file says nothing
        ("invalid-exif.jpg", None),
        ("multipage.tiff", None),
    ],
)
def test_stated_dpi(name: str, dpi: float | None) -> None:
    result = inspect(IMAGES / name)
    assert result.dpi == (pytest.approx(dpi, abs=0.01) if dpi else None)


@needs_corpora
def test_image_facts() -> None:
    multipage = inspect(IMAGES / "multipage.tiff")
    assert (multipage.pages, multipage.dpi, multipage.color_mode) == (3, None, "彩色")
    g4 = inspect(IMAGES / "hopper_g4.tif")
    assert (g4.color_mode, g4.pages, g4.is_scan_format, g4.puid) == ("黑白二值", 1, True, "fmt/353")
    assert inspect(IMAGES / "jfif_unit_cm.jpg").color_mode == "灰度"
    assert inspect(IMAGES / "hopper.jpg").mime == "image/jpeg"
    assert inspect(IMAGES / "decompression_bomb.gif").is_scan_format is False


@needs_corpora
def test_pdf_facts() -> None:
    four = inspect(PDFS / "pikepdf_fourpages.pdf")
    assert (four.pages, four.is_scan_format, four.dpi, four.color_mode) == (4, False, None, None)
    congress = inspect(PDFS / "pikepdf_congress.pdf")  # 1000×1520 px drawn at 200×304 pt
    assert congress.is_scan_format and congress.dpi == pytest.approx(360.0)
    assert congress.color_mode == "彩色"
    # Decision: an invisible OCR layer (Tr 3) does not make a scan born-digital.
    sandwich = inspect(PDFS / "pikepdf_sandwich.pdf")
    assert sandwich.is_scan_format and sandwich.dpi == pytest.approx(300.0) and sandwich.color_mode == "黑白二值"
    assert failures(inspect(PDFS / "pikepdf_graph-encrypted.pdf")) == ["GD-3-8"]
    assert "GD-3-8" in failures(inspect(PDFS / "verapdf_A-2b_6-1-3-t02-fail-a.pdf"))
    empty = inspect(PDFS / "qpdf_empty.pdf")
    assert empty.pages == 0 and failures(empty) == ["GD-3-4"]


@needs_corpora
def test_content_stream_errors_name_each_damaged_page() -> None:
    messages = [f.message for f in inspect(PDFS / "pikepdf_content-stream-errors.pdf").findings if f.failed]
    assert [m.split("」")[1][:5] for m in messages] == ["第 1 页", "第 3 页", "第 4 页"]


@needs_corpora
def test_identify_uses_signatures() -> None:
    assert identify(IMAGES / "hopper.png") == ("fmt/11", "Portable Network Graphics", "image/png")
    assert identify(PDFS / "pikepdf_sandwich.pdf")[0] == "fmt/477"  # PDF/A-2b by its XMP signature


@needs_corpora
def test_identify_is_thread_safe() -> None:
    paths = [p for p in corpus_files() if isinstance(p, Path)]
    serial = [identify(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(identify, paths * 2)) == serial * 2


# --- images made here --------------------------------------------------------------------


@needs_corpora
def test_pixel_ceiling_is_a_bomb_and_leaves_pillow_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    result = inspect(IMAGES / "hopper.png", max_pixels=100)
    assert failures(result) == ["GD-3-4"]
    assert "解压缩炸弹" in result.findings[0].message and "bomb" in result.findings[0].message
    assert Image.MAX_IMAGE_PIXELS == before


def test_every_frame_is_checked_against_the_ceiling(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    small, big = Image.new("L", (10, 10)), Image.new("L", (100, 100))
    small.save(path, save_all=True, append_images=[small, big], dpi=(300, 300))
    assert inspect(path).pages == 3
    assert failures(inspect(path, max_pixels=5_000)) == ["GD-3-4"]


def _tiff_pages(path: Path, pages: list[tuple[Image.Image, float | None]]) -> Path:
    """A multi-page TIFF whose pages state different resolutions (or none)."""
    with TiffImagePlugin.AppendingTiffWriter(str(path), True) as out:
        for image, dpi in pages:
            image.save(out, format="TIFF", **({"dpi": (dpi, dpi)} if dpi else {}))
            out.newFrame()
    return path


def test_multipage_tiff_dpi_is_the_lowest_page(tmp_path: Path) -> None:
    path = _tiff_pages(tmp_path / "mixed.tif", [(Image.new("1", (20, 20)), 300), (Image.new("RGB", (20, 20)), 150)])
    result = inspect(path)
    assert (result.pages, result.dpi, result.color_mode, result.findings) == (2, 150.0, "彩色", [])
    partly = inspect(
        _tiff_pages(tmp_path / "partly.tif", [(Image.new("L", (20, 20)), 300), (Image.new("L", (20, 20)), None)])
    )
    assert (partly.dpi, partly.color_mode, failures(partly), warnings_of(partly)) == (300.0, "灰度", [], ["GD-3-4"])


def _lzw_tiff(path: Path) -> Path:
    """A 200×200 grey LZW TIFF stating 300 dpi; noise, so its one strip is long enough to damage."""
    noise = random.Random(33190).randbytes(200 * 200)
    Image.frombytes("L", (200, 200), noise).save(path, compression="tiff_lzw", dpi=(300, 300))
    return path


def test_corrupt_pixels_keep_the_stated_dpi(tmp_path: Path) -> None:
    path = _lzw_tiff(tmp_path / "scan.tif")
    with Image.open(path) as im:
        start, length = im.tag_v2[273][0], im.tag_v2[279][0]
    data = bytearray(path.read_bytes())
    data[start + 10 : start + length - 10] = b"\xff" * (length - 20)  # LZW codes not yet in the table
    path.write_bytes(bytes(data))
    result = inspect(path)
    assert "GD-3-4" in failures(result)  # Pillow's decoder error, and libtiff's own report
    # The header states 300 dpi whatever the pixels: no false "states no resolution" follows.
    assert (result.dpi, result.pages, result.color_mode, result.is_scan_format) == (300.0, 1, "灰度", True)
    entry = FileEntry(path.name, path.stat().st_size, "", "", pages=result.pages, dpi=result.dpi)
    meta = ItemMetadata("J012", "振兴社区居民委员会", "WS", 2023, "D30", "扫描件", carrier="纸质")
    assert scan_resolution_findings(meta, [entry], {path.name}, 200) == []


# 100: Pillow refuses the file at open (over twice the ceiling); 30,000: our own check before load.
@pytest.mark.parametrize("max_pixels", [100, 30_000])
def test_image_over_the_ceiling_keeps_the_stated_dpi(tmp_path: Path, max_pixels: int) -> None:
    before = Image.MAX_IMAGE_PIXELS
    result = inspect(_lzw_tiff(tmp_path / "big.tif"), max_pixels=max_pixels)
    assert set(failures(result)) == {"GD-3-4"} and "bomb" in result.findings[0].message
    assert (result.dpi, result.pages, result.color_mode) == (300.0, 1, "灰度")
    assert Image.MAX_IMAGE_PIXELS == before


def test_refused_multipage_tiff_reports_every_page_header(tmp_path: Path) -> None:
    path = _tiff_pages(tmp_path / "pages.tif", [(Image.new("L", (100, 100)), 300), (Image.new("L", (10, 10)), 150)])
    result = inspect(path, max_pixels=1000)  # the first page alone is over twice the ceiling
    assert failures(result) == ["GD-3-4"] and (result.pages, result.dpi) == (2, 150.0)


@needs_corpora
def test_corrupt_g4_data_reported_by_libtiff_fails(tmp_path: Path) -> None:
    with Image.open(IMAGES / "hopper_g4.tif") as im:
        start, length = im.tag_v2[273][0], im.tag_v2[279][0]
    data = bytearray((IMAGES / "hopper_g4.tif").read_bytes())
    data[start + length // 3 : start + length // 3 + 40] = b"\xff" * 40
    path = tmp_path / "bad_g4.tif"
    path.write_bytes(bytes(data))
    result = inspect(path)  # Pillow loads it without complaint; libtiff prints "Bad code word"
    assert "GD-3-4" in failures(result)
    assert any("Bad code word" in (f.found or "") for f in result.findings)


@needs_corpora
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=30604))
@example(cut=8)  # the signature alone
@example(cut=30604)  # one byte short of the IEND CRC: load() alone accepts it
def test_truncated_png_never_raises_and_always_fails(tmp_path: Path, cut: int) -> None:
    data = (IMAGES / "hopper.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[:cut])
    assert failures(inspect(path))


# --- PDFs made here ----------------------------------------------------------------------


def _image_pdf(path: Path, image: bytes, *, text: bool = False) -> Path:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(200, 200))
    xobj = pikepdf.Stream(pdf, image)
    xobj.Type, xobj.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    xobj.Width, xobj.Height, xobj.BitsPerComponent = 128, 128, 8
    xobj.ColorSpace, xobj.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=xobj), Font=pikepdf.Dictionary(F1=font))
    words = b" BT /F1 12 Tf 10 10 Td (hello) Tj ET" if text else b""
    page.Contents = pdf.make_stream(b"q 200 0 0 200 0 0 cm /Im0 Do Q" + words)
    pdf.save(path)
    return path


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (128, 128), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_image_only_pdf_dpi_from_placement(tmp_path: Path) -> None:
    result = inspect(_image_pdf(tmp_path / "scan.pdf", _jpeg()))
    assert result.findings == [] and result.is_scan_format
    assert result.dpi == pytest.approx(128 / (200 / 72)) and result.color_mode == "彩色"
    text = inspect(_image_pdf(tmp_path / "text.pdf", _jpeg(), text=True))
    assert (text.is_scan_format, text.dpi, text.color_mode) == (False, None, None)


def test_truncated_image_stream_in_a_page_fails(tmp_path: Path) -> None:
    result = inspect(_image_pdf(tmp_path / "cut.pdf", _jpeg()[:400]))
    assert failures(result) == ["GD-3-4"]
    assert "第 1 页" in result.findings[0].message
    # Still a scan, and its dpi comes from the placement, which needs no pixel.
    assert result.is_scan_format and result.dpi == pytest.approx(128 / (200 / 72))


def test_pdf_image_over_the_ceiling_is_not_decoded(tmp_path: Path) -> None:
    result = inspect(_image_pdf(tmp_path / "big.pdf", _jpeg()), max_pixels=1000)
    assert failures(result) == ["GD-3-4"] and "bomb" in result.findings[0].message
    assert result.is_scan_format and result.dpi == pytest.approx(128 / (200 / 72))


def test_encrypted_pdf_with_empty_user_password_fails(tmp_path: Path) -> None:
    path = _image_pdf(tmp_path / "plain.pdf", _jpeg())
    with pikepdf.open(path) as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="owner", user=""))
    assert failures(inspect(tmp_path / "locked.pdf")) == ["GD-3-8"]


# --- office packages, text, XML ------------------------------------------------------------

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
    '2006/main"><w:body><w:p><w:r><w:t>居民委员会</w:t></w:r></w:p></w:body></w:document>'
)


def _docx(path: Path, document: str | None = DOCUMENT, **extra: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        if document is not None:
            archive.writestr("word/document.xml", document)
        for name, data in extra.items():
            archive.writestr(name, data)
    return path


def test_docx_and_xlsx_identified_by_container(tmp_path: Path) -> None:
    docx = inspect(_docx(tmp_path / "会议纪要.docx"))
    assert (docx.puid, docx.pages, docx.findings) == ("fmt/412", None, [])
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active["A1"] = "低保名册"
    book.save(tmp_path / "名册.xlsx")
    xlsx = inspect(tmp_path / "名册.xlsx")
    assert (xlsx.puid, xlsx.findings) == ("fmt/214", [])
    assert xlsx.mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_zip_bomb_renamed_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", b"\0" * (40 * 1024**2))  # 40 MiB of zeros, ~40 KiB stored
    result = inspect(path)
    assert failures(result) == ["GD-3-4"] and "炸弹" in result.findings[0].message


def test_docx_with_doctype_entity_fails(tmp_path: Path) -> None:
    hostile = DOCUMENT.replace("?>", '?><!DOCTYPE w:document [<!ENTITY lol "lol">]>', 1).replace("居民委员会", "&lol;")
    result = inspect(_docx(tmp_path / "xxe.docx", hostile))
    assert failures(result) == ["GD-3-4"] and "DOCTYPE" in (result.findings[0].found or "")


def test_docx_missing_main_part_or_damaged_member_fails(tmp_path: Path) -> None:
    assert "GD-3-4" in failures(inspect(_docx(tmp_path / "hollow.docx", None)))
    path = _docx(tmp_path / "crc.docx", **{"word/media/note.txt": b"A" * 5000})
    data = bytearray(path.read_bytes())
    at = data.index(b"word/media/note.txt") + len("word/media/note.txt") + 10  # inside its deflate data
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "GD-3-4" in failures(inspect(path))


def test_encrypted_zip_member_is_gd_3_8(tmp_path: Path) -> None:
    data = bytearray(_docx(tmp_path / "plain.docx").read_bytes())
    for header, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # zipfile cannot write the bit itself
        at = -1
        while (at := data.find(header, at + 1)) >= 0:
            data[at + flag_at] |= 0x1  # general-purpose bit 0: "encrypted"
    (tmp_path / "locked.docx").write_bytes(bytes(data))
    assert "GD-3-8" in failures(inspect(tmp_path / "locked.docx"))


OFD_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'
OFD_PAGE = (
    f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {OFD_NS}><ofd:Content><ofd:Layer ID="3"/></ofd:Content>'
    "</ofd:Page>"
)


def _ofd(
    path: Path,
    *,
    with_document: bool = True,
    pages: tuple[str, ...] = ("Pages/Page_0/Content.xml",),
    parts: dict[str, str] | None = None,
    documents: int = 1,
) -> Path:
    """An OFD whose documents (Doc_0, Doc_1, …) each list ``pages`` by BaseLoc, relative to Doc_N/.

    ``parts`` gives the content parts as {path in the package: XML}; by default every listed
    page of every document gets a good one.
    """
    roots = "".join(
        f"<ofd:DocBody><ofd:DocRoot>Doc_{n}/Document.xml</ofd:DocRoot></ofd:DocBody>" for n in range(documents)
    )
    ofd = f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {OFD_NS} Version="1.0" DocType="OFD">{roots}</ofd:OFD>'
    listed = "".join(f'<ofd:Page ID="{i + 10}" BaseLoc="{loc}"/>' for i, loc in enumerate(pages))
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {OFD_NS}><ofd:CommonData><ofd:MaxUnitID>20'
        f"</ofd:MaxUnitID></ofd:CommonData><ofd:Pages>{listed}</ofd:Pages></ofd:Document>"
    )
    if parts is None:
        parts = {f"Doc_{n}/{loc}": OFD_PAGE for n in range(documents) for loc in pages}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", ofd)
        for n in range(documents if with_document else 0):
            archive.writestr(f"Doc_{n}/Document.xml", document)
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_ofd_and_odf(tmp_path: Path) -> None:
    ofd = inspect(_ofd(tmp_path / "通知.ofd"))
    assert ofd.findings == [] and "OFD" in (ofd.format_name or "") and ofd.mime == "application/ofd"
    assert ofd.pages == 1
    assert "GD-3-4" in failures(inspect(_ofd(tmp_path / "hollow.ofd", with_document=False)))
    odt = tmp_path / "a.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr(
            "content.xml", '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>'
        )
        archive.writestr(
            "META-INF/manifest.xml", '<m:manifest xmlns:m="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>'
        )
    result = inspect(odt)
    assert failures(result) == [] and warnings_of(result) == ["GD-3-3"]  # readable, not on the archival list


TWO_PAGES = ("Pages/Page_0/Content.xml", "Pages/Page_1/Content.xml")


def test_ofd_pages_are_counted(tmp_path: Path) -> None:
    two = inspect(_ofd(tmp_path / "two.ofd", pages=TWO_PAGES))
    assert (two.pages, two.findings) == (2, [])
    # BaseLoc absolute from the package root, with "./" and "..": the same two parts.
    mixed = ("/Doc_0/Pages/Page_0/Content.xml", "./Pages/../Pages/Page_1/Content.xml")
    parts = {f"Doc_0/{loc}": OFD_PAGE for loc in TWO_PAGES}
    same = inspect(_ofd(tmp_path / "mixed.ofd", pages=mixed, parts=parts))
    assert (same.pages, same.findings) == (2, [])
    # No prefix, the OFD namespace as the default one: the same names.
    plain = tmp_path / "plain.ofd"
    prefixed = _ofd(tmp_path / "prefixed.ofd", pages=TWO_PAGES)
    with zipfile.ZipFile(prefixed) as source, zipfile.ZipFile(plain, "w") as out:
        for name in source.namelist():
            text = source.read(name).decode().replace("xmlns:ofd=", "xmlns=").replace("ofd:", "")
            out.writestr(name, text)
    assert (inspect(plain).pages, inspect(plain).findings) == (2, [])
    # Decision: every document of the package is counted, not only the first.
    assert inspect(_ofd(tmp_path / "docs.ofd", pages=TWO_PAGES, documents=2)).pages == 4
    empty = inspect(_ofd(tmp_path / "empty.ofd", pages=()))
    assert (empty.pages, failures(empty)) == (0, ["GD-3-4"]) and "没有任何页面" in empty.findings[0].message


def test_ofd_missing_page_part_fails_naming_the_page(tmp_path: Path) -> None:
    result = inspect(_ofd(tmp_path / "short.ofd", pages=TWO_PAGES, parts={"Doc_0/" + TWO_PAGES[0]: OFD_PAGE}))
    assert failures(result) == ["GD-3-4"]
    (finding,) = result.findings
    assert "第 2 页内容部件缺失" in finding.message and "page 2" in finding.message
    assert finding.found == "Doc_0/Pages/Page_1/Content.xml"
    outside = inspect(_ofd(tmp_path / "outside.ofd", pages=("../../etc/passwd",), parts={}))
    assert failures(outside) == ["GD-3-4"] and "第 1 页" in outside.findings[0].message


def test_ofd_broken_page_xml_fails_naming_the_page(tmp_path: Path) -> None:
    parts = {"Doc_0/" + TWO_PAGES[0]: OFD_PAGE, "Doc_0/" + TWO_PAGES[1]: OFD_PAGE[:-12]}  # cut before </ofd:Page>
    result = inspect(_ofd(tmp_path / "cut.ofd", pages=TWO_PAGES, parts=parts))
    assert failures(result) == ["GD-3-4"]  # once, by its page, not again as an anonymous member
    (finding,) = result.findings
    assert "第 2 页内容部件 XML 无法安全解析" in finding.message and "page 2" in finding.message
    assert (finding.found or "").startswith("Doc_0/Pages/Page_1/Content.xml: ")
    hostile = OFD_PAGE.replace("?>", '?><!DOCTYPE ofd:Page [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
    parts[f"Doc_0/{TWO_PAGES[1]}"] = hostile
    assert "第 2 页" in inspect(_ofd(tmp_path / "xxe.ofd", pages=TWO_PAGES, parts=parts)).findings[0].message


def test_ofd_document_pages_of_several_documents_are_named_by_document(tmp_path: Path) -> None:
    parts = {f"Doc_{n}/{loc}": OFD_PAGE for n in range(2) for loc in TWO_PAGES}
    del parts["Doc_1/Pages/Page_0/Content.xml"]
    result = inspect(_ofd(tmp_path / "docs.ofd", pages=TWO_PAGES, parts=parts, documents=2))
    assert failures(result) == ["GD-3-4"] and "第 2 个文档第 1 页" in result.findings[0].message


def test_ofd_document_read_whole_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_package, "PART_READ_LIMIT", 200)  # OFD.xml fits, Document.xml does not
    result = inspect(_ofd(tmp_path / "big.ofd", pages=TWO_PAGES))
    assert result.pages is None and failures(result) == ["GD-3-4"]
    assert "Document.xml" in (result.findings[0].found or "")


@pytest.mark.parametrize(
    ("name", "data", "verdict"),
    [
        ("utf8.txt", "社区居委会 2023 年工作总结\n".encode(), None),
        ("gb.txt", "社区居委会 2023 年工作总结\n".encode("gb18030"), None),
        ("latin1.txt", b"caf\xe9 au lait\n", "GD-3-4"),
        ("list.csv", "姓名,住址\n张三,1栋\n".encode(), None),
    ],
)
def test_text_encodings(tmp_path: Path, name: str, data: bytes, verdict: str | None) -> None:
    (tmp_path / name).write_bytes(data)
    result = inspect(tmp_path / name)
    assert failures(result) == []
    assert warnings_of(result) == ([verdict] if verdict else [])


def test_xml_must_parse_without_dtd(tmp_path: Path) -> None:
    (tmp_path / "ok.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><目录><件 档号="J012-WS·2023-D30-0001"/></目录>'
    )
    assert inspect(tmp_path / "ok.xml").findings == []
    (tmp_path / "dtd.xml").write_text('<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>')
    assert failures(inspect(tmp_path / "dtd.xml")) == ["GD-3-4"]
    (tmp_path / "bad.xml").write_text('<?xml version="1.0"?><a><b></a>')
    assert failures(inspect(tmp_path / "bad.xml")) == ["GD-3-4"]


# --- audio and video ---------------------------------------------------------------------


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    return path


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_audio_video_headers(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "会议录音.wav")
    assert (inspect(wav).puid, inspect(wav).findings) == ("fmt/141", [])
    (tmp_path / "cut.wav").write_bytes(wav.read_bytes()[:-100])
    assert failures(inspect(tmp_path / "cut.wav")) == ["GD-3-4"]
    frame = b"\xff\xfb\x90\x00" + b"\0" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    (tmp_path / "a.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + frame * 4)
    assert failures(inspect(tmp_path / "a.mp3")) == []
    (tmp_path / "junk.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 2000)
    assert failures(inspect(tmp_path / "junk.mp3")) == ["GD-3-4"]
    mp4 = (
        _box(b"ftyp", b"isom\0\0\2\0isomiso2mp41")
        + _box(b"moov", _box(b"mvhd", b"\0" * 100))
        + _box(b"mdat", b"\0" * 50)
    )
    (tmp_path / "a.mp4").write_bytes(mp4)
    assert inspect(tmp_path / "a.mp4").findings == []
    (tmp_path / "cut.mp4").write_bytes(mp4[:-20])
    assert failures(inspect(tmp_path / "cut.mp4")) == ["GD-3-4"]


# --- odds and ends -----------------------------------------------------------------------


def test_unidentified_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "noise").write_bytes(bytes(range(7, 250)) * 3)
    result = inspect(tmp_path / "noise")
    assert result.puid is None and failures(result) == ["GD-3-3"]
    assert "无法识别文件格式" in result.findings[0].message and "PRONOM" in result.findings[0].message
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert failures(inspect(tmp_path / "empty.pdf")) == ["GD-3-4"]
    assert failures(inspect(tmp_path / "missing.pdf")) == ["GD-3-4"]


def test_missing_signatures_raise_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = SimpleNamespace(
        pronom_signature="absent.xml", fido_extension_signature="absent.xml", pronom_container_signature="absent.xml"
    )
    monkeypatch.setattr("fido.versions.get_local_versions", lambda conf_dir: broken)
    monkeypatch.setattr(formats, "_IDENTIFIER", None)
    with pytest.raises(MissingDependencyError):
        formats.identify(Path(__file__))


def test_fido_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_IDENTIFIER", None)
    made: list[object] = []
    real = formats._Identifier

    def counting() -> object:
        made.append(object())
        return real()

    monkeypatch.setattr(formats, "_Identifier", counting)
    start = threading.Barrier(4)

    def first_use(_: int) -> object:
        start.wait()
        return formats._identifier()

    with ThreadPoolExecutor(4) as pool:
        instances = set(map(id, pool.map(first_use, range(4))))
    assert len(made) == 1 and len(instances) == 1


def test_self_drawing_form_does_not_run_away(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(100, 100))
    form = pdf.make_indirect(pikepdf.Stream(pdf, b"/F0 Do /F0 Do"))
    form.Type, form.Subtype, form.BBox = pikepdf.Name.XObject, pikepdf.Name.Form, [0, 0, 100, 100]
    form.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(F0=form))
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(F0=form))
    page.Contents = pdf.make_stream(b"/F0 Do")
    pdf.save(tmp_path / "loop.pdf")
    result = inspect(tmp_path / "loop.pdf")  # 2**12 walks without a budget
    assert failures(result) == [] and "GD-3-4" in warnings_of(result)


# --- fast identification: the signature index must change nothing --------------------------

SUFFIXES = ("", ".bin", ".txt", ".pdf", ".jpg", ".tif", ".xml", ".csv", ".doc", ".wav", ".mp3", ".zip", ".rtf")
MAGICS = (
    b"%PDF-1.4\n",
    b"%PDF-",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"\xff\xd8\xff",
    b"II*\x00",
    b"MM\x00*",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00",
    b"RIFF....WAVE",
    b"PK\x03\x04",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"GIF89a",
    b"BM",
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b"",
)


def _fido_matches(data: bytes, *, exhaustive: bool) -> list[tuple[str, str]]:
    """fido's raw match list for one buffer (as BOF and EOF), through the index or over every format."""
    fido = formats._identifier()._fido
    fido.exhaustive = exhaustive
    try:
        return [(fido.get_puid(fmt), signature) for fmt, signature in fido.match_formats(data, data)]
    finally:
        fido.exhaustive = False


def _samples(folder: Path) -> list[Path]:
    """One small file of each common kind, plus odd ones: random bytes, a big PDF-like file, empty."""
    folder.mkdir(exist_ok=True)
    for name, mode in (("a.tif", "L"), ("a.jpg", "RGB"), ("a.png", "RGBA"), ("a.gif", "P"), ("a.bmp", "RGB")):
        Image.new(mode, (9, 7)).save(folder / name)
    _image_pdf(folder / "a.pdf", _jpeg())
    _wav(folder / "a.wav")
    _docx(folder / "a.docx")
    openpyxl = pytest.importorskip("openpyxl")
    openpyxl.Workbook().save(folder / "a.xlsx")
    with zipfile.ZipFile(folder / "a.zip", "w") as archive:
        archive.writestr("note.txt", "hello")
    rng = random.Random(20240601)
    files = {
        "a.txt": "社区居委会 2023 年工作总结\n".encode(),
        "a.csv": "姓名,住址\n张三,1栋\n".encode(),
        "a.xml": b'<?xml version="1.0" encoding="UTF-8"?><a/>',
        "a.html": b"<!DOCTYPE html><html><body>hi</body></html>",
        "a.mp3": b"ID3\x03\x00\x00\x00\x00\x00\x00" + (b"\xff\xfb\x90\x00" + b"\0" * 413) * 4,
        "a.mp4": _box(b"ftyp", b"isom\0\0\2\0isomiso2mp41") + _box(b"moov", _box(b"mvhd", b"\0" * 100)),
        "noise": rng.randbytes(5000),
        "big.pdf": b"%PDF-1.4\n" + rng.randbytes(300_000) + b"\n%%EOF\n",  # BOF and EOF buffers differ
        "big.bin": rng.randbytes(200_000),
        "empty.pdf": b"",
        "empty": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(folder.iterdir())


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_index_matches_exhaustive_fido_on_corpora(path: Path) -> None:
    assert identify(path) == formats._identify_exhaustive(path)


def test_index_matches_exhaustive_fido_on_samples(tmp_path: Path) -> None:
    for path in _samples(tmp_path / "samples"):
        assert identify(path) == formats._identify_exhaustive(path), path.name
        data = path.read_bytes()[: 128 * 1024]
        assert _fido_matches(data, exhaustive=False) == _fido_matches(data, exhaustive=True), path.name


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    magic=st.sampled_from(MAGICS),
    fill=st.binary(min_size=4, max_size=4),
    body=st.binary(max_size=3000),
    tail=st.sampled_from((b"", b"%%EOF\n", b"\x00\x00\x00\x00", b"</a>\n")),
    suffix=st.sampled_from(SUFFIXES),
)
@example(magic=b"", fill=b"\0\0\0\0", body=b"", tail=b"", suffix=".pdf")  # empty: extension fallback
def test_index_matches_exhaustive_fido_on_random_bytes(
    tmp_path: Path, magic: bytes, fill: bytes, body: bytes, tail: bytes, suffix: str
) -> None:
    data = magic.replace(b"....", fill) + body + tail
    assert _fido_matches(data, exhaustive=False) == _fido_matches(data, exhaustive=True)
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert identify(path) == formats._identify_exhaustive(path)


@needs_corpora
def test_index_checks_few_formats() -> None:
    fido = formats._identifier()._fido
    for name in ("hopper.png", "hopper.jpg", "hopper.tif"):
        identify(IMAGES / name)
        assert fido.checked < 40, name  # of ~2,250 PRONOM formats
    assert len(fido.formats) > 2000  # and the full list is back in place


def test_routing_plan_cache_is_used_only_when_whole_and_matching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fido = formats._identifier()._fido
    expected = _pronom.plan(fido)
    assert _pronom._cached_plan(fido, tmp_path) == expected  # computed and kept
    (kept,) = tmp_path.glob("pronom-plan-*.json")

    def no_recompute(_fido: object) -> None:
        raise AssertionError("recomputed although a matching plan was kept")

    with monkeypatch.context() as m:
        m.setattr(_pronom, "plan", no_recompute)
        assert _pronom._cached_plan(fido, tmp_path) == expected
    kept.write_bytes(kept.read_bytes()[:1000])  # a torn or damaged file is recomputed and replaced
    assert _pronom._cached_plan(fido, tmp_path) == expected
    for wrong in ("[[99999, []]]", '[[0, [["at", 0, 4, ["00"]]]]]', '{"a": 1}'):  # JSON, but not a plan's shape
        kept.write_text(wrong, encoding="utf-8")
        assert _pronom._cached_plan(fido, tmp_path) == expected
    if os.getuid() == 0:  # only root can hand a file to another user
        assert _pronom._cached_plan(fido, tmp_path) == expected  # kept again, then given away:
        os.chown(kept, 12345, -1)  # another user's file is never read
        with monkeypatch.context() as m:
            m.setattr(_pronom, "plan", lambda _fido: [])
            assert _pronom._cached_plan(fido, tmp_path) == []
    assert _pronom._cached_plan(fido, tmp_path / "absent") == expected
    # other signatures give another name: the kept plan is not applied to them
    fewer = SimpleNamespace(
        formats=fido.formats[:-1],
        get_signatures=fido.get_signatures,
        get_patterns=fido.get_patterns,
        get_pos=fido.get_pos,
        get_regex=fido.get_regex,
    )
    assert _pronom._cached_plan(fewer, tmp_path) == _pronom.plan(fewer) != expected
    assert len(list(tmp_path.glob("pronom-plan-*.json"))) == 2
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")  # a cache folder that cannot be made: the plan is still computed
    assert _pronom._cached_plan(fido, blocked) == expected


def test_literals_read_from_regexes() -> None:
    needs, span = _pronom.analyse(rb"(?s)\A.{4}ftyp(?:mp41|isom).{0,64}moov")
    assert span is None or span > 8
    assert any(n.strings == {b"ftyp"} and (n.lo, n.hi) == (4, 4) for n in needs)
    assert any(n.strings == {b"ftypmp41", b"ftypisom"} and (n.lo, n.hi) == (4, 4) for n in needs)
    assert any(n.strings == {b"moov"} and (n.lo, n.hi) == (12, 76) for n in needs)
    end, _ = _pronom.analyse(rb"(?s)%%EOF.{0,1024}\Z")
    assert any(n.from_end and n.strings == {b"%%EOF"} and (n.lo, n.hi) == (0, 1024) for n in end)
    assert _pronom.analyse(rb"(?i)\Aabc")[0] == []  # case-insensitive: no literal is certain


@functools.cache
def _patterns() -> list[tuple[str, bytes]]:
    """fido's (position, regex) pairs, but those whose shortest match Hypothesis cannot build."""
    fido = formats._identifier()._fido
    found = {
        (fido.get_pos(pattern), fido.get_regex(pattern))
        for fmt in fido.formats
        for signature in fido.get_signatures(fmt)
        for pattern in fido.get_patterns(signature)
    }
    return sorted((position, regex) for position, regex in found if sre_parse.parse(regex).getwidth()[0] < 200)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_literal_read_from_a_regex_is_in_each_of_its_matches(data: st.DataObject) -> None:
    """The index is exact only if each check it derives holds for every buffer the regex matches."""
    position, regex = data.draw(st.sampled_from(_patterns()), label="pattern")
    needs, _ = _pronom.analyse(regex)
    match = data.draw(st.from_regex(regex, fullmatch=True), label="match")
    before, after = data.draw(st.binary(max_size=40)), data.draw(st.binary(max_size=40))
    if position == "BOF":
        buffer = match + after if re.match(regex, match + after) else match
    else:
        buffer = before + match + (after if re.search(regex, before + match + after) else b"")
    for need in needs:
        assert _pronom._passes(_pronom._test(need, position), buffer, buffer), (regex, need, buffer)


# --- page ceilings ([ingest] max_pages) and bombs of frames ------------------------------------


def _frames_tiff(path: Path, frames: int, size: tuple[int, int] = (1, 1)) -> Path:
    images = [Image.new("L", size, 255) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], dpi=(300, 300))
    return path


def test_tiff_over_max_pages_is_refused_before_its_frames_are_counted_or_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _frames_tiff(tmp_path / "万帧.tif", 40)
    seeks: list[int] = []
    real_seek = TiffImagePlugin.TiffImageFile.seek
    monkeypatch.setattr(
        TiffImagePlugin.TiffImageFile, "seek", lambda im, frame: (seeks.append(frame), real_seek(im, frame))[1]
    )
    result = inspect(path, max_pages=10)
    assert failures(result) == ["GD-3-4"] and "max_pages = 10" in result.findings[0].message
    assert result.pages is None  # not the first 11: the count is unknown
    assert max(seeks) <= 10  # the directories past the ceiling were never walked


def test_ordinary_multipage_scan_within_max_pages_passes(tmp_path: Path) -> None:
    path = _frames_tiff(tmp_path / "三页.tif", 3, size=(40, 60))
    result = inspect(path, max_pages=3)
    assert result.findings == [] and result.pages == 3


def test_frames_each_under_the_ceiling_but_together_over_it_are_a_bomb(tmp_path: Path) -> None:
    frames = formats.FILE_PIXELS_FACTOR + 1
    path = _frames_tiff(tmp_path / "frames.tif", frames, size=(4, 4))
    result = inspect(path, max_pixels=16)
    assert failures(result) == ["GD-3-4"] and "炸弹" in result.findings[0].message
    assert f"{frames} frames" in (result.findings[0].found or "")
    assert failures(inspect(path, max_pixels=17)) == []


def test_pdf_over_max_pages_is_refused_unwalked(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    for _ in range(5):
        pdf.add_blank_page()
    pdf.save(tmp_path / "五页.pdf")
    result = inspect(tmp_path / "五页.pdf", max_pages=4)
    assert failures(result) == ["GD-3-4"] and "max_pages = 4" in result.findings[0].message and result.pages is None
    within = inspect(tmp_path / "五页.pdf", max_pages=5)
    assert within.findings == [] and within.pages == 5


def test_ofd_over_max_pages_is_refused(tmp_path: Path) -> None:
    path = _ofd(tmp_path / "两页.ofd", pages=TWO_PAGES)
    result = inspect(path, max_pages=1)
    assert failures(result) == ["GD-3-4"] and "max_pages = 1" in result.findings[0].message and result.pages is None
    assert inspect(path, max_pages=2).pages == 2
