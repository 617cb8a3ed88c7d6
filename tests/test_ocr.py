"""OCR engines on rendered Chinese pages; Tesseract and RapidOCR both run for real (installed here and in CI).

CER thresholds come from ``bench/ocr.py`` (A4 pages, six scan conditions, the seven
sample records): on simplified pages Tesseract (``chi_sim``) stayed at or under 2.9 % and
RapidOCR under 0.5 %; a wrong model scored far worse (``chi_tra`` reading simplified pages
27–30 %, ``chi_sim`` reading traditional ones 29–30 %). The simplified test page is small
and clean (both engines read it with at most one error when measured), so 5 % leaves room
for engine updates while a wrong model or a broken line join fails. Traditional pages are
set with the TC glyph forms, as they are printed: Tesseract with ``chi_tra`` scored
1.2–2.4 % there and RapidOCR about 8–9 %; on the traditional test sentence 1.2 % and 11 %.
RapidOCR's threshold is 15 % because this sentence holds five characters its model cannot
output at all (議 論 黨 準 討); ``auto`` hands such a page to Tesseract.
"""

from __future__ import annotations

import functools
import multiprocessing
import pickle
import subprocess
import sys
import unicodedata

import pytest
from PIL import Image

from archive.errors import ConfigError, MissingDependencyError
from ingest.ocr import (
    OcrError,
    OcrTimeoutError,
    PageText,
    RapidOcrEngine,
    ScriptAwareEngine,
    TesseractEngine,
    get_engine,
    join_words,
    parse_tsv,
    reads_traditional,
    script_marks,
)
from tests.conftest import REPO
from tests.render import render_page

SIMPLIFIED = (
    "# 居民代表会议通知\n定于2023年6月28日下午2时30分在社区党群服务中心二楼会议室召开居民代表会议，"
    "讨论老旧小区加装电梯事宜，请各位代表准时参加。\n> 振兴社区居民委员会"
)
TRADITIONAL = (
    "# 居民代表會議通知\n定於2023年6月28日下午2時30分在社區黨群服務中心二樓會議室召開居民代表會議，"
    "討論老舊小區加裝電梯事宜，請各位代表準時參加。\n> 振興社區居民委員會"
)
SMALL = (120, 70)  # millimetres: three or four lines, about 80 characters, under a second of OCR
TINY = "# 社区居民委员会\n会议记录"  # set on TINY_MM: two lines, for tests about plumbing, not accuracy
TINY_MM = (70, 25)
ENGINES = ["tesseract", "rapidocr", "auto"]


@functools.cache
def page(text: str, mode: str = "L", size_mm: tuple[float, float] = SMALL) -> Image.Image:
    """The text at 300 dpi, traditional text set with the TC glyph forms as it would be printed."""
    return render_page(text, dpi=300, size_mm=size_mm, mode=mode, region="TC" if text == TRADITIONAL else "SC")


def cer(truth: str, found: str) -> float:
    """Levenshtein edits over the truth's characters; whitespace removed, NFKC-folded (：→:)."""
    from bench.ocr import cer as bench_cer

    edits, chars = bench_cer(truth, found)
    return edits / chars


# --- both engines, for real -------------------------------------------------------------------


@pytest.mark.parametrize("name", ENGINES)
def test_simplified_page_at_300_dpi(name: str) -> None:
    image = page(SIMPLIFIED)
    found = get_engine(name).recognize(image)
    assert found.source == "ocr"
    assert cer(image.info["ground_truth"], found.text) < 0.05, found.text
    assert found.confidence is not None and 0.5 < found.confidence <= 1


@pytest.mark.parametrize(
    ("name", "options", "threshold"),
    [("tesseract", {"languages": "chi_tra"}, 0.05), ("rapidocr", {}, 0.15)],
)
def test_traditional_page(name: str, options: dict[str, str], threshold: float) -> None:
    image = page(TRADITIONAL)
    found = get_engine(name, **options).recognize(image).text
    assert cer(image.info["ground_truth"], found) < threshold, found
    assert "會" in found and "區" in found  # read as traditional, not folded into 会 区


