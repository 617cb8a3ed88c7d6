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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from archive import __version__
from archive.bag import write_bag
from archive.bagcheck import parse_manifest, parse_tag_file
from archive.catalogue import IndexedAIP
from archive.errors import BagError
from archive.fixity import ALGORITHMS, hash_stream
from archive.i18n import _
from archive.itemxml import item_from_xml
from archive.model import Item
from archive.names import bounded_path
from archive.numbers import whole_number
from archive.premis import INGESTION, events_from_xml
from archive.storage.base import Location

ORIGINAL_DIR = "data/original"
#: bag-info.txt labels that identify the record, as :func:`bag_info` writes them from item.xml
_IDENTIFYING = frozenset(
    {"External-Identifier", "DA-Fonds-Code", "DA-Category", "DA-Year", "DA-Retention", "DA-Org-Code", "DA-Item-Number"}
)
ITEM_XML = "metadata/item.xml"
REPORT_XML = "metadata/check-report.xml"
PREMIS_XML = "metadata/premis.xml"
#: where each original file's text is kept (OCR or the file's own text), one file per original
TEXT_DIR = "metadata/text"
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


def text_path(file_name: str) -> str:
    """Where the text of one original file is kept inside the AIP: ``<name>.txt``, its last component
    shortened (:func:`archive.names.bounded_path`) only where that would pass the file system's limit."""
    return f"{TEXT_DIR}/{bounded_path(file_name, '.txt')}"


def tag_files_written(item: Item) -> set[str]:
    """Every tag file the archive may write for ``item``: the bag's own, the metadata, and a text per original.

    Anything else among an AIP's tag files was put there by someone else: a received AIP holding
    one is refused, and reindex passes such a copy over (:func:`disagreements`).
    """
    manifests = {f"tagmanifest-{alg}.txt" for alg in ALGORITHMS}
    return {*_REQUIRED_TAGS, *manifests, *(text_path(f.name) for f in item.files)}


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
    one's bytes give the digests listed, and the digests ``metadata/item.xml`` records for
    each file are the ones its payload manifests list (:func:`disagreements`). A copy with
    an edited, damaged or unlisted tag file, or whose metadata and manifests tell two
    stories, raises :class:`BagError`, so that a catalogue is never taken from it.
    """
    read = {f"tagmanifest-{alg}.txt": location.read(key, f"tagmanifest-{alg}.txt") for alg in ALGORITHMS}
    listed: dict[str, dict[str, str]] = {}
    for alg in ALGORITHMS:
        for path, digest in parse_manifest(read[f"tagmanifest-{alg}.txt"], "utf-8", alg).items():
            listed.setdefault(path, {})[alg] = digest
    complete = {path for path, digests in listed.items() if len(digests) == len(ALGORITHMS)}
    missing = sorted({*_REQUIRED_TAGS, *listed} - complete)
    if missing:
        message = _("标签清单未列出或两份标签清单不一致: {paths}").format(paths=", ".join(missing))
        raise BagError(message, path=key)
    tags: dict[str, dict[str, object]] = {}
    for path in [*listed, *read]:
        if path not in read:
            read[path] = location.read(key, path)
        size, digests = hash_stream(io.BytesIO(read[path]))
        if path in listed and digests != listed[path]:
            message = _("标签文件与标签清单不符, 已损坏或被改动: {path}").format(path=path)
            raise BagError(message, path=key)
        tags[path] = {"size": size, **digests}
    indexed = _indexed(key, read[ITEM_XML], read[PREMIS_XML], tags)
    manifests = {alg: parse_manifest(read[f"manifest-{alg}.txt"], "utf-8", alg) for alg in ALGORITHMS}
    info = parse_tag_file(read["bag-info.txt"], "utf-8")
    found = disagreements(indexed.item, manifests, info=info, tags=listed)
    if found:
        shown = "; ".join(f"{d.path}: {d.message}" for d in found[:5])
        raise BagError(_("信息包与其自身不符: {problems}").format(problems=shown), path=key)
    return indexed


@dataclass(frozen=True)
class Disagreement:
    """One way an AIP's ``metadata/item.xml`` differs from its own bag (``expected`` is what item.xml records)."""

    path: str
    message: str
    expected: str = ""
    found: str = ""


