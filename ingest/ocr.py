"""光学字符识别 (OCR): turn one scanned page image into text, with Tesseract or RapidOCR.

Each engine is an :class:`OcrEngine` with a ``name``, a ``version()`` probe and a
``settings`` dict, so the PREMIS event of a derivative can say exactly what produced the
text. :func:`get_engine` hands out one engine per name per process; it is cheap, so every
ingest worker calls it for itself.

- :class:`TesseractEngine` runs the Debian ``tesseract`` binary in a subprocess, one page
  per call, with a timeout. No Python wrapper is needed: pytesseract would also spawn the
  binary, and we want our own timeout, version probe and error messages anyway.
- :class:`RapidOcrEngine` runs the PP-OCRv4 models that ship inside the
  ``rapidocr-onnxruntime`` wheel (nothing is downloaded). Its ONNX sessions are created
  on first use in the process that recognises, never at import and never inherited
  through ``fork``.
- :class:`ScriptAwareEngine` (``auto``, the default) lets RapidOCR read every page and has
  Tesseract ``chi_tra`` read again the pages RapidOCR's text shows to be traditional.

All limit themselves to ``threads`` CPU threads (default 1), so ``workers`` ingest
processes use ``workers`` cores and do not fight each other.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar

from PIL import Image, ImageFilter

from archive.errors import ConfigError, DanganError, ExitCode, MissingDependencyError
from search.text import converter

__all__ = [
    "ENGINES",
    "SOURCE_FILE",
    "SOURCE_OCR",
    "SOURCE_TEXT_LAYER",
    "EngineInfo",
    "OcrEngine",
    "OcrError",
    "OcrTimeoutError",
    "PageText",
    "RapidOcrEngine",
    "ScriptAwareEngine",
    "TesseractEngine",
    "get_engine",
    "join_words",
    "parse_tsv",
    "reads_traditional",
    "script_marks",
]

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


# --- Tesseract ------------------------------------------------------------------------------

_TESSERACT_PACKAGE = "tesseract-ocr"
_VERSION_LINE = re.compile(r"tesseract\s+v?(\S+)", re.I)


def _language_package(language: str) -> str:
    """Debian names language data ``tesseract-ocr-chi-sim`` for ``chi_sim``."""
    return f"tesseract-ocr-{language.lower().replace('_', '-')}"


class TesseractEngine(OcrEngine):
    """Tesseract through its command-line program, one subprocess per page.

    Args:
        languages: traineddata names joined by ``+``. ``chi_sim`` (the default) read
            simplified pages best; an archive of traditional documents sets ``chi_tra``.
            Neither a mixed ``chi_sim+chi_tra`` run nor picking the more confident of two
            runs was sound (see ``bench/ocr.py``): Tesseract reads a simplified page with
            ``chi_tra`` confidently, in traditional characters.
        psm: page segmentation mode. 6 (one block of text) is the default: with 3
            (automatic layout) Tesseract now and then dropped whole lines of a plain
            page, which 6 never did on the bench pages.
        timeout: seconds per page before Tesseract is killed.
        threads: OpenMP threads (``OMP_THREAD_LIMIT``); two made a page slower here.
        binary: the program to run.
    """

    name = "tesseract"

    def __init__(
        self,
        languages: str = "chi_sim",
        *,
        psm: int = 6,
        timeout: float = 180.0,
        threads: int = 1,
        binary: str = "tesseract",
    ) -> None:
        self.languages = languages
        self.psm = psm
        self.timeout = timeout
        self.threads = threads
        self.binary = binary
        self._version: str | None = None

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "languages": self.languages,
            "psm": self.psm,
            "preprocess": f"median 3x3 on grey or colour pages of {DESPECKLE_MIN_DPI} dpi or more",
            "timeout_s": self.timeout,
            "threads": self.threads,
        }

    def version(self) -> str:
        if self._version is None:
            found = _VERSION_LINE.search(self._run_probe("--version"))
            version = found.group(1) if found else "unknown"
            self._check_languages()
            self._version = version
        return self._version

    def _run_probe(self, *args: str) -> str:
        try:
            done = subprocess.run([self.binary, *args], capture_output=True, timeout=30, env=self._env(), check=False)
        except FileNotFoundError as exc:
            raise MissingDependencyError(
                f"找不到 OCR 程序 {self.binary}，请安装 Debian 软件包 {_TESSERACT_PACKAGE} "
                f"(tesseract not found; apt install {_TESSERACT_PACKAGE})"
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MissingDependencyError(
                f"OCR 程序 {self.binary} 无法运行，请重新安装 {_TESSERACT_PACKAGE} (tesseract cannot run: {exc})"
            ) from exc
        # tesseract 3 printed its version on stderr, later ones on stdout
        return (done.stdout + done.stderr).decode("utf-8", "replace")

    def _check_languages(self) -> None:
        listed = self._run_probe("--list-langs").splitlines()
        have = {line.strip() for line in listed[1:]}  # the first line names the tessdata folder
        wanted = dict.fromkeys(self.languages.split("+"))
        missing = [lang for lang in wanted if lang not in have]
        if missing:
            packages = " ".join(_language_package(lang) for lang in missing)
            raise MissingDependencyError(
                f"Tesseract 缺少语言数据 {'、'.join(missing)}，请安装 Debian 软件包 {packages} "
                f"(tesseract language data missing: {', '.join(missing)}; apt install {packages})"
            )

    def _env(self) -> dict[str, str]:
        # Debian's tesseract uses OpenMP; left alone it spins on every core and was three
        # times slower per page here, worse still with two workers.
        return {**os.environ, "OMP_THREAD_LIMIT": str(self.threads)}

    def recognize(self, image: Image.Image) -> PageText:
        self.version()
        dpi = _stated_dpi(image)
        command = [self.binary, "stdin", "stdout", "-l", self.languages, "--psm", str(self.psm)]
        command += ["--dpi", str(dpi)] if dpi else []
        try:
            done = subprocess.run(
                [*command, "tsv"],
                input=_png(_despeckled(image, dpi)),
                capture_output=True,
                timeout=self.timeout,
                env=self._env(),
            )
        except subprocess.TimeoutExpired as exc:
            raise OcrTimeoutError(f"Tesseract 识别超时 (timed out after {self.timeout:g} s)") from exc
        except OSError as exc:
            raise OcrError(f"Tesseract 无法运行 (cannot run: {exc})") from exc
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OcrError(f"Tesseract 识别失败 (exit {done.returncode}: {said[-1] if said else 'no message'})")
        text, confidence = parse_tsv(done.stdout.decode("utf-8", "replace"))
        return PageText(1, text, SOURCE_OCR, confidence, f"tesseract {self.languages}")


def _stated_dpi(image: Image.Image) -> int | None:
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return None
    return value if 50 <= value <= 2400 else None  # else Tesseract guesses from text height


#: Grey and colour pages scanned at this resolution or finer go through a 3×3 median filter.
DESPECKLE_MIN_DPI = 300


def _despeckled(image: Image.Image, dpi: int | None) -> Image.Image:
    """A grey or colour page of at least DESPECKLE_MIN_DPI through a 3×3 median filter.

    Single-pixel dust cost Tesseract 5–6 points of CER on the bench's dusty 300 dpi pages
    (12 pt text), and the filter helped clean ones too. Where strokes are only a pixel or
    two wide it thins them instead: a bilevel page of 8 pt text at 200 dpi went from 1 % to
    33 %, so bilevel pages, coarser scans and pages without a stated resolution are left as
    they are. Small print at 300 dpi still pays (8 pt: 0.6 % → 2.3 %). Removing only
    isolated pixels, which spares strokes, did not help: Tesseract read such a page no
    better than the dusty one.
    """
    page = _page_ready(image)
    if page.mode == "1" or dpi is None or dpi < DESPECKLE_MIN_DPI:
        return page
    return page.filter(ImageFilter.MedianFilter(3))


def _png(image: Image.Image) -> bytes:
    """Fast PNG for the pipe: level 1 compresses a page 50× in 70 ms; raw PNM made Tesseract slower."""
    buffer = io.BytesIO()
    _page_ready(image).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def parse_tsv(tsv: str) -> tuple[str, float | None]:
    """Text and mean word confidence (0–1) from Tesseract's TSV output.

    Words (level 5) are grouped by block, paragraph and line; a new paragraph gets a blank
    line before it, as in Tesseract's own text output.
    """
    lines: dict[tuple[str, str, str], list[str]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        lines.setdefault((cols[2], cols[3], cols[4]), []).append(cols[11].strip())
        conf = float(cols[10])
        if conf >= 0:
            confidences.append(conf / 100)
    out: list[str] = []
    previous: tuple[str, str] | None = None
    for (block, par, _), words in lines.items():
        if previous is not None and previous != (block, par):
            out.append("")
        out.append(join_words(words))
        previous = (block, par)
    return "\n".join(out), _mean(confidences)


# --- RapidOCR -------------------------------------------------------------------------------

_RAPID_PACKAGE = "rapidocr-onnxruntime"
# Sessions a forked child inherited from its parent: never used, and never destroyed
# either, since tearing down another process's thread pool can hang.
_INHERITED: list[Any] = []


class RapidOcrEngine(OcrEngine):
    """RapidOCR (PP-OCRv4 detection + recognition, ONNX Runtime on the CPU).

    The recognition model reads simplified Chinese very well, but its 6,623-character
    set lacks common traditional characters (議 說 論 黨 準…: 38 of the 396 distinct
    ones in the sample records), which are dropped or misread; for traditional pages
    :class:`TesseractEngine` with ``chi_tra`` reads better.

    Args:
        threads: ONNX Runtime threads for this process (OpenCV's short bursts are left
            alone, see ``_create``).
        max_side: pages are scaled so their longer side is at most this many pixels
            before detection; 2000 (the package default) read our A5 test pages as well
            as 4000 did, in about half the time.
        text_score: lines recognised with less confidence are dropped.
    """

    name = "rapidocr"

    def __init__(self, *, threads: int = 1, max_side: int = 2000, text_score: float = 0.5) -> None:
        self.threads = threads
        self.max_side = max_side
        self.text_score = text_score
        self._ocr: Any = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_ocr=None, _owner_pid=None, _lock=None)  # a session never travels
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "models": "PP-OCRv4 det/rec (ch), mobile v2.0 cls, bundled in the wheel",
            "max_side": self.max_side,
            "text_score": self.text_score,
            "threads": self.threads,
        }

    def version(self) -> str:
        try:
            return f"{_RAPID_PACKAGE} {metadata.version(_RAPID_PACKAGE)}, onnxruntime {metadata.version('onnxruntime')}"
        except metadata.PackageNotFoundError as exc:
            raise _rapid_missing(exc) from exc

    def _session(self) -> Any:
        """The RapidOCR pipeline for this process, created on first use."""
        if self._ocr is not None and self._owner_pid == os.getpid():
            return self._ocr
        if self._lock is None or self._owner_pid not in (None, os.getpid()):
            _INHERITED.append(self._ocr)
            self._ocr, self._lock = None, threading.Lock()
        with self._lock:
            if self._ocr is None:
                self._ocr = self._create()
                self._owner_pid = os.getpid()
        return self._ocr

    def _create(self) -> Any:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise _rapid_missing(exc) from exc
        # OpenCV keeps its own pool (cores-many threads) for short resize/warp bursts; it is left
        # alone: cv2.setNumThreads in a forked child whose parent had used that pool deadlocks.
        return RapidOCR(
            max_side_len=self.max_side,
            text_score=self.text_score,
            intra_op_num_threads=self.threads,
            inter_op_num_threads=1,
        )

    def recognize(self, image: Image.Image) -> PageText:
        ocr = self._session()
        try:
            result, _ = ocr(_page_ready(image))
        except Exception as exc:  # noqa: BLE001 - the engine's own errors are not typed
            raise OcrError(f"RapidOCR 识别失败 (failed: {type(exc).__name__}: {exc})") from exc
        lines = _rapid_lines(result or [])
        text = "\n".join(join_words([piece for _, piece in line]) for line in lines)
        return PageText(1, text, SOURCE_OCR, _mean([float(score) for line in lines for score, _ in line]), self.name)


def _rapid_missing(exc: BaseException) -> MissingDependencyError:
    return MissingDependencyError(
        f"缺少 RapidOCR，请安装 Python 包 {_RAPID_PACKAGE} (RapidOCR missing; pip install {_RAPID_PACKAGE}: {exc})"
    )


def _rapid_lines(result: list[Any]) -> list[list[tuple[float, str]]]:
    """Boxes arrive top-to-bottom; boxes whose vertical centres fall within half a box height join one line."""
    lines: list[list[tuple[float, str]]] = []
    last_centre, last_height = None, 0.0
    for box, piece, score in result:
        ys = [point[1] for point in box]
        centre, height = (min(ys) + max(ys)) / 2, max(ys) - min(ys)
        if last_centre is not None and abs(centre - last_centre) < max(height, last_height) / 2:
            lines[-1].append((score, piece))
        else:
            lines.append([(score, piece)])
            last_centre, last_height = centre, height
    return lines


# --- by script ------------------------------------------------------------------------------

#: A page reads as traditional when at least this share of its script-specific characters
#: are traditional forms, and there are at least MIN_SCRIPT_MARKS of them.
TRADITIONAL_SHARE = 0.5
MIN_SCRIPT_MARKS = 5
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")


def script_marks(text: str) -> tuple[int, int]:
    """(traditional, simplified): the Han characters of ``text`` that the other script writes differently.

    A character counts as traditional when ``t2s`` changes it, as simplified when ``t2s``
    leaves it and ``s2tw`` (Taiwan's forms: OpenCC's own table would call 群 simplified,
    羣) changes it; characters both scripts write alike (人, 社, 工) count for neither. Each
    character is converted alone, so OpenCC's phrase rules cannot join neighbours.
    """
    han = _HAN.findall(text)
    if not han:
        return 0, 0
    joined = "\n".join(han)
    as_simplified = converter("t2s").convert(joined).split("\n")
    as_traditional = converter("s2tw").convert(joined).split("\n")
    traditional = simplified = 0
    for c, s, t in zip(han, as_simplified, as_traditional, strict=True):
        if c != s:
            traditional += 1
        elif c != t:
            simplified += 1
    return traditional, simplified


def reads_traditional(text: str) -> bool:
    """Whether a page's text is in traditional characters (繁体), by :func:`script_marks`."""
    traditional, simplified = script_marks(text)
    marks = traditional + simplified
    return marks >= MIN_SCRIPT_MARKS and traditional >= TRADITIONAL_SHARE * marks


