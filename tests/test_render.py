"""The test-scan renderer: pages carry the resolution they claim, in every saved format."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from tests.render import (
    SAMPLE_DOCS,
    FontMissingError,
    find_font,
    render_page,
    render_pages,
    save_scan,
    save_text_pdf,
    wrap,
)

A5 = (148, 210)


@pytest.fixture
def font() -> tuple[Path, int]:
    try:
        return find_font()
    except FontMissingError as err:
        pytest.skip(str(err))


def page(mode: str = "1", size: tuple[int, int] = (300, 420), dpi: int = 300) -> Image.Image:
    """A small synthetic page, so saving is tested without a CJK font."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).rectangle((20, 20, size[0] - 20, 60), fill=0)
    image = image.convert(mode)
    image.info["dpi"] = (dpi, dpi)
    return image


# --- rendering -------------------------------------------------------------------------


def test_font_is_the_simplified_chinese_face(font: tuple[Path, int]) -> None:
    from PIL import ImageFont

    path, index = font
    assert ImageFont.truetype(str(path), 12, index=index).getname()[0].endswith(" SC")


@pytest.mark.parametrize(("mode", "dpi"), [("1", 300), ("L", 200), ("RGB", 150)])
def test_rendered_page_states_its_dpi_and_size(font: object, mode: str, dpi: int) -> None:
    image = render_page(SAMPLE_DOCS[0].text, dpi=dpi, size_mm=A5, mode=mode, font_size_pt=10)
    assert image.info["dpi"] == (dpi, dpi)
    assert image.mode == mode
    assert image.size == (round(148 / 25.4 * dpi), round(210 / 25.4 * dpi))
    assert image.getbbox() is not None  # something was drawn


def test_rendering_is_deterministic_and_seeded(font: object) -> None:
    options = {"dpi": 100, "size_mm": A5, "mode": "L", "noise": 0.01, "skew_deg": 1.5, "blur": 0.7}
    first = render_page(SAMPLE_DOCS[2].text, seed=1, **options)
    again = render_page(SAMPLE_DOCS[2].text, seed=1, **options)
    other = render_page(SAMPLE_DOCS[2].text, seed=2, **options)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


def test_long_text_spills_onto_pages_with_ground_truth(font: object) -> None:
    text = "# 标题\n" + "\n".join(doc.text for doc in SAMPLE_DOCS)
    with pytest.raises(ValueError, match="render_pages"):
        render_page(text, dpi=72, size_mm=A5)
    pages = render_pages(text, dpi=72, size_mm=A5)
    assert len(pages) > 1
    truth = "".join(p.info["ground_truth"] for p in pages).replace("\n", "")
    assert "关于开展垃圾分类宣传活动的通知" in truth and "人民调解协议书" in truth


def test_unknown_mode_is_refused(font: object) -> None:
    with pytest.raises(ValueError, match="mode"):
        render_page("测试", mode="CMYK")


# --- line breaking ---------------------------------------------------------------------


def test_wrap_keeps_punctuation_off_line_starts() -> None:
    lines = wrap("一二三四。五六七八，九十（甲乙）ABC123 丙丁", 4, len)
    assert all(line[0] not in "。，）" for line in lines if line)
    assert "ABC123" in "".join(lines)
    assert not any(line.endswith("（") for line in lines)


@given(st.text(alphabet="社区居委会通知，。、（）《》abc12 ", min_size=1, max_size=80), st.integers(2, 20))
def test_wrap_loses_no_text(paragraph: str, width: int) -> None:
    lines = wrap(paragraph, width, len)
    assert "".join(lines).replace(" ", "") == paragraph.replace(" ", "")


# --- saving ----------------------------------------------------------------------------


