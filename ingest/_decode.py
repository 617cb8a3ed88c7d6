"""Private decoders behind :mod:`ingest.formats`: OLE2, text, audio/video, and what they share.

PDF is in :mod:`ingest._decode_pdf`, containers in :mod:`ingest._package`.

Each ``check_*`` function takes the file and a :class:`Notes` collector and returns a
:class:`Decoded`; none of them raises for a bad file. Shared Pillow plumbing lives here too,
because PDF pages carry images that must be decoded under the same pixel ceiling.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pikepdf
from PIL import Image, ImageFile

from archive.model import Finding, Verdict

BILEVEL, GREY, COLOUR = "黑白二值", "灰度", "彩色"
_COLOUR_RANK = {BILEVEL: 0, GREY: 1, COLOUR: 2}

# Pillow, pikepdf and the stdlib raise these for damaged or hostile input (Pillow's own
# fuzz tests accept the same family); anything else is a bug and reaches the caller's net.
_STDLIB_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError, MemoryError)
DECODE_ERRORS: tuple[type[BaseException], ...] = _STDLIB_ERRORS + (
    RecursionError, NotImplementedError, struct.error, zlib.error, Image.DecompressionBombError, pikepdf.PikepdfError
)  # fmt: skip
BOMB_ZH, BOMB_EN = "像素数超过上限，疑似解压缩炸弹", "decompression bomb"


class Notes:
    """Collects the findings for one file, naming it the same way in every message."""

    def __init__(self, display_name: str, path: Path | None = None) -> None:
        self.name = display_name
        self._path = str(path) if path else None
        self.findings: list[Finding] = []

    def add(self, verdict: Verdict, code: str, zh: str, en: str, reason: str | None) -> None:
        """Record a finding; the message is Chinese first, English in parentheses."""
        if reason and self._path:  # libraries quote the staging path; people know the name
            reason = reason.replace(self._path, self.name)
        tail = f": {reason}" if reason else ""
        message = f"「{self.name}」{zh} ({en}{tail})"
        self.findings.append(Finding(code, verdict, message, path=self.name, found=reason))

    def fail(self, code: str, zh: str, en: str, reason: str | None = None) -> None:
        """Record a failure (不通过)."""
        self.add(Verdict.failed, code, zh, en, reason)

    def warn(self, code: str, zh: str, en: str, reason: str | None = None) -> None:
        """Record a warning (警告)."""
        self.add(Verdict.warning, code, zh, en, reason)


@dataclass(frozen=True)
class Limits:
    """What one file is inspected under ([ingest] settings of the same names).

    ``max_pixels`` caps each image or frame, and a file's frames together at
    FILE_PIXELS_FACTOR times that; ``max_pages`` caps a file's pages (TIFF frames, PDF and
    OFD pages), counted no further than that; ``active_content`` is ``warn`` or ``refuse``.
    """

    max_pixels: int = 200_000_000
    max_pages: int = 3000
    active_content: str = "warn"


#: A file's frames together may hold this many times ``max_pixels`` (a 300-page A4 scan at
#: 600 dpi is 10 gigapixels, 50 times the default): beyond it decoding is a bomb of frames.
FILE_PIXELS_FACTOR = 100


def pages_refused(notes: Notes, found: int, limits: Limits) -> bool:
    """GD-3-4: more pages than ``[ingest] max_pages``; the file is not decoded further."""
    if found <= limits.max_pages:
        return False
    zh = f"页数超过设置 [ingest] max_pages = {limits.max_pages}，不再解码和识别；请拆分该件或调高此设置"
    notes.fail("GD-3-4", zh, "too many pages", f"more than {limits.max_pages} pages")
    return True


@dataclass
class Decoded:
    """What a decoder learned about the file beyond its findings."""

    pages: int | None = None
    dpi: float | None = None
    color_mode: str | None = None
    is_scan: bool = False
    archival: bool = False  # only zip packages set it: the subtype decides (OOXML/OFD yes)
    format_name: str | None = None  # override where PRONOM has no entry (OFD)
    mime: str | None = None


def describe(exc: BaseException) -> str:
    """One line naming an exception, for the ``found`` field."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def colour_mode(mode: str) -> str:
    """Map a Pillow mode to the DA/T 31 colour mode."""
    if mode == "1":
        return BILEVEL
    if mode in ("L", "LA", "La", "I", "F") or mode.startswith("I;16"):
        return GREY
    return COLOUR


def richest(modes: list[str]) -> str | None:
    """The most demanding colour mode among pages: one colour page makes a colour file."""
    return max(modes, key=_COLOUR_RANK.__getitem__) if modes else None