def disagreements(
    item: Item,
    manifests: Mapping[str, Mapping[str, str]],
    sizes: Mapping[str, int] | None = None,
    info: Sequence[tuple[str, str]] = (),
    tags: Iterable[str] | None = None,
) -> list[Disagreement]:
    """Where what ``item`` records differs from the rest of its bag.

    Its files (name, size, SHA-256, SM3) against the payload manifests and, given
    ``sizes``, the payload files' actual sizes; its 档号 fields and payload total against
    ``bag-info.txt`` (``info``); given ``tags``, that each tag file is one the archive writes
    (:func:`tag_files_written`). The manifests are held against the bytes elsewhere (bag
    validation, copy checks); this closes the chain, because a file rewritten together with
    its manifest lines and tag manifests still differs from what was recorded at 归档, and
    the catalogue (hence every later replication and audit) takes item.xml as the truth.
    """
    recorded = {f"{ORIGINAL_DIR}/{f.name}": f for f in item.files}
    out = _info_disagreements(item, info)
    if tags is not None:  # the AIP's tag files (outside data/): only those the archive writes
        extra = sorted(set(tags) - tag_files_written(item))
        message = "AIP 中有本系统不会写入的标签文件 (a tag file the archive never writes)"
        out += [Disagreement(path, message) for path in extra]
    for alg in ALGORITHMS:
        listed = {p: d for p, d in manifests.get(alg, {}).items() if p.startswith("data/")}
        for path in sorted(recorded.keys() - listed.keys()):
            out.append(Disagreement(path, f"item.xml 记录的文件不在 manifest-{alg}.txt 中 (recorded, not listed)"))
        for path in sorted(listed.keys() - recorded.keys()):
            out.append(Disagreement(path, f"manifest-{alg}.txt 所列文件未在 item.xml 中记录 (listed, not recorded)"))
        for path in sorted(recorded.keys() & listed.keys()):
            if getattr(recorded[path], alg) != listed[path]:
                message = f"item.xml 记录的 {alg} 摘要与清单不符 (the metadata's {alg} digest differs)"
                out.append(Disagreement(path, message, getattr(recorded[path], alg), listed[path]))
    for path, entry in sorted(recorded.items()):
        if sizes is not None and path in sizes and sizes[path] != entry.size:
            message = "item.xml 记录的文件大小与文件不符 (the metadata's size differs from the file)"
            out.append(Disagreement(path, message, str(entry.size), str(sizes[path])))
    return out


def _info_disagreements(item: Item, info: Sequence[tuple[str, str]]) -> list[Disagreement]:
    """bag-info.txt's identifying labels and Payload-Oxum against item.xml (free-text labels are not compared)."""
    said = {label: value for label, value in bag_info(item, "") if label in _IDENTIFYING}
    said["Payload-Oxum"] = f"{item.payload_bytes}.{len(item.files)}"
    out = []
    for label, value in info:
        if label in said and value.strip() != said[label] and not _same_oxum(label, value, said[label]):
            message = f"bag-info.txt 的 {label} 与 item.xml 不符 (differs from the metadata)"
            out.append(Disagreement("bag-info.txt", message, said[label], value[:60]))
    return out


def _same_oxum(label: str, value: str, want: str) -> bool:
    """Payload-Oxum may carry leading zeros; its numbers are bounded before conversion."""
    if label != "Payload-Oxum" or value.count(".") != 1:
        return False
    try:
        return ".".join(str(whole_number(p.lstrip("0") or "0")) for p in value.strip().split(".")) == want
    except ValueError:
        return False


def _indexed(key: str, item_xml: bytes, premis_xml: bytes, tags: dict[str, dict[str, object]]) -> IndexedAIP:
    item = item_from_xml(item_xml, name=f"{key}/{ITEM_XML}")
    events = events_from_xml(premis_xml, name=f"{key}/{PREMIS_XML}")
    ingested = next((e.time for e in events if e.type == INGESTION), "")
    return IndexedAIP(key=key, item=item, tag_files=tags, events=events, ingested_at=ingested)