def test_script_marks_tell_the_scripts_apart() -> None:
    assert script_marks(TRADITIONAL) == (27, 0)
    assert script_marks(SIMPLIFIED)[0] == 0 and script_marks(SIMPLIFIED)[1] > 10
    assert script_marks("社区工作人员 2023") == (0, 2)
    assert reads_traditional(TRADITIONAL) and not reads_traditional(SIMPLIFIED)
    assert not reads_traditional("會議")  # two characters decide nothing
    assert not reads_traditional("")


@pytest.mark.parametrize(("text", "reader"), [(SIMPLIFIED, "rapidocr"), (TRADITIONAL, "tesseract chi_tra")])
def test_auto_gives_each_script_to_its_reader(text: str, reader: str) -> None:
    image = page(text)
    found = get_engine("auto").recognize(image)
    assert found.reader == reader
    assert cer(image.info["ground_truth"], found.text) < 0.05, found.text


def test_auto_reads_what_rapidocr_cannot_write() -> None:
    found = get_engine("auto").recognize(page(TRADITIONAL)).text
    rapid = get_engine("rapidocr").recognize(page(TRADITIONAL)).text
    assert "議" in found and "論" in found
    assert "議" not in rapid and "論" not in rapid


def test_tesseract_chi_sim_does_not_read_traditional_pages() -> None:
    """Why an archive of traditional documents must set languages="chi_tra" (see the engine's docstring)."""
    image = page(TRADITIONAL)
    assert cer(image.info["ground_truth"], get_engine("tesseract").recognize(image).text) > 0.15


@pytest.mark.parametrize("name", ENGINES)
def test_blank_page_gives_empty_text(name: str) -> None:
    blank = Image.new("L", (1400, 800), 255)
    blank.info["dpi"] = (300, 300)
    found = get_engine(name).recognize(blank)
    reader = {"tesseract": "tesseract chi_sim", "rapidocr": "rapidocr", "auto": "rapidocr"}[name]
    assert found == PageText(1, "", "ocr", None, reader)


@pytest.mark.parametrize("mode", ["1", "RGB", "I;16", "P"])
def test_any_image_mode_is_read(mode: str) -> None:
    image = page(TINY, mode="RGB" if mode in ("RGB", "P") else "L", size_mm=TINY_MM)
    if mode == "I;16":
        converted = image.convert("I").point(lambda v: v * 256).convert("I;16")
    else:  # an adaptive palette: the default web palette dithers the tinted paper into noise
        converted = (
            image.convert(mode, palette=Image.Palette.ADAPTIVE, colors=16) if mode == "P" else image.convert(mode)
        )
    converted.info["dpi"] = (300, 300)
    assert "居民委员会" in get_engine("tesseract").recognize(converted).text


# --- what goes wrong --------------------------------------------------------------------------


def test_missing_language_names_the_debian_package() -> None:
    engine = TesseractEngine("chi_sim+zzz_nonexistent")
    with pytest.raises(MissingDependencyError, match="tesseract-ocr-zzz-nonexistent") as caught:
        engine.recognize(page(SIMPLIFIED))
    assert "zzz_nonexistent" in caught.value.message and "chi_sim," not in caught.value.message
    with pytest.raises(MissingDependencyError):
        engine.version()


def test_missing_binary_names_the_debian_package(tmp_path) -> None:
    engine = TesseractEngine(binary=str(tmp_path / "no-such-tesseract"))
    with pytest.raises(MissingDependencyError, match="请安装 Debian 软件包 tesseract-ocr"):
        engine.version()


def test_timeout_kills_the_page() -> None:
    with pytest.raises(OcrTimeoutError, match="timed out"):
        TesseractEngine(timeout=0.01).recognize(page(SIMPLIFIED))


def test_engine_failure_is_an_ocr_error() -> None:
    with pytest.raises(OcrError, match="exit 1"):
        TesseractEngine(psm=99).recognize(page(SIMPLIFIED))


def test_version_and_settings_for_premis() -> None:
    info = TesseractEngine().info()
    assert info.name == "tesseract" and info.version[0].isdigit()
    assert info.settings["languages"] == "chi_sim"
    rapid = RapidOcrEngine().info()
    assert rapid.version.startswith("rapidocr-onnxruntime ") and "onnxruntime" in rapid.version
    assert rapid.settings["threads"] == 1
    auto = ScriptAwareEngine().info()
    assert auto.name == "auto" and auto.version.startswith(rapid.version + "; tesseract ")
    assert auto.settings["tesseract"]["languages"] == "chi_tra" and "50%" in auto.settings["rule"]