# --- Pillow plumbing ---------------------------------------------------------------------

# Pillow's bomb limit and truncation switch are module globals, and ``warnings`` and fd 2
# are process-wide, so one lock serialises Pillow decoding in this process; parallel ingest
# should use processes. Re-created after fork so a child never inherits a held lock.
_PIL_LOCK = threading.RLock()
# libtiff's default handlers print "Module: message" (errors) and "Module: Warning, message";
# the module is a function name or the name Pillow opened the data under ("tempfile.tif").
_LIBTIFF_LINE = re.compile(r"^[A-Za-z_][\w.-]*: ")


def _reset_lock() -> None:
    global _PIL_LOCK
    _PIL_LOCK = threading.RLock()


os.register_at_fork(after_in_child=_reset_lock)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _stderr_to(lines: list[str]) -> Iterator[None]:
    """Point fd 2 at a temp file: libtiff prints its warnings there, out of Python's reach.

    Anything another thread writes to stderr meanwhile is captured too; that is the price
    of seeing libtiff's "Bad code word" reports at all.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some daemons): nothing to capture
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            for line in filter(None, map(str.strip, text.splitlines())):
                if _LIBTIFF_LINE.match(line):
                    lines.append(line)
                else:  # not ours (another thread, or a library we do not know): pass it on
                    print(line, file=sys.stderr)


@contextmanager
def pillow_scope(max_pixels: int, notes: Notes) -> Iterator[None]:
    """Run Pillow with this file's pixel ceiling, then report what Pillow and libtiff said.

    Pillow warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that; the warning is
    turned into a failure here. Globals are restored on exit whatever happens.
    """
    handler = _ListHandler()
    logger = logging.getLogger("PIL")
    stderr: list[str] = []
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
        logger.addHandler(handler)
        try:
            with warnings.catch_warnings(record=True) as caught, _stderr_to(stderr):
                warnings.simplefilter("always")
                yield
        finally:
            logger.removeHandler(handler)
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved
            _report_noise(notes, caught, handler.messages, stderr)


@contextmanager
def pillow_headers_only() -> Iterator[None]:
    """Lift Pillow's pixel ceiling to read the header of an image it refused to open as a bomb.

    Nothing may be loaded or seeked to a decoded frame inside: the ceiling is what stops
    Pillow from allocating the pixels.
    """
    with _PIL_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _report_noise(notes: Notes, caught: list[warnings.WarningMessage], logged: list[str], libtiff: list[str]) -> None:
    """Bomb warnings and libtiff errors (corrupt pixels it decoded anyway) fail; the rest warn."""
    said = list(logged)
    for item in caught:
        if issubclass(item.category, Image.DecompressionBombWarning):
            notes.fail("GD-3-4", BOMB_ZH, BOMB_EN, str(item.message))
        elif f"{os.sep}PIL{os.sep}" in item.filename:  # skip ResourceWarnings etc. not Pillow's
            said.append(str(item.message))
    errors = [line for line in libtiff if ": Warning," not in line]
    said += [line for line in libtiff if ": Warning," in line]
    if errors:
        more = f" (+{len(errors) - 1})" if len(errors) > 1 else ""
        notes.fail("GD-3-4", "图像数据损坏（libtiff 报错）", "corrupt image data reported by libtiff", errors[0] + more)
    for message in list(dict.fromkeys(said))[:10]:  # de-duplicated, in order
        notes.warn("GD-3-4", "解码库报告异常", "decoder warning", message)


# --- OLE2, text, audio and video ------------------------------------------------------------

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def check_ole(path: Path, notes: Notes, limits: Limits) -> Decoded:
    """Legacy Office/WPS: the compound-file header and directory must read; no encryption; macros noted."""
    import olefile  # fido's own dependency, only needed here

    from ingest._active import office_macros, report_active  # _active builds on this module's Notes

    with path.open("rb") as fh:
        if fh.read(8) != OLE_MAGIC:
            notes.fail("GD-3-4", "OLE2 文件头无效", "bad OLE2 header")
            return Decoded()
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(parts) for parts in ole.listdir()}
            encrypted = "EncryptedPackage" in streams or _word_encrypted(ole, streams)
    except DECODE_ERRORS as exc:
        notes.fail("GD-3-4", "OLE2 复合文档结构损坏", "OLE2 structure is damaged", describe(exc))
        return Decoded()
    if encrypted:
        notes.fail("GD-3-8", "加密或受密码保护的文档不能归档", "encrypted document")
    report_active(notes, office_macros(streams), limits.active_content)
    return Decoded()


def _word_encrypted(ole: Any, streams: set[str]) -> bool:
    if "WordDocument" not in streams:
        return False
    fib = ole.openstream("WordDocument").read(12)
    return len(fib) == 12 and bool(struct.unpack_from("<H", fib, 10)[0] & 0x0100)  # fEncrypted


def check_text(path: Path, notes: Notes) -> Decoded:
    """Plain text must decode as UTF-8 or GB18030 (the encodings the archive reads)."""
    if not any(decodes(path, encoding) for encoding in ("utf-8-sig", "gb18030")):
        notes.warn("GD-3-4", "文本既非 UTF-8 也非 GB18030 编码", "text is neither UTF-8 nor GB18030")
    return Decoded()


def decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_wav(path: Path, notes: Notes) -> Decoded:
    """RIFF sizes must agree with the file, and ``fmt `` and ``data`` chunks must exist."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE":
            notes.fail("GD-3-4", "WAV 文件头无效", "bad RIFF/WAVE header")
            return Decoded()
        order = ">" if head[:4] == b"RIFX" else "<"
        declared = struct.unpack(f"{order}I", head[4:8])[0] + 8
        if head[:4] != b"RF64" and declared > size:
            notes.fail("GD-3-4", "WAV 文件被截断", "WAV is truncated", f"RIFF says {declared}, file has {size}")
            return Decoded()
        seen = _riff_chunks(fh, order, min(declared, size) if head[:4] != b"RF64" else size)
    if seen is None or not {b"fmt ", b"data"} <= seen:
        notes.fail("GD-3-4", "WAV 结构损坏或缺少 fmt/data 块", "WAV chunks damaged or missing")
    return Decoded()


