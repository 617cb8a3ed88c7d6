"""The tag files ingest writes into each AIP beside its originals: item.xml, the 四性检测 report
(DA/T 70-2018), the PREMIS events of its ingest, and the text derivatives search reads."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from archive.aip import ITEM_XML, ORIGINAL_DIR, PREMIS_XML, REPORT_XML, TEXT_DIR, text_path
from archive.archival_code import ArchivalCodeRule
from archive.itemxml import item_to_xml, validate_item_xml
from archive.model import CheckReport, Item
from archive.premis import (
    DIGEST_CALCULATION,
    EXTRACTION,
    FORMAT_IDENTIFICATION,
    INGESTION,
    VALIDATION,
    Event,
    events_to_xml,
)
from ingest.checks import complete_report, report_to_xml
from ingest.text import ExtractedText

PAGE_BREAK = "\f"  # between the pages of one file's text derivative


def tag_files(
    rule: ArchivalCodeRule, item: Item, report: CheckReport, when: str, texts: dict[str, ExtractedText]
) -> dict[str, bytes]:
    """The AIP's tag files: item.xml, the 四性 report, the PREMIS events and the text derivatives."""
    code = item.metadata.archival_code or ""
    final = CheckReport(report.stage, list(report.findings))
    if not rule.is_valid(code):
        raise AssertionError(f"rendered 档号 does not parse under its own rule: {code}")
    complete_report(final)
    item_xml = item_to_xml(item)
    schema_problems = validate_item_xml(item_xml, name=ITEM_XML)
    if schema_problems:
        raise AssertionError(f"item.xml fails its own XSD: {schema_problems[0].message}")
    derived = {name: PAGE_BREAK.join(p.text for p in t.pages).encode("utf-8") for name, t in texts.items()}
    derived = {name: data for name, data in derived.items() if data.strip()}
    events = _ingest_events(item, final, when) + _text_events(texts, when) + _shortened_event(derived, when)
    return {
        ITEM_XML: item_xml,
        REPORT_XML: report_to_xml(final, code, when),
        PREMIS_XML: events_to_xml(events, code),
        **{text_path(name): data for name, data in derived.items()},
    }


def _ingest_events(item: Item, report: CheckReport, when: str) -> list[Event]:
    n = len(item.files)
    puids = sorted({f.puid or "?" for f in item.files})
    return [
        Event(DIGEST_CALCULATION, f"SHA-256 与 SM3 摘要, {n} 个文件, 接收时计算并写入后复核", "success", time=when),
        Event(FORMAT_IDENTIFICATION, "PRONOM 格式识别 (opf-fido)", "success", ", ".join(puids), time=when),
        Event(
            VALIDATION, "归档四性检测 (DA/T 70)", "success", f"{len(report.findings)} 项检测, 全部通过或警告", time=when
        ),
        Event(INGESTION, f"归档为 {item.metadata.archival_code}", "success", time=when),
    ]


def _text_events(texts: dict[str, ExtractedText], when: str) -> list[Event]:
    """An event per OCR engine used (its name, version and settings, and the pages each reader read),
    and one for text read from the files."""
    by_engine: dict[str, tuple[int, Counter[str], int]] = {}
    read = 0
    for t in texts.values():
        if t.engine:
            key = json.dumps(vars(t.engine), sort_keys=True, ensure_ascii=False)
            files, readers, blank = by_engine.get(key, (0, Counter(), 0))
            readers.update(p.reader for p in t.pages if p.reader)
            by_engine[key] = (files + 1, readers, blank + t.blank_pages)
        elif t.pages:
            read += 1
    events = [
        Event(
            EXTRACTION,
            f"OCR 全文识别 (OCR) {engine}",
            "success",
            f"{files} 个文件"
            + "".join(f"; {reader} 识别 {n} 页" for reader, n in sorted(readers.items()))
            + (f"; 空白或过小页 {blank} 页未送识别 (blank or tiny pages skipped)" if blank else ""),
            time=when,
        )
        for engine, (files, readers, blank) in sorted(by_engine.items())
    ]
    if read:
        events.append(
            Event(
                EXTRACTION, "全文提取: 文本层与文档结构 (text read from files)", "success", f"{read} 个文件", time=when
            )
        )
    return events


def _shortened_event(names: Iterable[str], when: str) -> list[Event]:
    """Where a text derivative's name had to be shortened (255 bytes), which original file it belongs to."""
    pairs = [f"{text_path(n)} ← {ORIGINAL_DIR}/{n}" for n in names if text_path(n) != f"{TEXT_DIR}/{n}.txt"]
    if not pairs:
        return []
    detail = "全文派生文件名过长, 已缩短 (text derivative names shortened to fit 255 bytes)"
    return [Event(EXTRACTION, detail, "success", "; ".join(pairs), time=when)]