def test_auto_needs_tesseract_and_its_language(tmp_path) -> None:
    with pytest.raises(MissingDependencyError, match="tesseract-ocr-zzz-none"):
        ScriptAwareEngine(traditional="zzz_none").version()
    engine = ScriptAwareEngine()
    engine.traditional.binary = str(tmp_path / "no-such-tesseract")
    with pytest.raises(MissingDependencyError, match="请安装 Debian 软件包 tesseract-ocr"):
        engine.version()


def test_auto_keeps_rapidocrs_text_when_tesseract_fails() -> None:
    engine = ScriptAwareEngine()
    engine.traditional.timeout = 0.01
    found = engine.recognize(page(TRADITIONAL))
    assert found.reader == "rapidocr" and "會" in found.text


def test_despeckling_spares_bilevel_and_coarse_pages() -> None:
    from ingest._ocr_tesseract import _despeckled

    speck = Image.new("L", (60, 60), 255)
    speck.putpixel((30, 30), 0)
    assert _despeckled(speck, 300).getpixel((30, 30)) == 255  # dust at 300 dpi is filtered out
    for image, dpi in ((speck, 200), (speck, None), (speck.convert("1"), 600)):
        assert _despeckled(image, dpi).getpixel((30, 30)) == 0


# --- per process, per worker ------------------------------------------------------------------


def test_get_engine_is_cached_per_name_and_options() -> None:
    assert get_engine("tesseract") is get_engine("tesseract")
    assert get_engine("tesseract", languages="chi_tra") is not get_engine("tesseract")
    assert isinstance(get_engine("rapidocr"), RapidOcrEngine)
    with pytest.raises(ConfigError, match="未知的 OCR 引擎"):
        get_engine("abbyy")


def test_rapidocr_loads_nothing_until_it_recognises() -> None:
    probe = "import sys, ingest.ocr as o; o.get_engine('rapidocr').settings; print('onnxruntime' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def _recognise_in_child(engine: RapidOcrEngine, image: Image.Image, out: multiprocessing.Queue) -> None:
    out.put(engine.recognize(image).text)


def test_rapidocr_after_fork_makes_its_own_session() -> None:
    """The parent's session (and OpenCV's thread pool) must neither be used nor hang a forked worker."""
    engine = get_engine("rapidocr")
    image = page(TINY, size_mm=TINY_MM)
    expected = engine.recognize(image).text
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_recognise_in_child, args=(engine, image, out))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked worker hung")
    assert child.exitcode == 0
    assert out.get(timeout=5) == expected


def test_rapidocr_engine_pickles_without_its_session() -> None:
    engine = get_engine("rapidocr")
    engine.recognize(page(TINY, size_mm=TINY_MM))
    copy = pickle.loads(pickle.dumps(engine))  # the fork test shows a session-less engine makes its own
    assert engine._ocr is not None and copy._ocr is None and copy.settings == engine.settings


# --- text assembly --------------------------------------------------------------------------


def test_join_words_spaces_only_between_latin_neighbours() -> None:
    assert join_words(["社区", "居民", "委员会"]) == "社区居民委员会"
    assert join_words(["电话", "0000-1234567", "ext", "12", "号"]) == "电话0000-1234567 ext 12号"
    assert unicodedata.east_asian_width("：") == "F"
    assert join_words(["联系人：", "刘晓燕"]) == "联系人：刘晓燕"


def test_parse_tsv_lines_paragraphs_and_confidence() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\t关于",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t80\t通知",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t70\tNo.",
        "5\t1\t1\t1\t2\t2\t0\t0\t1\t1\t60\t3",
        "5\t1\t2\t1\t1\t1\t0\t0\t1\t1\t-1\t ",
        "5\t1\t2\t1\t1\t2\t0\t0\t1\t1\t100\t落款",
    ]
    text, confidence = parse_tsv("\n".join([header, *rows]))
    assert text == "关于通知\nNo. 3\n\n落款"
    assert confidence == pytest.approx(0.8)
    assert parse_tsv(header) == ("", None)
