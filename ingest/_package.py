"""Containers: standalone XML and zip packages (OOXML, ODF, OFD), checked member by member.

Every member is read through its CRC with bomb guards (member count, total size, ratio);
XML members parse under the hardened parser. OOXML and ODF must hold the part a reader
opens first; an OFD (GB/T 33190) must hold every page its documents list, each parsing.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lxml import etree

from archive.errors import UnsafeXMLError
from archive.xmlsafe import parse_xml
from ingest._active import office_macros, report_active
from ingest._decode import DECODE_ERRORS, Decoded, Limits, Notes, describe, pages_refused

# --- limits ----------------------------------------------------------------

ZIP_MAX_MEMBERS = 20_000
ZIP_MAX_TOTAL = 2 * 1024**3  # uncompressed bytes
ZIP_MAX_RATIO = 200  # uncompressed/compressed, only judged beyond ZIP_RATIO_FLOOR
ZIP_RATIO_FLOOR = 16 * 1024**2
_XML_SUFFIXES = (".xml", ".rels")
PART_READ_LIMIT = 64 * 1024**2  # a part parsed whole (OFD.xml, Document.xml, .rels), not streamed


def xml_problem(stream: IO[bytes]) -> str | None:
    """Parse XML with no DTD, entities or network; return why it is unacceptable, or None."""
    try:
        events = etree.iterparse(
            stream,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        for index, (event, elem) in enumerate(events):
            if index == 0 and elem.getroottree().docinfo.doctype:
                return "DOCTYPE/entity declarations are refused"
            if event == "end":
                elem.clear()  # keep memory flat on large sheets
    except etree.LxmlError as exc:
        return describe(exc)
    return None


def check_xml(path: Path, notes: Notes) -> Decoded:
    """A standalone XML file must parse under the hardened parser."""
    with path.open("rb") as fh:
        problem = xml_problem(fh)
    if problem:
        notes.fail("GD-3-4", "XML 无法安全解析", "XML cannot be parsed safely", problem)
    return Decoded()


def check_zip(path: Path, notes: Notes, limits: Limits) -> Decoded:
    """Zip integrity with bomb guards, then the package rules of OOXML, ODF or OFD; macros noted (GD-3-8)."""
    try:
        archive = zipfile.ZipFile(path)
    except DECODE_ERRORS + (zipfile.BadZipFile,) as exc:
        notes.fail("GD-3-4", "压缩包结构损坏", "zip structure is damaged", describe(exc))
        return Decoded()
    with archive:
        infos = archive.infolist()
        if _zip_refused(infos, path.stat().st_size, notes):
            return Decoded()
        names = {info.filename for info in infos}
        decoded = _package_kind(names)
        if "[Content_Types].xml" in names or "mimetype" in names:  # OOXML or ODF: where macros live
            report_active(notes, office_macros(names, _content_types(archive, names)), limits.active_content)
        # OFD pages are read before the members, so a broken page part is named by its page.
        ofd = _ofd_layout(archive) if decoded.mime == OFD_MIME else None
        failed = _check_members(archive, infos, notes, ofd.roles() if ofd else {})
        if ofd:
            decoded.pages = _ofd_findings(ofd, names, failed, notes)
            if decoded.pages is not None and pages_refused(notes, decoded.pages, limits):
                decoded.pages = None
        return decoded


def _content_types(archive: zipfile.ZipFile, names: set[str]) -> bytes:
    """An OOXML package's declared content types (the first MiB: a real one is a few KiB); b"" if none."""
    if "[Content_Types].xml" not in names:
        return b""
    try:
        with archive.open("[Content_Types].xml") as member:
            return member.read(1 << 20)
    except DECODE_ERRORS + (zipfile.BadZipFile,):
        return b""  # a damaged member is reported by the member check below


