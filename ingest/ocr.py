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

The engines live one per module (``_ocr_tesseract.py``, ``_ocr_rapid.py``, the interface in
``_ocr_base.py``) and are registered once, by name, in :data:`ENGINES`; every public name is
importable from here.

All limit themselves to ``threads`` CPU threads (default 1), so ``workers`` ingest
processes use ``workers`` cores and do not fight each other.
"""

from __future__ import annotations

import os
import re
from typing import Any

from PIL import Image

from archive.errors import ConfigError
from archive.i18n import _
from ingest._ocr_base import (
    SOURCE_FILE,
    SOURCE_OCR,
    SOURCE_TEXT_LAYER,
    EngineInfo,
    OcrEngine,
    OcrError,
    OcrTimeoutError,
    PageText,
    join_words,
)
from ingest._ocr_rapid import RapidOcrEngine
from ingest._ocr_tesseract import TesseractEngine, parse_tsv
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

#: 识别引擎登记 (the OCR engine registry): ``[ingest] ocr`` names one of these, or ``off``;
#: a new engine is one module and one line here (README, "Adding a backend").
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
        raise ConfigError(
            _("未知的 OCR 引擎 {name}，可选 {choices}").format(name=repr(name), choices=_("、").join(ENGINES))
        )
    key = (os.getpid(), name, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = ENGINES[name](**options)
    return _CACHE[key]