def _riff_chunks(fh: IO[bytes], order: str, end: int) -> set[bytes] | None:
    seen, pos = set(), 12
    for _ in range(100_000):  # bound the walk even for a file of empty chunks
        if pos + 8 > end:
            break
        fh.seek(pos)
        ident, length = struct.unpack(f"{order}4sI", fh.read(8))
        if pos + 8 + length > end and not (ident == b"data" and length == 0xFFFFFFFF):
            return None  # a chunk runs past the end: truncated
        seen.add(ident)
        pos += 8 + length + (length & 1)  # chunks are padded to even sizes
    return seen


def check_mp3(path: Path, notes: Notes) -> Decoded:
    """After any ID3v2 tag, a valid MPEG audio frame header must follow."""
    with path.open("rb") as fh:
        head = fh.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:
            tag = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]  # syncsafe
            start = 10 + tag + (10 if head[5] & 0x10 else 0)
        fh.seek(start)
        window = fh.read(65536)
    if not any(_mpeg_frame(window[i : i + 4]) for i in range(max(len(window) - 3, 0))):
        notes.fail("GD-3-4", "未找到有效的 MPEG 音频帧", "no valid MPEG audio frame found")
    return Decoded()


def _mpeg_frame(b: bytes) -> bool:
    return (
        len(b) == 4
        and b[0] == 0xFF
        and b[1] & 0xE0 == 0xE0
        and (b[1] >> 3) & 3 != 1  # version: reserved
        and (b[1] >> 1) & 3 != 0  # layer: reserved
        and b[2] >> 4 != 15  # bitrate: bad
        and (b[2] >> 2) & 3 != 3  # sample rate: reserved
        and b[3] & 3 != 2  # emphasis: reserved
    )


def check_isobmff(path: Path, notes: Notes) -> Decoded:
    """MP4 and kin: top-level boxes must tile the file, with ``moov`` present."""
    size, pos, kinds = path.stat().st_size, 0, set()
    with path.open("rb") as fh:
        for _ in range(100_000):  # bound the walk even for a file of empty boxes
            if pos >= size:
                break
            fh.seek(pos)
            header = fh.read(16)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1 and len(header) == 16:
                length = struct.unpack(">Q", header[8:])[0]
            elif length == 0:
                length = size - pos  # "to the end of the file"
            if length < 8 or pos + length > size:
                notes.fail(
                    "GD-3-4", "MP4 盒结构损坏或文件被截断", "MP4 box damaged or file truncated", kind.decode("latin-1")
                )
                return Decoded()
            kinds.add(kind)
            pos += length
    if b"moov" not in kinds:
        notes.fail("GD-3-4", "MP4 缺少 moov 盒，无法播放", "MP4 has no moov box")
    return Decoded()