def _zip_refused(infos: list[zipfile.ZipInfo], size: int, notes: Notes) -> bool:
    total = sum(info.file_size for info in infos)
    if len(infos) > ZIP_MAX_MEMBERS or total > ZIP_MAX_TOTAL:
        notes.fail("GD-3-4", "压缩包解压后过大，疑似压缩炸弹", "zip bomb", f"{len(infos)} members, {total} bytes")
        return True
    if total > ZIP_RATIO_FLOOR and total > ZIP_MAX_RATIO * max(size, 1):
        notes.fail("GD-3-4", "压缩比异常，疑似压缩炸弹", "zip bomb: compression ratio", f"{total} / {size} bytes")
        return True
    if len({info.filename for info in infos}) != len(infos):  # which copy would a reader take?
        notes.fail("GD-3-4", "压缩包内有重名成员", "duplicate member names in zip")
        return True
    if any(info.flag_bits & 0x1 for info in infos):
        notes.fail("GD-3-8", "压缩包内容已加密，不能归档", "encrypted zip members")
        return True
    return False


def _package_kind(names: set[str]) -> Decoded:
    if "[Content_Types].xml" in names:
        return Decoded(archival=True)
    if "OFD.xml" in names:
        return Decoded(archival=True, format_name="OFD 版式文档 (GB/T 33190)", mime=OFD_MIME)
    return Decoded()  # ODF or a plain zip: readable, but not on the archival list


def _check_members(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], notes: Notes, roles: dict[str, tuple[str, str]]
) -> set[str]:
    """Inflate every member once, parsing XML parts on the way; the header sizes bound the work.

    ``roles`` names what a member is for (an OFD page's content part, in Chinese and English);
    such a member is parsed as XML whatever its name, and its failure names the role. Returns
    the members that failed. zipfile checks a member's CRC when it is read to the end, hence
    the drain after parsing.
    """
    failed = set()
    for info in infos:
        role = roles.get(info.filename)
        try:
            with archive.open(info) as member:
                is_xml = role is not None or info.filename.lower().endswith(_XML_SUFFIXES)
                problem = xml_problem(member) if is_xml else None
                while not problem and member.read(1 << 20):
                    pass
        except DECODE_ERRORS + (zipfile.BadZipFile, RuntimeError) as exc:
            zh, en = role or ("压缩包成员", "zip member")
            notes.fail("GD-3-4", f"{zh}无法解压", f"{en} cannot be decompressed", f"{info.filename}: {describe(exc)}")
            failed.add(info.filename)
            continue
        if problem:
            zh, en = role or ("文档部件", "package part")
            notes.fail("GD-3-4", f"{zh} XML 无法安全解析", f"{en} XML cannot be parsed", f"{info.filename}: {problem}")
            failed.add(info.filename)
    names = {info.filename for info in infos}
    for part in _required_parts(archive, names):
        if part not in names:
            notes.fail("GD-3-4", "文档缺少主要部件", "main package part missing", part)
    return failed


def _required_parts(archive: zipfile.ZipFile, names: set[str]) -> list[str]:
    """The parts a reader needs: OOXML's officeDocument target, OFD's DocRoots, ODF content."""
    if "[Content_Types].xml" in names:
        return ["_rels/.rels", *_targets(archive, "_rels/.rels", "Relationship", "officeDocument")]
    if "OFD.xml" in names:
        return _targets(archive, "OFD.xml", "DocRoot", None)
    if "mimetype" in names:
        return ["content.xml", "META-INF/manifest.xml"]
    return []


def _targets(archive: zipfile.ZipFile, part: str, tag: str, rel_type: str | None) -> list[str]:
    """Internal targets of ``tag`` elements in a small part (officeDocument rels, OFD DocRoot)."""
    try:
        root = _read_xml_part(archive, part)
    except (UnsafeXMLError, KeyError, zipfile.BadZipFile, *DECODE_ERRORS):
        return []  # a broken or missing part is reported by the caller
    found = []
    for elem in root.iter(f"{{*}}{tag}"):
        if rel_type and not str(elem.get("Type", "")).endswith(f"/{rel_type}"):
            continue
        target = elem.get("Target") if rel_type else elem.text
        if target and elem.get("TargetMode") != "External":
            found.append(target.strip().lstrip("/"))
    return found


