"""Item checks ingest makes beyond the profile and the 四性 table: names a bag or a storage
location cannot hold (GD-4-7), and the 载体 judged from the files when nobody stated it."""

from __future__ import annotations

from archive.aip import ORIGINAL_DIR
from archive.bagparse import unsafe_reason
from archive.model import Finding, ItemMetadata, Verdict
from ingest._writefail import unstorable
from ingest.checks import fail
from ingest.sources import SourceItem


def _judge_carrier(meta: ItemMetadata, scan_names: set[str]) -> list[Finding]:
    """载体 stated nowhere: an item holding scan formats (images, image-only PDFs) is taken as 纸质, so
    the DA/T 31 scan rules apply unless the archivist says 电子; any other item is 电子."""
    if not scan_names:
        meta.carrier = "电子"
        return []
    meta.carrier = "纸质"
    message = (
        "未给出载体, 含扫描格式文件, 按纸质扫描件检测 (DA/T 31); 如为电子原件, "
        "请在目录载体列或命令行 --carrier 中写明电子 "
        "(carrier not given: scan formats found, checked as scans; state 电子 for born-digital files)"
    )
    return [Finding("GD-2-4", Verdict.warning, message)]


def _unbaggable_names(src: SourceItem, rooms: list[int]) -> list[Finding]:
    """GD-4-7: names a bag's manifest could not list safely (a backslash), judged by the rule
    ``dangan validate`` applies, so that no AIP is written that its own validator refuses; and names
    a storage location could not hold (a component over 255 bytes, an S3 key over its ``rooms``)."""
    out = []
    for name, _path in src.files:
        reason = unsafe_reason(f"{ORIGINAL_DIR}/{name}")
        if reason:
            zh, en = reason
            out.append(fail("GD-4-7", f"文件名不能写入 BagIt 清单: {zh} (a bag cannot list this name: {en})", name))
        elif message := unstorable(name, rooms):
            out.append(fail("GD-4-7", message, name))
    return out
