"""The work done in ingest's worker processes, per file: copy into the staging bag while hashing,
identify and decode the copy, read its text, and re-read it against the digests taken.

Module level, so that the pool can pickle it.
"""

from __future__ import annotations

import ctypes
import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from archive.fixity import SourceReadError, copy_and_hash, hash_file
from archive.model import FileEntry, Finding, Verdict
from ingest._writefail import ItemUnwritable, write_failure
from ingest.checks import fail
from ingest.formats import inspect_file
from ingest.ocr import OcrEngine, get_engine
from ingest.text import ExtractedText, extract_text

PR_SET_PDEATHSIG = 1  # prctl option: the signal a process gets when its parent dies


def _die_with_parent() -> None:
    """Linux: a worker is killed with its parent, so a SIGKILLed ingest leaves no orphans behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: orphans wait on their queue until the machine's next cleanup


@dataclass
class _Received:
    """What a worker found of one file: its entry, whether it is a scan format, findings and text."""

    entry: FileEntry | None
    is_scan: bool
    findings: list[Finding]
    text: ExtractedText | None = None
    storage: str | None = None  # the staging copy could not be written or read back (a full disk)


@dataclass(frozen=True)
class _Ocr:
    """How a worker reads an item's pages: the engine, Tesseract's languages, and whether image files are scans."""

    engine: str
    tesseract_languages: str
    scans: bool
    time_limit: float  # seconds of OCR per file ([ingest] ocr_time_limit)

    def get_engine(self) -> OcrEngine | None:
        if self.engine == "off":
            return None
        options = {"languages": self.tesseract_languages} if self.engine == "tesseract" else {}
        return get_engine(self.engine, **options)


def _receive_file(name: str, src: Path, dest: Path, limits: dict[str, Any], ocr: _Ocr, location: str) -> _Received:
    target = dest / name
    if dest.resolve() not in target.resolve().parents:
        return _Received(None, False, [fail("GD-4-7", "文件名越出包目录 (file name escapes the bag)", name)])
    try:
        size, digests = copy_and_hash(src, target)
        return _examine(name, target, dest, size, digests, limits, ocr)
    except SourceReadError as exc:
        return _Received(None, False, [fail("GD-2-7", f"无法读取文件 (cannot read): {exc.strerror}", name)])
    except OSError as exc:  # writing or re-reading the staged copy: never the source file's fault
        failure = write_failure(exc, location, target, name)
        if isinstance(failure, ItemUnwritable):
            return _Received(None, False, [failure.finding])
        return _Received(None, False, [], storage=str(failure))


def _examine(
    name: str, target: Path, dest: Path, size: int, digests: dict[str, str], limits: dict[str, Any], ocr: _Ocr
) -> _Received:
    """Identify, decode and read the text of one staged copy, then re-read it against its digests."""
    found = inspect_file(target, name, **limits)
    entry = FileEntry(
        name=name, size=size, sha256=digests["sha256"], sm3=digests["sm3"], puid=found.puid,
        format_name=found.format_name, mime=found.mime, pages=found.pages, dpi=found.dpi,
        color_mode=found.color_mode,
    )  # fmt: skip
    findings = [f if f.path else replace(f, path=name) for f in found.findings]
    text = None
    if not any(f.failed for f in findings):
        text = extract_text(
            target,
            found,
            engine=ocr.get_engine(),
            display_name=name,
            ocr_images=ocr.scans,
            ocr_time_limit=ocr.time_limit,
        )
        # only what went wrong: "not applicable" notes (audio, OCR off) would clutter the 四性 report
        findings += [f if f.path else replace(f, path=name) for f in text.findings if f.verdict is Verdict.warning]
    # GD-1-1: the written copy, read back, against the digests taken on receipt
    reverified = _reverify_file(dest, entry)
    return _Received(entry, found.is_scan_format, findings + ([reverified] if reverified else []), text)


def _reverify_file(dest: Path, entry: FileEntry) -> Finding | None:
    size, digests = hash_file(dest / entry.name, ("sha256",))
    if size == entry.size and digests["sha256"] == entry.sha256:
        return None
    message = "写入后复核摘要不符 (digest differs after the write)"
    return fail("GD-1-1", message, entry.name, entry.sha256, digests["sha256"])