def _read_xml_part(archive: zipfile.ZipFile, part: str) -> etree._Element:
    """Parse a package part whole with the hardened parser; parts this size are catalogues, not content."""
    size = archive.getinfo(part).file_size
    if size > PART_READ_LIMIT:
        raise ValueError(f"{part} is {size} bytes; parts read whole are limited to {PART_READ_LIMIT}")
    return parse_xml(archive.read(part), name=part)


# --- OFD (GB/T 33190) --------------------------------------------------------------------
# OFD.xml names each document's Document.xml in a DocBody/DocRoot; Document.xml lists the
# pages in order under Pages/Page, each with a BaseLoc naming its content part. The pages
# of every document are counted, not only the first: each document is part of the file and
# is checked in full, so the 页数 of the 件 covers them all.

OFD_MIME = "application/ofd"


@dataclass
class _OfdPage:
    label: tuple[str, str]  # "第 2 页" / "page 2", with the document when there are several
    loc: str | None  # BaseLoc as written
    part: str | None  # the content part it names, None when absent or leaving the package


@dataclass
class _OfdLayout:
    documents: list[str]
    unread: dict[str, str] = field(default_factory=dict)  # Document.xml parts that did not parse, and why
    pages: list[_OfdPage] = field(default_factory=list)

    def roles(self) -> dict[str, tuple[str, str]]:
        """What each page's content part is, for the member check's messages."""
        return {p.part: (f"{p.label[0]}内容部件", f"{p.label[1]} content part") for p in self.pages if p.part}


def _ofd_layout(archive: zipfile.ZipFile) -> _OfdLayout:
    """Every document's page list; reports nothing (the caller knows what was said already)."""
    layout = _OfdLayout(list(dict.fromkeys(_targets(archive, "OFD.xml", "DocRoot", None))))
    several = len(layout.documents) > 1
    for index, document in enumerate(layout.documents, 1):
        try:
            root = _read_xml_part(archive, document)
        except (UnsafeXMLError, KeyError, zipfile.BadZipFile, *DECODE_ERRORS) as exc:
            layout.unread[document] = describe(exc)
            continue
        for number, page in enumerate(root.iterfind("{*}Pages/{*}Page"), 1):
            label = (f"第 {index} 个文档第 {number} 页", f"document {index} page {number}") if several else None
            loc = page.get("BaseLoc")
            layout.pages.append(
                _OfdPage(label or (f"第 {number} 页", f"page {number}"), loc, _ofd_location(document, loc))
            )
    return layout


def _ofd_location(base: str, loc: str | None) -> str | None:
    """Resolve an OFD ST_Loc: from the package root when absolute, else from the part naming it."""
    loc = (loc or "").strip()
    if not loc:
        return None
    resolved = posixpath.normpath(
        loc.lstrip("/") if loc.startswith("/") else posixpath.join(posixpath.dirname(base), loc)
    )
    return None if resolved == ".." or resolved.startswith("../") else resolved


def _ofd_findings(layout: _OfdLayout, names: set[str], failed: set[str], notes: Notes) -> int | None:
    """Report what the member check could not know; the page count, or None when unknown."""
    if not layout.documents and "OFD.xml" not in failed:
        notes.fail("GD-3-4", "OFD.xml 未指明文档根", "OFD.xml names no DocRoot")
    for document, why in layout.unread.items():
        if document in names and document not in failed:  # missing or unparsable: already said
            notes.fail("GD-3-4", "OFD 文档无法解析", "OFD Document.xml cannot be parsed", f"{document}: {why}")
    for page in layout.pages:
        zh, en = page.label
        if page.part is None:
            where = f"BaseLoc={page.loc!r}" if page.loc is not None else "no BaseLoc"
            notes.fail("GD-3-4", f"{zh}内容部件位置无效", f"{en}: content part missing or outside the package", where)
        elif page.part not in names:
            notes.fail("GD-3-4", f"{zh}内容部件缺失", f"{en} content part missing", page.part)
    if not layout.documents or layout.unread:
        return None
    if not layout.pages:
        notes.fail("GD-3-4", "OFD 没有任何页面", "OFD has zero pages")
    return len(layout.pages)