def test_multipage_tiff_is_group4_with_dpi_on_every_frame(tmp_path: Path) -> None:
    (path,) = save_scan([page(), page(), page()], tmp_path / "会议记录.tif")
    with Image.open(path) as tif:
        assert tif.n_frames == 3
        for n in range(3):
            tif.seek(n)
            assert tif.info["compression"] == "group4"
            assert tuple(round(v) for v in tif.info["dpi"]) == (300, 300)


def test_grey_tiff_uses_lzw(tmp_path: Path) -> None:
    (path,) = save_scan([page("L", dpi=400)], tmp_path / "p.tiff")
    with Image.open(path) as tif:
        assert tif.info["compression"] == "tiff_lzw" and round(tif.info["dpi"][0]) == 400


def test_jpeg_set_has_jfif_density(tmp_path: Path) -> None:
    paths = save_scan([page("L"), page("1")], tmp_path / "通知.jpg")
    assert [p.name for p in paths] == ["通知-001.jpg", "通知-002.jpg"]
    for path in paths:
        with Image.open(path) as jpeg:
            assert jpeg.format == "JPEG"
            assert jpeg.info["jfif_unit"] == 1 and jpeg.info["jfif_density"] == (300, 300)
            assert jpeg.info["dpi"] == (300, 300)


def test_png_states_200_dpi(tmp_path: Path) -> None:
    (path,) = save_scan(page("L", dpi=200), tmp_path / "申请书.png")
    with Image.open(path) as png:
        assert tuple(round(v) for v in png.info["dpi"]) == (200, 200)


def test_explicit_dpi_wins(tmp_path: Path) -> None:
    (path,) = save_scan(page("L", dpi=72), tmp_path / "x.png", dpi=600)
    with Image.open(path) as png:
        assert round(png.info["dpi"][0]) == 600


@pytest.mark.parametrize("mode", ["1", "L", "RGB"])
def test_image_pdf_has_the_physical_page_size(tmp_path: Path, mode: str) -> None:
    pages = [page(mode, size=(600, 900)), page(mode, size=(600, 900))]
    (path,) = save_scan(pages, tmp_path / "公告.pdf")
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 2
        for pdf_page in pdf.pages:
            box = [float(v) for v in pdf_page.mediabox]
            assert box[2] == pytest.approx(600 / 300 * 72) and box[3] == pytest.approx(900 / 300 * 72)
            (image,) = pikepdf.Page(pdf_page).get_images().values()
            stated = image.Width / (box[2] / 72)
            assert stated == pytest.approx(300)
            if mode == "1":
                assert "/CCITTFaxDecode" in str(image.Filter)


def test_pdf_bytes_are_reproducible(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        save_scan([page(), page("L")], tmp_path / sub / "扫描.pdf")
    assert (tmp_path / "a" / "扫描.pdf").read_bytes() == (tmp_path / "b" / "扫描.pdf").read_bytes()


# --- born-digital text PDF -------------------------------------------------------------


def test_text_pdf_carries_extractable_chinese(tmp_path: Path) -> None:
    doc = next(d for d in SAMPLE_DOCS if d.key == "summary")
    path = tmp_path / "总结.pdf"
    assert save_text_pdf(doc.text, path, size_mm=A5) == 1
    with pikepdf.open(path) as pdf:
        (pdf_page,) = pdf.pages
        assert [float(v) for v in pdf_page.mediabox][2] == pytest.approx(148 / 25.4 * 72)
        font = pdf_page.Resources.Font.F1
        assert font.Encoding == "/UniGB-UCS2-H" and "/ToUnicode" in font
        assert doc.title.encode("utf-16-be").hex().upper().encode() in pdf_page.Contents.read_bytes()
        assert str(pdf.docinfo["/Title"]) == doc.title
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout
        assert doc.title in text and "振兴社区" in text


def test_long_text_pdf_has_several_pages(tmp_path: Path) -> None:
    text = "\n".join(d.text for d in SAMPLE_DOCS)
    assert save_text_pdf(text, tmp_path / "long.pdf", size_mm=A5) > 1
