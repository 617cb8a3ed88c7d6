"""Tesseract: the Debian ``tesseract`` binary in a subprocess, one page per call, with a timeout."""

from __future__ import annotations

import io
import os
import re
import subprocess
from typing import Any

from PIL import Image, ImageFilter

from archive.errors import MissingDependencyError
from archive.i18n import _
from ingest._ocr_base import (
    SOURCE_OCR,
    OcrEngine,
    OcrError,
    OcrTimeoutError,
    PageText,
    _mean,
    _page_ready,
    join_words,
)

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
                _("找不到 OCR 程序 {program}，请安装 Debian 软件包 {package}").format(
                    program=self.binary, package=_TESSERACT_PACKAGE
                )
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MissingDependencyError(
                _("OCR 程序 {program} 无法运行，请重新安装 {package}: {error}").format(
                    program=self.binary, package=_TESSERACT_PACKAGE, error=exc
                )
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
                _("Tesseract 缺少语言数据 {languages}，请安装 Debian 软件包 {packages}").format(
                    languages=_("、").join(missing), packages=packages
                )
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
    for (block, par, _line), words in lines.items():
        if previous is not None and previous != (block, par):
            out.append("")
        out.append(join_words(words))
        previous = (block, par)
    return "\n".join(out), _mean(confidences)
