"""The AIP (档案信息包) of one item: what goes into its bag, and reading it back.

Bag layout::

    bagit.txt  bag-info.txt
    manifest-sha256.txt  manifest-sm3.txt  tagmanifest-sha256.txt  tagmanifest-sm3.txt
    data/original/<original names>     the files as received, byte-exact
    metadata/item.xml                  DA/T 46 metadata (archive/dat46-item.xsd)
    metadata/check-report.xml          the 四性检测 report at 归档
    metadata/premis.xml                PREMIS events of ingest

Reading back (:func:`read_aip`) uses only what the bag holds, which is what lets the
catalogue be rebuilt from storage alone.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

from archive import __version__
from archive.bag import write_bag
from archive.bagcheck import parse_manifest
from archive.catalogue import IndexedAIP
from archive.errors import BagError
from archive.fixity import ALGORITHMS, hash_stream
from archive.itemxml import item_from_xml
from archive.model import Item
from archive.premis import INGESTION, events_from_xml
from archive.storage.base import Location

ORIGINAL_DIR = "data/original"
ITEM_XML = "metadata/item.xml"
REPORT_XML = "metadata/check-report.xml"
PREMIS_XML = "metadata/premis.xml"
#: tag files every AIP's tag manifests must list (the tag manifests themselves are not listed in them)
_REQUIRED_TAGS = (
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "manifest-sm3.txt",
    ITEM_XML,
    REPORT_XML,
    PREMIS_XML,
)


def bag_info(item: Item, bagging_date: str) -> list[tuple[str, str]]:
    """``bag-info.txt`` labels: the RFC 8493 ones and the DA/T class fields."""
    m = item.metadata
    return [
        ("Source-Organization", m.fonds_name),
        ("External-Identifier", m.archival_code or ""),
        ("External-Description", m.title),
        ("Bagging-Date", bagging_date),
        ("Bag-Software-Agent", f"dangan {__version__}"),
        ("DA-Fonds-Code", m.fonds_code),
        ("DA-Category", m.category),
        ("DA-Year", str(m.year)),
        ("DA-Retention", m.retention),
        ("DA-Org-Code", m.org_code),
        ("DA-Item-Number", str(m.item_number)),
    ]


def write_aip(bag_dir: Path, key: str, item: Item, tag_files: Mapping[str, bytes], bagging_date: str) -> IndexedAIP:
    """Finish the bag whose payload is already under ``bag_dir/data/original``.

    Returns what the catalogue keeps of it, taken from the very bytes written, so that it
    equals what :func:`read_aip` reads back from storage.
    """
    payload = {f"{ORIGINAL_DIR}/{f.name}": {"sha256": f.sha256, "sm3": f.sm3} for f in item.files}
    tags = write_bag(bag_dir, payload, item.payload_bytes, bag_info(item, bagging_date), tag_files)
    return _indexed(key, tag_files[ITEM_XML], tag_files[PREMIS_XML], tags)


def read_aip(location: Location, key: str) -> IndexedAIP:
    """What the catalogue keeps of one AIP, read from the location alone.

    Only a copy whose tag files agree with its own tag manifests is taken: both manifests
    list the same tag files, every tag file the archive writes is among them, and each
    one's bytes give the digests listed. A copy with an edited, damaged or unlisted tag
    file raises :class:`BagError`, so that a rebuilt catalogue is never taken from it.
    """
    read = {f"tagmanifest-{alg}.txt": location.read(key, f"tagmanifest-{alg}.txt") for alg in ALGORITHMS}
    listed: dict[str, dict[str, str]] = {}
    for alg in ALGORITHMS:
        for path, digest in parse_manifest(read[f"tagmanifest-{alg}.txt"], "utf-8", alg).items():
            listed.setdefault(path, {})[alg] = digest
    complete = {path for path, digests in listed.items() if len(digests) == len(ALGORITHMS)}
    missing = sorted({*_REQUIRED_TAGS, *listed} - complete)
    if missing:
        message = "标签清单未列出或两份标签清单不一致 (tag manifests miss or disagree on)"
        raise BagError(f"{message}: {', '.join(missing)}", path=key)
    tags: dict[str, dict[str, object]] = {}
    for path in [*listed, *read]:
        if path not in read:
            read[path] = location.read(key, path)
        size, digests = hash_stream(io.BytesIO(read[path]))
        if path in listed and digests != listed[path]:
            message = "标签文件与标签清单不符, 已损坏或被改动 (tag file differs from its manifest)"
            raise BagError(f"{message}: {path}", path=key)
        tags[path] = {"size": size, **digests}
    return _indexed(key, read[ITEM_XML], read[PREMIS_XML], tags)


def _indexed(key: str, item_xml: bytes, premis_xml: bytes, tags: dict[str, dict[str, object]]) -> IndexedAIP:
    item = item_from_xml(item_xml, name=f"{key}/{ITEM_XML}")
    events = events_from_xml(premis_xml, name=f"{key}/{PREMIS_XML}")
    ingested = next((e.time for e in events if e.type == INGESTION), "")
    return IndexedAIP(key=key, item=item, tag_files=tags, events=events, ingested_at=ingested)
