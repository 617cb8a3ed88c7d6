"""全文提取: text from scans (OCR), PDFs, DOCX, XLSX and plain text, and findings instead of tracebacks.

Files are identified with the real :func:`~ingest.formats.inspect_file`, so dispatch runs
on fido's PRONOM ids and MIME types as at ingest. OCR runs for real with Tesseract on
small pages (``tests/test_ocr.py`` covers both engines and their thresholds).
"""

from __future__ import annotations

import pickle
import time
import zipfile
from pathlib import Path

import openpyxl
import pikepdf
import pytest
from PIL import Image

from archive.model import Verdict
from ingest.formats import Inspection, inspect_file
from ingest.ocr import OcrEngine, PageText, TesseractEngine, get_engine
from ingest.text import (
    TEXT_NO_ENGINE,
    TEXT_NOT_EXTRACTED,
    TEXT_OCR_FAILED,
    TEXT_OCR_TIMEOUT,
    TEXT_TRUNCATED,
    TEXT_UNREADABLE,
    ExtractedText,
    extract_text,
)
from tests.render import SAMPLE_DOCS, render_page, save_scan, save_text_pdf
from tests.test_ocr import cer

SMALL = (120, 45)
NOTICES = (
    "# 垃圾分类宣传活动通知\n社区定于3月18日上午9时在文化广场开展宣传活动。",
    "# 防汛值班安排\n防汛值班自7月1日起执行，名单另行公布。",
    "# 困难家庭走访记录\n走访对象：李德明，独居老人，身体状况稳定。",
)


@pytest.fixture
def tesseract() -> OcrEngine:
    return get_engine("tesseract")


def scan(text: str, mode: str = "L") -> Image.Image:
    return render_page(text, dpi=300, size_mm=SMALL, mode=mode)


def extract(path: Path, engine: OcrEngine | None = None, **options: object) -> ExtractedText:
    return extract_text(path, inspect_file(path, path.name), engine=engine, **options)  # type: ignore[arg-type]


def flat(text: str) -> str:
    """Without whitespace and the renderer's markup ('# ' title, '> ' right-aligned)."""
    lines = (line[2:] if line.startswith(("# ", "> ")) else line for line in text.splitlines())
    return "".join("".join(lines).split())


def codes(result: ExtractedText) -> list[str]:
    return [f.code for f in result.findings]


# --- PDF ----------------------------------------------------------------------------------


def test_text_layer_pdf_gives_its_chinese_text_per_page(tmp_path: Path) -> None:
    text = "\n\n".join(doc.text for doc in SAMPLE_DOCS[:3])
    pages = save_text_pdf(text, tmp_path / "通知.pdf")
    result = extract(tmp_path / "通知.pdf")
    assert pages > 1 and [p.number for p in result.pages] == list(range(1, pages + 1))
    assert {p.source for p in result.pages} == {"text-layer"}
    assert flat(result.text) == flat(text)
    assert result.engine is None and result.findings == []


def test_image_only_pdf_goes_through_ocr(tmp_path: Path, tesseract: OcrEngine) -> None:
    image = scan(NOTICES[0])
    save_scan(image, tmp_path / "扫描.pdf")
    result = extract(tmp_path / "扫描.pdf", tesseract)
    assert [(p.number, p.source) for p in result.pages] == [(1, "ocr")]
    assert cer(image.info["ground_truth"], result.pages[0].text) < 0.05
    assert result.engine is not None and result.engine.name == "tesseract" and result.engine.version


def test_image_only_pdf_without_engine_says_so(tmp_path: Path) -> None:
    save_scan(scan(NOTICES[0]), tmp_path / "扫描.pdf")
    result = extract(tmp_path / "扫描.pdf")
    assert result.pages == [] and result.engine is None
    assert codes(result) == [TEXT_NO_ENGINE]


def _stamp(pdf: pikepdf.Pdf, page: pikepdf.Page, text: bytes) -> None:
    """Draw a few Helvetica characters on a page, as scanner software stamps a page number."""
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    page.add_resource(pdf.make_indirect(font), pikepdf.Name.Font, pikepdf.Name.F9)
    page.contents_add(pdf.make_stream(b"BT /F9 8 Tf 20 20 Td (" + text + b") Tj ET"))


