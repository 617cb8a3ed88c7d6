"""RapidOCR: the PP-OCRv4 models of the ``rapidocr-onnxruntime`` wheel, on ONNX Runtime."""

from __future__ import annotations

import os
import threading
from typing import Any

from PIL import Image

from archive.errors import MissingDependencyError
from archive.i18n import _
from ingest._ocr_base import (
    SOURCE_OCR,
    OcrEngine,
    OcrError,
    PageText,
    _mean,
    _page_ready,
    join_words,
)

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
        from importlib import metadata  # only when a version is asked for (20 ms at every start-up otherwise)

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
            result, _elapsed = ocr(_page_ready(image))
        except Exception as exc:  # noqa: BLE001 - the engine's own errors are not typed
            raise OcrError(f"RapidOCR 识别失败 (failed: {type(exc).__name__}: {exc})") from exc
        lines = _rapid_lines(result or [])
        text = "\n".join(join_words([piece for _score, piece in line]) for line in lines)
        return PageText(
            1, text, SOURCE_OCR, _mean([float(score) for line in lines for score, _piece in line]), self.name
        )


def _rapid_missing(exc: BaseException) -> MissingDependencyError:
    return MissingDependencyError(
        _("缺少 RapidOCR，请安装 Python 包 {package}: {error}").format(package=_RAPID_PACKAGE, error=exc)
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