class ScriptAwareEngine(OcrEngine):
    """按字形分流识别: RapidOCR reads every page; a page it reads as traditional is read again by Tesseract.

    RapidOCR reads simplified pages best, but its model cannot write 議 說 論 黨 and other
    common traditional characters, so it misreads traditional pages (11–14 % CER over the
    seven sample records in ``bench/ocr.py``), where Tesseract with ``chi_tra`` scored
    1.2–2.4 %. RapidOCR's reading of a traditional page still gives the script away: of
    the characters the two scripts write differently, 82–93 % came out traditional on every
    traditional bench page and none on the simplified ones. A traditional page therefore
    costs both engines' time. A page with fewer than MIN_SCRIPT_MARKS such characters (a
    line or two) stays with RapidOCR. When Tesseract fails on a page, RapidOCR's text is
    kept. Each page's :attr:`PageText.reader` says which engine's text was kept.

    Args:
        threads: CPU threads for each engine.
        traditional: Tesseract traineddata for traditional pages.
    """

    name = "auto"

    def __init__(self, *, threads: int = 1, traditional: str = "chi_tra") -> None:
        self.first = RapidOcrEngine(threads=threads)
        self.traditional = TesseractEngine(traditional, threads=threads)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "rule": (
                f"RapidOCR reads each page; when at least {TRADITIONAL_SHARE:.0%} of at least {MIN_SCRIPT_MARKS} "
                "script-specific characters are traditional, Tesseract reads the page instead"
            ),
            "rapidocr": self.first.settings,
            "tesseract": self.traditional.settings,
        }

    def version(self) -> str:
        return f"{self.first.version()}; tesseract {self.traditional.version()}"

    def recognize(self, image: Image.Image) -> PageText:
        page = self.first.recognize(image)
        if not reads_traditional(page.text):
            return page
        try:
            return self.traditional.recognize(image)
        except OcrError:  # a timeout included: a weaker reading beats none
            return page


# --- by name --------------------------------------------------------------------------------

ENGINES: dict[str, type[OcrEngine]] = {
    "auto": ScriptAwareEngine,
    "rapidocr": RapidOcrEngine,
    "tesseract": TesseractEngine,
}
_CACHE: dict[tuple[int, str, tuple[tuple[str, Any], ...]], OcrEngine] = {}


def get_engine(name: str, **options: Any) -> OcrEngine:
    """The engine called ``name`` for this process, created on first call (cheap: nothing loads yet).

    Args:
        name: ``"auto"``, ``"rapidocr"`` or ``"tesseract"``.
        **options: keyword arguments of the engine's class (``threads``, ``languages``…);
            each distinct set gets its own cached instance.

    Raises:
        ConfigError: no engine has that name.
    """
    if name not in ENGINES:
        raise ConfigError(f"未知的 OCR 引擎 {name!r}，可选 {'、'.join(ENGINES)} (unknown OCR engine)")
    key = (os.getpid(), name, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = ENGINES[name](**options)
    return _CACHE[key]