def test_mixed_pdf_reads_each_page_its_own_way(tmp_path: Path, tesseract: OcrEngine) -> None:
    save_text_pdf(NOTICES[1], tmp_path / "text.pdf")
    image = scan(NOTICES[2])
    save_scan(image, tmp_path / "scan.pdf")
    with pikepdf.open(tmp_path / "text.pdf") as pdf, pikepdf.open(tmp_path / "scan.pdf") as scanned:
        pdf.pages.extend(scanned.pages)
        _stamp(pdf, pdf.pages[1], b"p. 2")  # a scan with a stamp is still OCR'd
        pdf.add_blank_page(page_size=(420, 595))
        pdf.save(tmp_path / "mixed.pdf")
    result = extract(tmp_path / "mixed.pdf", tesseract)
    assert [(p.number, p.source) for p in result.pages] == [(1, "text-layer"), (2, "ocr"), (3, "text-layer")]
    assert flat(result.pages[0].text) == flat(NOTICES[1])
    assert cer(image.info["ground_truth"] + "\np. 2", result.pages[1].text) < 0.1
    assert "p.2" in "".join(result.pages[1].text.split())  # the stamp is on the page, and read
    assert result.pages[2].text == ""


def test_corrupt_pdf_gives_a_finding(tmp_path: Path, tesseract: OcrEngine) -> None:
    (tmp_path / "坏.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    result = extract(tmp_path / "坏.pdf", tesseract)
    assert result.pages == [] and codes(result) == [TEXT_UNREADABLE]
    assert result.findings[0].verdict is Verdict.warning and "坏.pdf" in result.findings[0].message


# --- scans ------------------------------------------------------------------------------


def test_multi_page_tiff_gives_one_page_per_frame(tmp_path: Path, tesseract: OcrEngine) -> None:
    images = [scan(text, mode="1") for text in NOTICES]
    save_scan(images, tmp_path / "三页.tif")
    result = extract(tmp_path / "三页.tif", tesseract)
    assert [(p.number, p.source) for p in result.pages] == [(1, "ocr"), (2, "ocr"), (3, "ocr")]
    for image, found in zip(images, result.pages, strict=True):
        assert cer(image.info["ground_truth"], found.text) < 0.1, found.text
        assert found.confidence is not None


def test_jpeg_is_turned_upright_by_its_exif_orientation(tmp_path: Path, tesseract: OcrEngine) -> None:
    image = scan(NOTICES[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view": the pixels lie on their side
    image.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "手机拍照.jpg", dpi=(300, 300), exif=exif)
    result = extract(tmp_path / "手机拍照.jpg", tesseract)
    assert cer(image.info["ground_truth"], result.pages[0].text) < 0.1


def test_png_scan(tmp_path: Path, tesseract: OcrEngine) -> None:
    image = scan(NOTICES[1], mode="RGB")
    save_scan(image, tmp_path / "彩色.png")
    result = extract(tmp_path / "彩色.png", tesseract)
    assert len(result.pages) == 1 and cer(image.info["ground_truth"], result.pages[0].text) < 0.1


@pytest.mark.parametrize(
    ("engine", "code"),
    [(TesseractEngine(timeout=0.01), TEXT_OCR_TIMEOUT), (TesseractEngine(psm=99), TEXT_OCR_FAILED)],
    ids=["timeout", "engine-error"],
)
def test_ocr_failure_is_a_finding_per_page(tmp_path: Path, engine: OcrEngine, code: str) -> None:
    save_scan([scan(NOTICES[0]), scan(NOTICES[1])], tmp_path / "两页.tif")
    result = extract(tmp_path / "两页.tif", engine)
    assert result.pages == [] and codes(result) == [code, code]
    assert "第 2 页" in result.findings[1].message and result.engine is not None


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_truncated_tiff_gives_a_finding(tmp_path: Path, tesseract: OcrEngine) -> None:
    save_scan([scan(NOTICES[0], mode="1")], tmp_path / "full.tif")
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "截断.tif").write_bytes(data[: len(data) // 3])
    inspection = Inspection("fmt/353", "TIFF", "image/tiff", 1, 300, "黑白二值", True)
    result = extract_text(tmp_path / "截断.tif", inspection, engine=tesseract, display_name="卷一/截断.tif")
    assert result.pages == [] and codes(result) == [TEXT_UNREADABLE]
    message = result.findings[0].message
    assert "卷一/截断.tif" in message and str(tmp_path) not in message  # the name people know, not the path


# --- born-digital documents -------------------------------------------------------------

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"


DOCX = Inspection(
    "fmt/412",
    "Word",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    None,
    None,
    None,
    False,
)


def _docx(path: Path, body: str, *, prolog: str = "") -> Path:
    """A minimal DOCX: content types, package relationships and the main document part."""
    types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="word/document.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
    )
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<w:document xmlns:w="{_W}" xmlns:mc="{_MC}"><w:body>{body}</w:body></w:document>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", types)
        package.writestr("_rels/.rels", rels)
        package.writestr("word/document.xml", document)
    return path


def _p(*runs: str) -> str:
    return "<w:p>" + "".join(f"<w:r>{run}</w:r>" for run in runs) + "</w:p>"


def test_docx_paragraphs_tables_and_text_boxes(tmp_path: Path) -> None:
    textbox = _p("<w:t>文本框内容</w:t>")
    body = (
        _p("<w:t>关于开展</w:t>", "<w:t>垃圾分类</w:t>", "<w:t>宣传活动的通知</w:t>")
        + _p("<w:t>联系人：</w:t><w:tab/><w:t>刘晓燕</w:t><w:br/><w:t>电话：0000-1234567</w:t>")
        + "<w:tbl><w:tr><w:tc>" + _p("<w:t>姓名</w:t>") + "</w:tc>"
        + "<w:tc>" + _p("<w:t>住址</w:t>") + "</w:tc></w:tr></w:tbl>"
        + _p("<w:del><w:r><w:delText>删除的字</w:delText></w:r></w:del><w:t>保留</w:t>")
        + f"<w:p><w:r><mc:AlternateContent><mc:Choice>{textbox}</mc:Choice>"
        + f"<mc:Fallback>{textbox}</mc:Fallback></mc:AlternateContent></w:r></w:p>"
    )  # fmt: skip
    result = extract(_docx(tmp_path / "通知.docx", body))
    assert result.pages[0].source == "file" and result.findings == []
    assert result.pages[0].text.splitlines() == [
        "关于开展垃圾分类宣传活动的通知",
        "联系人：\t刘晓燕",
        "电话：0000-1234567",
        "姓名",
        "住址",
        "保留",
        "文本框内容",
    ]


def test_docx_with_a_dtd_is_refused_as_a_finding(tmp_path: Path) -> None:
    prolog = '<!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    path = _docx(tmp_path / "恶意.docx", _p("<w:t>&x;</w:t>"), prolog=prolog)
    result = extract_text(path, DOCX, engine=None)
    assert result.pages == [] and codes(result) == [TEXT_UNREADABLE]
    assert "DTD" in result.findings[0].message and "root:" not in result.text


def test_corrupt_docx_gives_a_finding(tmp_path: Path) -> None:
    path = _docx(tmp_path / "坏.docx", _p("<w:t>正文</w:t>"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = extract_text(path, DOCX, engine=None)
    assert result.pages == [] and codes(result) == [TEXT_UNREADABLE]


def test_xlsx_gives_one_page_per_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "归档文件目录"
    sheet.append(["题名", "日期", "页数"])
    sheet.append(["关于开展垃圾分类宣传活动的通知", "20230310", 2])
    sheet.append([None, None, None])
    second = book.create_sheet("备考表")
    second["B2"] = "本卷共 2 件"
    book.save(tmp_path / "目录.xlsx")
    result = extract(tmp_path / "目录.xlsx")
    assert [(p.number, p.source) for p in result.pages] == [(1, "file"), (2, "file")]
    assert result.pages[0].text == "归档文件目录\n题名\t日期\t页数\n关于开展垃圾分类宣传活动的通知\t20230310\t2"
    assert result.pages[1].text == "备考表\n\t本卷共 2 件"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("gb18030.txt", "居民委员会换届选举公告\n选民登记：8月5日至8月12日\n".encode("gb18030")),
        ("bom.txt", "\ufeff居民委员会换届选举公告\r\n选民登记：8月5日至8月12日\r\n".encode()),
        ("plain.txt", "居民委员会换届选举公告\n选民登记：8月5日至8月12日\n".encode()),
        ("utf16.txt", "居民委员会换届选举公告\n选民登记：8月5日至8月12日\n".encode("utf-16")),
    ],
)
def test_plain_text_in_each_encoding(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    inspection = Inspection("x-fmt/111", "Plain Text File", "text/plain", None, None, None, False)
    result = extract_text(tmp_path / name, inspection, engine=None)
    assert result.pages[0].text == "居民委员会换届选举公告\n选民登记：8月5日至8月12日\n"
    assert result.pages[0].source == "file" and result.findings == []


def test_csv_identified_by_fido(tmp_path: Path) -> None:
    (tmp_path / "目录.csv").write_bytes("题名,日期\n防汛值班安排,20230701\n".encode("gb18030"))
    result = extract(tmp_path / "目录.csv")
    assert result.pages[0].text == "题名,日期\n防汛值班安排,20230701\n"


def test_ofd_is_not_extracted_and_says_so(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "公文.ofd", "w") as package:
        package.writestr(
            "OFD.xml",
            '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" '
            'Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>'
            "</ofd:DocBody></ofd:OFD>",
        )
        package.writestr("Doc_0/Document.xml", '<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"/>')
    result = extract(tmp_path / "公文.ofd")
    assert result.pages == [] and codes(result) == [TEXT_NOT_EXTRACTED]
    assert result.findings[0].verdict is Verdict.warning and "OFD" in result.findings[0].message


def test_audio_has_no_text_and_no_warning(tmp_path: Path) -> None:
    (tmp_path / "录音.wav").write_bytes(b"RIFF")
    inspection = Inspection("fmt/141", "WAVE", "audio/x-wav", None, None, None, False)
    result = extract_text(tmp_path / "录音.wav", inspection, engine=None)
    assert result.pages == [] and [f.verdict for f in result.findings] == [Verdict.not_applicable]


# --- limits and the result ----------------------------------------------------------------


def test_text_beyond_the_budget_is_cut_with_a_finding(tmp_path: Path) -> None:
    (tmp_path / "长.txt").write_text("档案" * 5000, encoding="utf-8")
    result = extract(tmp_path / "长.txt", max_chars=1000)
    assert len(result.pages[0].text) == 1000 and codes(result) == [TEXT_TRUNCATED]


def test_pdf_pages_stop_at_the_budget(tmp_path: Path) -> None:
    text = "\n\n".join(doc.text for doc in SAMPLE_DOCS)
    pages = save_text_pdf(text, tmp_path / "多页.pdf")
    result = extract(tmp_path / "多页.pdf", max_chars=400)
    assert 1 <= len(result.pages) < pages and sum(len(p.text) for p in result.pages) == 400
    assert codes(result) == [TEXT_TRUNCATED]


def test_result_pickles_for_worker_processes(tmp_path: Path, tesseract: OcrEngine) -> None:
    save_scan(scan(NOTICES[2]), tmp_path / "扫描.tif")
    result = extract(tmp_path / "扫描.tif", tesseract)
    copy = pickle.loads(pickle.dumps(result))
    assert copy == result and copy.engine is not None and copy.engine.settings["languages"] == "chi_sim"


# --- blank pages and the OCR time ceiling ------------------------------------------------


class CountingEngine(OcrEngine):
    """Reads every page as 甲, taking ``seconds`` per page, and remembers the sizes it was given."""

    name = "counting"

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.seen: list[tuple[int, int]] = []

    @property
    def settings(self) -> dict[str, object]:
        return {}

    def version(self) -> str:
        return "1"

    def recognize(self, image: Image.Image) -> PageText:
        self.seen.append(image.size)
        time.sleep(self.seconds)
        return PageText(1, "甲", "ocr", 1.0, self.name)


def _frames(path: Path, frames: list[Image.Image]) -> Path:
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(300, 300))
    return path


def test_blank_and_tiny_frames_are_counted_not_sent_to_the_engine(tmp_path: Path) -> None:
    written = Image.new("L", (80, 60), 255)
    written.paste(0, (10, 10, 70, 20))  # a stroke: not blank
    faint = Image.new("L", (80, 60), 250)
    faint.putpixel((40, 30), 200)  # one faint mark still goes to the engine
    frames = [Image.new("L", (1, 1), 0), written, Image.new("L", (80, 60), 255), Image.new("L", (8, 400), 0), faint]
    engine = CountingEngine()
    result = extract(_frames(tmp_path / "帧.tif", frames), engine)
    assert engine.seen == [(80, 60), (80, 60)]
    assert [p.number for p in result.pages] == [2, 5] and result.blank_pages == 3
    assert result.engine is not None and result.findings == []


def test_ocr_stops_cleanly_when_its_time_is_spent(tmp_path: Path) -> None:
    page = Image.new("L", (80, 60), 255)
    page.paste(0, (10, 10, 70, 20))
    engine = CountingEngine(seconds=0.05)
    result = extract(_frames(tmp_path / "长卷.tif", [page] * 6), engine, ocr_time_limit=0.12)
    assert 1 <= len(engine.seen) < 6  # stopped, after reading what fitted
    assert [p.number for p in result.pages] == list(range(1, len(engine.seen) + 1))  # the pages read are kept
    assert codes(result) == [TEXT_OCR_TIMEOUT] and result.findings[0].verdict is Verdict.warning
    assert "ocr_time_limit = 0.12" in result.findings[0].message
    unlimited = extract(tmp_path / "长卷.tif", CountingEngine())
    assert len(unlimited.pages) == 6 and unlimited.findings == []
