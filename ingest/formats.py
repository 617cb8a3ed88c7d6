"""Identify one file by its PRONOM signature and prove that it decodes completely.

``identify`` asks fido (the Open Preservation Foundation's PRONOM tool, with its bundled
signatures) what a file is. ``inspect_file`` also decodes it fully: every TIFF frame and
image is ``load()``-ed under a pixel ceiling, every PDF page's content is parsed and its
images decoded, every zip member is inflated and its XML parsed with DTDs refused, and so
on. ``open()`` alone proves nothing: a truncated JPEG opens and verifies, and only fails to
load; qpdf repairs a damaged PDF silently.

Nothing here raises for a bad file. Each problem becomes a :class:`~archive.model.Finding`
with its DA/T 70 code: ``GD-3-3`` (format not identified / not an archival format),
``GD-3-4`` (cannot be decoded, damaged, hostile, more pages than ``max_pages``) and
``GD-3-8`` (encrypted; active content, see :mod:`ingest._active`).
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from archive.errors import MissingDependencyError
from archive.i18n import _
from archive.model import Finding
from ingest._decode import (
    DECODE_ERRORS,
    FILE_PIXELS_FACTOR,  # noqa: F401 (the image decoder moved out; the ceiling is still read here)
    Decoded,
    Limits,
    Notes,
    check_isobmff,
    check_mp3,
    check_ole,
    check_text,
    check_wav,
    describe,
)
from ingest._decode_image import PIL_FORMATS, check_image
from ingest._decode_pdf import check_pdf
from ingest._package import check_xml, check_zip

__all__ = ["INSPECT_SETTINGS", "Inspection", "identify", "inspect_file"]

#: The [ingest] settings that are :func:`inspect_file`'s keyword arguments.
INSPECT_SETTINGS = ("max_pixels", "max_pages", "active_content")


@dataclass
class Inspection:
    """What one file is and whether it decodes; ``findings`` holds failures and warnings only.

    ``dpi`` is the lowest resolution the file itself states (x and y, every page), or for
    an image-only PDF the effective resolution of its images as placed on the page; None
    when nothing is stated (never Pillow's 72 dpi default). ``is_scan_format`` is true for
    TIFF, JPEG, PNG and JPEG 2000, and for PDFs whose pages draw images but show no
    visible text (an invisible OCR layer, text render mode 3, does not count as text).
    """

    puid: str | None
    format_name: str | None
    mime: str | None
    pages: int | None
    dpi: float | None
    color_mode: str | None
    is_scan_format: bool
    findings: list[Finding] = field(default_factory=list)


# --- identification (fido) -----------------------------------------------------------------

# When fido offers several formats, or falls back to the extension (where its priority
# rules can even drop generic XML for "DROID Signature File"), prefer the common ones.
_PREFERRED_PUIDS = (
    "fmt/353 fmt/43 fmt/41 fmt/13 fmt/12 fmt/11 x-fmt/392 fmt/276 fmt/101 x-fmt/111 x-fmt/18 "
    "fmt/141 fmt/134 fmt/199 fmt/4 fmt/1149".split()
)
# fido reads the whole member named by a container signature into memory; a bigger one
# is left to check_zip, which reports the bomb instead.
_CONTAINER_MEMBER_LIMIT = 64 * 1024**2


@dataclass(frozen=True)
class _Identity:
    puid: str | None = None
    name: str | None = None
    mime: str | None = None
    by_signature: bool = False  # False: fido fell back to the file extension


class _Identifier:
    """One fido instance per process, with its container signatures parsed once.

    fido keeps the file being matched on the instance, so matching is serialised by a lock;
    container matching (zip/OLE) runs outside it.
    """

    def __init__(self) -> None:
        try:
            from fido import CONFIG_DIR
            from fido.package import OlePackage, ZipPackage
            from fido.versions import get_local_versions

            from ingest._pronom import IndexedFido

            versions = get_local_versions(CONFIG_DIR)
            files = [versions.pronom_signature, versions.fido_extension_signature]
            # nocontainer: fido would re-parse the container XML for every zip; we do it once.
            # IndexedFido: fido's own matching, over only the formats whose signatures could match.
            self._fido = IndexedFido(
                _cache_dir(), quiet=True, nocontainer=True, handle_matches=self._collect, format_files=files
            )
            doc = ElementTree.parse(Path(CONFIG_DIR) / versions.pronom_container_signature)
            self._containers: dict[str, tuple[Any, dict[str, Any]]] = {
                "zip": (ZipPackage, self._fido.extract_signatures(doc, "ZIP")),
                "ole": (OlePackage, self._fido.extract_signatures(doc, "OLE2")),
            }
        # fido calls sys.exit() when a signature file does not parse.
        except (ImportError, OSError, TypeError, ElementTree.ParseError, SystemExit) as exc:
            raise MissingDependencyError(
                _("无法加载 fido 的 PRONOM 签名，请重新安装 opf-fido: {error}").format(error=describe(exc))
            ) from exc
        self._lock = threading.Lock()
        self._found: list[tuple[list[Any], str]] = []
        self._by_suffix: dict[str, Any] = {}
        for puid in reversed(_PREFERRED_PUIDS):  # earlier in the list wins
            fmt = self._fido.puid_format_map.get(puid)
            for ext in fmt.findall("extension") if fmt is not None else ():
                self._by_suffix[str(ext.text).lower()] = fmt

    def reset_lock(self) -> None:
        """A forked child must not inherit a lock some parent thread held."""
        self._lock = threading.Lock()

    def _collect(self, filename: str, matches: list[Any], delta_t: float, matchtype: str = "") -> None:
        self._found.append((matches, matchtype))

    def identify(self, path: Path, *, exhaustive: bool = False) -> _Identity:
        """Run fido on one file and pick the best of its matches.

        ``exhaustive`` tries every PRONOM format, as plain fido does, instead of those the
        signature index leaves; the answer is the same, only slower (tests compare the two).
        """
        with self._lock:
            self._found.clear()
            self._fido.exhaustive = exhaustive
            try:
                self._fido.identify_file(str(path))
            finally:
                self._fido.exhaustive = False
            found = list(self._found)
        if not found or not found[-1][0]:
            return _Identity()
        matches, how = found[-1]
        if how == "signature":
            inner = self._container_matches(path, self._fido.container_type(matches))
            matches, how = (inner, "container") if inner else (matches, how)
        suffix = path.suffix.lower().lstrip(".")
        if how == "extension" and suffix in self._by_suffix:
            best = self._by_suffix[suffix]
        else:
            best = min(enumerate(matches), key=lambda item: self._rank(item, suffix))[1][0]
        return _Identity(
            puid=self._fido.get_puid(best),
            name=best.findtext("name"),
            mime=best.findtext("mime"),
            by_signature=how in ("signature", "container"),
        )

    def _rank(self, item: tuple[int, tuple[Any, str]], suffix: str) -> tuple[bool, bool, int]:
        index, (fmt, _sig) = item
        extensions = {e.text for e in fmt.findall("extension")}
        return (self._fido.get_puid(fmt) not in _PREFERRED_PUIDS, suffix not in extensions, index)

    def _container_matches(self, path: Path, container: str | bool) -> list[Any]:
        if container not in self._containers or not _container_safe(path, container):
            return []
        klass, signatures = self._containers[str(container)]
        try:
            puids = klass(str(path), signatures).detect_formats()
        except DECODE_ERRORS + (zipfile.BadZipFile, RuntimeError):
            return []  # a damaged container keeps its plain signature; the decoder reports it
        known = self._fido.puid_format_map
        return [(known[puid], "container") for puid in dict.fromkeys(puids) if puid in known]


def _container_safe(path: Path, container: str | bool) -> bool:
    if container != "zip":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return all(i.file_size <= _CONTAINER_MEMBER_LIMIT for i in archive.infolist())
    except DECODE_ERRORS + (zipfile.BadZipFile,):
        return False


_IDENTIFIER: _Identifier | None = None
_IDENTIFIER_LOCK = threading.Lock()


def _cache_dir() -> Path | None:
    """Where the PRONOM routing plan is kept between runs (XDG cache); None when there is no home."""
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        return Path(base) / "dangan" if base else Path.home() / ".cache" / "dangan"
    except RuntimeError:  # no home directory to expand
        return None


def _after_fork() -> None:
    global _IDENTIFIER_LOCK
    _IDENTIFIER_LOCK = threading.Lock()
    if _IDENTIFIER is not None:
        _IDENTIFIER.reset_lock()


os.register_at_fork(after_in_child=_after_fork)


def preload() -> None:
    """Build the format identifier now (about a second): worker processes forked afterwards share it."""
    _identifier()


def _identifier() -> _Identifier:
    global _IDENTIFIER
    if _IDENTIFIER is None:
        with _IDENTIFIER_LOCK:
            if _IDENTIFIER is None:
                _IDENTIFIER = _Identifier()
    return _IDENTIFIER


def identify(path: Path) -> tuple[str | None, str | None, str | None]:
    """Identify a file's format with fido's PRONOM signatures.

    fido and its signatures load once per process, on first use. Signature and container
    (OOXML, ODF, OLE2) matches win; with none, fido falls back to the file extension.

    Args:
        path: The file to identify.

    Returns:
        ``(puid, format_name, mime)``, each None when fido matched nothing.

    Raises:
        MissingDependencyError: fido's signature files cannot be loaded.
    """
    found = _identifier().identify(Path(path))
    return found.puid, found.name, found.mime


def _identify_exhaustive(path: Path) -> tuple[str | None, str | None, str | None]:
    """:func:`identify` with every PRONOM format tried, as plain fido does; for tests only."""
    found = _identifier().identify(Path(path), exhaustive=True)
    return found.puid, found.name, found.mime


# --- what to decode the file as ------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),  # bare JPEG 2000 codestream
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"ID3", "mp3"),
)
_MIME_KINDS = {
    "image/tiff": "tiff",
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/jp2": "jp2",
    "image/jpx": "jp2",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/msword": "ole",
    "application/vnd.ms-excel": "ole",
    "application/vnd.ms-powerpoint": "ole",
    "audio/x-wav": "wav",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "video/mp4": "isobmff",
    "application/mp4": "isobmff",
    "application/xml": "xml",
    "text/xml": "xml",
}
_ARCHIVAL_KINDS = frozenset({"tiff", "jpeg", "jp2", "png", "pdf", "wav", "mp3", "xml"})
_ARCHIVAL_TEXT = frozenset({"text/plain", "text/csv"})
_MP4_MIMES = frozenset({"video/mp4", "application/mp4", "audio/mp4"})


def _kind(head: bytes, identity: _Identity) -> str | None:
    """The decoder to use: the bytes decide first, then fido's MIME type."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] in (b"RIFF", b"RF64", b"RIFX") and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "isobmff"
    mime = identity.mime or ""
    if mime in _MIME_KINDS:
        return _MIME_KINDS[mime]
    if mime.startswith(("application/vnd.openxmlformats", "application/vnd.oasis.opendocument")):
        return "zip"
    return "text" if mime.startswith("text/") else None


def _archival(kind: str | None, mime: str | None, decoded: Decoded) -> bool:
    if kind == "zip":
        return decoded.archival
    if kind == "isobmff":
        return mime in _MP4_MIMES
    if kind == "text":
        return mime in _ARCHIVAL_TEXT
    return kind in _ARCHIVAL_KINDS


_CHECKERS: dict[str, Callable[[Path, Notes, Limits], Decoded]] = {
    "pdf": check_pdf,
    "zip": check_zip,
    "ole": check_ole,
    "text": lambda path, notes, _: check_text(path, notes),
    "xml": lambda path, notes, _: check_xml(path, notes),
    "wav": lambda path, notes, _: check_wav(path, notes),
    "mp3": lambda path, notes, _: check_mp3(path, notes),
    "isobmff": lambda path, notes, _: check_isobmff(path, notes),
}


def inspect_file(
    path: Path,
    display_name: str,
    *,
    max_pixels: int = Limits.max_pixels,
    max_pages: int = Limits.max_pages,
    active_content: str = Limits.active_content,
) -> Inspection:
    """Identify one file and decode it completely, collecting every problem as a finding.

    Args:
        path: The file on disk.
        display_name: The name people know the file by (its original name); every
            message names the file this way.
        max_pixels: Pixel ceiling for every image, TIFF frame and PDF image; larger ones
            are refused as decompression bombs before any pixel is decoded, as are
            multi-frame images whose frames together exceed FILE_PIXELS_FACTOR times it.
        max_pages: Page ceiling (TIFF frames, PDF and OFD pages); a file with more is
            refused (GD-3-4) and frames past it are not even counted.
        active_content: ``warn`` or ``refuse`` for JavaScript, launch actions, embedded
            files and macros (GD-3-8).

    Returns:
        The inspection; it never raises for a bad file.

    Raises:
        MissingDependencyError: fido's signature files cannot be loaded.
    """
    path = Path(path)
    notes = Notes(display_name, path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        notes.fail("GD-3-4", "文件无法读取", "file cannot be read", describe(exc))
        return Inspection(None, None, None, None, None, None, False, notes.findings)
    if size == 0:
        notes.fail("GD-3-4", "文件为空", "empty file")
        return Inspection(None, None, None, None, None, None, False, notes.findings)
    identity = _identifier().identify(path)
    kind = _kind(head, identity)
    decoded = _decode(kind, path, notes, Limits(max_pixels, max_pages, active_content))
    _format_findings(identity, kind, decoded, notes)
    return Inspection(
        puid=identity.puid,
        format_name=decoded.format_name or identity.name,
        mime=decoded.mime or identity.mime,
        pages=decoded.pages,
        dpi=decoded.dpi,
        color_mode=decoded.color_mode,
        is_scan_format=decoded.is_scan,
        findings=notes.findings,
    )


def _decode(kind: str | None, path: Path, notes: Notes, limits: Limits) -> Decoded:
    try:
        if kind in PIL_FORMATS:
            return check_image(path, kind, notes, limits)
        if kind in _CHECKERS:
            return _CHECKERS[kind](path, notes, limits)
    # The last net: hostile input can trip any library in ways no list foresees, and one
    # file must never sink a batch.
    except Exception as exc:  # noqa: BLE001
        notes.fail("GD-3-4", "解码时发生意外错误", "unexpected error while decoding", describe(exc))
    return Decoded()


def _format_findings(identity: _Identity, kind: str | None, decoded: Decoded, notes: Notes) -> None:
    if identity.puid is None:
        notes.fail("GD-3-3", "无法识别文件格式", "format not identified by PRONOM")
    elif not identity.by_signature and kind is None:
        notes.fail(
            "GD-3-3",
            "仅凭扩展名识别，内容无法校验",
            "identified by extension only; content unverifiable",
            identity.name,
        )
    else:
        if not identity.by_signature and kind not in ("text", "xml"):
            notes.warn(
                "GD-3-3", "文件签名不符，仅凭扩展名识别", "signature mismatch; identified by extension", identity.name
            )
        if not _archival(kind, decoded.mime or identity.mime, decoded):
            notes.warn(
                "GD-3-3",
                "格式不在归档格式清单内",
                "format not on the archival list",
                decoded.format_name or identity.name,
            )
