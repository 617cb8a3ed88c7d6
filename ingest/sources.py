"""Read a batch as archivists bring it: a folder, with or without an item list (归档文件目录).

There are two ways in:

* **catalog mode**: a CSV or XLSX 归档文件目录 names every 件 (one row each) and its files;
* **bare-folder mode**: each file or subfolder directly under the batch folder is one 件;
  a single file given instead of a folder is one 件 the same way.

Nothing is judged here beyond what is needed to find the files safely. Every symlink and
every path that would leave the batch folder is refused (GD-4-7) and never followed. Names
are kept exactly as found on disk; names in GBK/GB18030 bytes (Windows zips unpacked on
Linux) are decoded for the stored name while the real path is kept for reading.
Problems are collected as findings, never raised: only an item list that cannot be read
at all raises :class:`~archive.errors.CatalogInputError`.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from archive.errors import UsageError
from archive.i18n import _
from archive.model import Finding, Verdict
from ingest._itemlist import CATALOG_SUFFIXES, Row, read_table
from metadata_profiles import normalise_retention

__all__ = ["FIELD_KEYS", "SourceItem", "read_batch"]

#: Metadata keys a :class:`SourceItem` may carry in ``fields`` (see ``ItemMetadata``).
FIELD_KEYS = (
    "title", "author", "date", "doc_number", "classification", "page_count", "retention", "remarks", "category",
    "year", "org_code", "carrier", "fonds_code",
)  # fmt: skip

UNSAFE_MESSAGE = "路径越出来源目录或为符号链接 (path escapes the source folder or is a symlink)"
UNLISTED_MESSAGE = "文件未列入归档文件目录 (file not in the item list)"

_DATE = re.compile(r"(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?")
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]|~(?:/|$))")
_REF_SPLIT = re.compile(r"[;；|]")
_JUNK_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "$recycle.bin"}


@dataclass
class SourceItem:
    """One 件 as found in the batch, before any check.

    Attributes:
        source: where it came from, for people: ``目录第3行`` or the relative path of the
            file or subfolder (bare-folder mode).
        files: ``(stored name, real path)`` pairs; the stored name is relative to the
            item's base folder, '/'-separated, Chinese kept.
        fields: raw metadata by :data:`FIELD_KEYS` (only non-empty values).
        findings: failures and warnings found while resolving the item.
    """

    source: str
    files: list[tuple[str, Path]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when resolving the item found no failure."""
        return not any(f.failed for f in self.findings)


def read_batch(root: Path, catalog: Path | None = None) -> tuple[list[SourceItem], list[Finding]]:
    """Read a batch folder, driven by an item list when one is given.

    Args:
        root: the batch folder (来源目录), or a single file, which is then the one 件.
        catalog: the 归档文件目录 (CSV or XLSX); None for bare-folder mode.

    Returns:
        The items in list order (folder order in bare-folder mode) and the batch-level
        findings (unlisted files, junk files, item-list remarks).

    Raises:
        UsageError: ``root`` is neither a folder nor a file, or is a file given with an item list.
        CatalogInputError: the item list cannot be read or has no file column.
    """
    root = Path(root)
    if root.is_file() or (root.is_symlink() and not root.is_dir()):
        if catalog is not None:
            raise UsageError(_("来源是单个文件时不能配归档文件目录，请给出文件所在的文件夹"), path=str(root))
        return [_single_file(root)], []
    if not root.is_dir():
        raise UsageError(_("来源不存在，或不是文件夹或文件"), path=str(root))
    tree = _Tree(root)
    if catalog is None:
        return _bare_items(tree)
    return _catalog_items(tree, Path(catalog))


def _fail(code: str, message: str, path: str | None = None, **kw: str) -> Finding:
    return Finding(code, Verdict.failed, message, path=path, **kw)


def _warn(code: str, message: str, path: str | None = None, **kw: str) -> Finding:
    return Finding(code, Verdict.warning, message, path=path, **kw)


def _unsafe(where: str, path: str) -> Finding:
    return _fail("GD-4-7", f"{where}：{path}：{UNSAFE_MESSAGE}", path)


# --- the batch folder, scanned once without following links ----------------------------


@dataclass(frozen=True)
class _Entry:
    rel: str  # display path relative to the root, '/'-separated, names decoded
    real: Path  # the path to open, exactly as on disk
    kind: str  # "file" | "dir" | "link" | "other"
    bad_name: bool  # some component is neither UTF-8 nor GB18030

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel)


def _display_name(name: str) -> tuple[str, bool]:
    """Decode a name that Linux handed over with surrogate escapes as GB18030."""
    if not any("\udc80" <= ch <= "\udcff" for ch in name):
        return name, True
    raw = os.fsencode(name)
    try:
        return raw.decode("gb18030"), True
    except UnicodeDecodeError:
        return raw.decode("gb18030", "backslashreplace"), False


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


def _is_junk(name: str) -> bool:
    """Hidden and system files that file managers leave behind (.DS_Store, Thumbs.db, ~$x)."""
    return name.startswith((".", "~$")) or name.lower() in _JUNK_NAMES


class _Tree:
    """Every entry below the batch root, keyed by display path; links are never followed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_real = os.path.realpath(root)
        self.entries: dict[str, _Entry] = {}
        self.findings: list[Finding] = []
        self._scan(root, "", False)
        self._keys = sorted(self.entries)
        self._nfc = {unicodedata.normalize("NFC", k): k for k in self._keys}

    def _scan(self, folder: Path, prefix: str, bad: bool) -> None:
        try:
            with os.scandir(folder) as it:
                listing = list(it)
        except OSError as err:
            msg = f"文件夹无法读取 (folder cannot be read): {err.strerror}"
            self.findings.append(_fail("GD-2-7", msg, prefix.rstrip("/") or "."))
            return
        for de in sorted(listing, key=lambda d: d.name):
            name, ok = _display_name(de.name)
            rel = prefix + name
            if rel in self.entries:  # two raw names decode alike: keep both, flag the second
                rel, ok = prefix + de.name, False
            entry = _Entry(rel, Path(de.path), _kind(de), bad or not ok)
            self.entries[rel] = entry
            if entry.kind == "dir":
                self._scan(entry.real, rel + "/", entry.bad_name)

    def lookup(self, rel: str) -> _Entry | None:
        found = self.entries.get(rel)
        if found is None:
            key = self._nfc.get(unicodedata.normalize("NFC", rel))
            found = self.entries.get(key) if key else None
        return found

    def children(self) -> list[_Entry]:
        return [self.entries[rel] for rel in self._keys if "/" not in rel]

    def below(self, rel: str) -> list[_Entry]:
        """Every entry under a folder, in name order (keys with a prefix are contiguous)."""
        prefix = rel + "/"
        found = []
        for key in self._keys[bisect.bisect_left(self._keys, prefix) :]:
            if not key.startswith(prefix):
                break
            found.append(self.entries[key])
        return found

    def inside(self, entry: _Entry) -> bool:
        """Belt and braces: the real path, fully resolved, is still under the root."""
        real = os.path.realpath(entry.real)
        return os.path.commonpath([self.root_real, real]) == self.root_real


# --- resolving file references ---------------------------------------------------------


@dataclass
class _Resolved:
    """What one row's references (or one bare entry) came to."""

    files: list[_Entry] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # folders the stored names start from
    taken: list[str] = field(default_factory=list)  # entries this item accounts for
    findings: list[Finding] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def stored_files(self) -> list[tuple[str, Path]]:
        """(stored name, real path) pairs, names relative to the anchors' common folder."""
        base = posixpath.commonpath(self.anchors) if self.anchors else ""
        return [(posixpath.relpath(e.rel, base) if base else e.rel, e.real) for e in self.files]


def _junk_prefix(rel: str) -> str | None:
    """The path up to the first hidden/system component, or None when there is none."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if _is_junk(part):
            return "/".join(parts[: i + 1])
    return None


def _clean_ref(ref: str) -> str | None:
    """Normalise one reference to a '/'-path; None when absolute or using '..'."""
    text = ref.strip().replace("\\", "/")
    if _ABSOLUTE.match(text) or ".." in text.split("/"):
        return None
    return posixpath.normpath(text)


def _walk_ref(tree: _Tree, norm: str) -> _Entry | None:
    """Follow a clean reference component by component, stopping at the first link."""
    current = ""
    entry: _Entry | None = None
    for part in norm.split("/"):
        entry = tree.lookup(f"{current}/{part}" if current else part)
        if entry is None or entry.kind == "link":
            return entry
        current = entry.rel
    return entry


def _not_regular(where: str, rel: str) -> Finding:
    return _fail("GD-2-7", f"{where}：{rel}：不是普通文件 (not a regular file)", rel)


def _add_file(entry: _Entry, where: str, out: _Resolved) -> None:
    if entry.rel in out.seen:
        out.findings.append(_warn("GD-1-8", f"{where}：{entry.rel}：文件重复列出，只收一次 (listed twice)", entry.rel))
        return
    out.seen.add(entry.rel)
    out.files.append(entry)
    if entry.bad_name:
        msg = f"{where}：{entry.rel}：文件名既不是 UTF-8 也不是 GB18030 编码 (file name is neither UTF-8 nor GB18030)"
        out.findings.append(_fail("GD-1-6", msg, entry.rel))


def _expand_folder(tree: _Tree, folder: _Entry, where: str, out: _Resolved) -> None:
    """Add every regular file below a folder; links fail, junk is skipped with a warning."""
    reported: set[str] = set()
    before = len(out.files)
    for entry in tree.below(folder.rel):
        junk = _junk_prefix(entry.rel[len(folder.rel) + 1 :])
        if junk is not None:
            top = f"{folder.rel}/{junk}"
            if top not in reported:
                reported.add(top)
                msg = f"{where}：{top}：隐藏或系统文件，已跳过 (hidden or system file skipped)"
                out.findings.append(_warn("GD-4-3", msg, top))
        elif entry.kind == "link":
            out.findings.append(_unsafe(where, entry.rel))
        elif entry.kind == "other":
            out.findings.append(_not_regular(where, entry.rel))
        elif entry.kind == "file":
            _add_file(entry, where, out)
    if len(out.files) == before:
        out.findings.append(
            _fail("GD-2-7", f"{where}：{folder.rel}：文件夹内没有文件 (folder holds no files)", folder.rel)
        )
    out.anchors.append(folder.rel)


def _add_entry(tree: _Tree, entry: _Entry, where: str, out: _Resolved) -> None:
    """Take one entry for the item: a file, every file of a folder, or a GD-4-7 refusal."""
    out.taken.append(entry.rel)
    if entry.kind == "link" or not tree.inside(entry):
        out.findings.append(_unsafe(where, entry.rel))
    elif entry.kind == "dir":
        _expand_folder(tree, entry, where, out)
    elif entry.kind == "file":
        _add_file(entry, where, out)
        out.anchors.append(posixpath.dirname(entry.rel))
    else:
        out.findings.append(_not_regular(where, entry.rel))


def _resolve_ref(tree: _Tree, ref: str, where: str, out: _Resolved) -> None:
    """Resolve one reference from the item list, never following a link."""
    norm = _clean_ref(ref)
    if norm is None:
        out.findings.append(_unsafe(where, ref.strip()))
        return
    entry = _walk_ref(tree, norm)
    if entry is None:
        out.findings.append(_fail("GD-2-7", f"{where}：文件不存在 (listed file not found)：{ref.strip()}", ref.strip()))
    else:
        _add_entry(tree, entry, where, out)


def _taker(rel: str, used: dict[str, str]) -> str | None:
    """The row that took this path or a folder above it, if any."""
    parts = rel.split("/")
    for i in range(len(parts), 0, -1):
        row = used.get("/".join(parts[:i]))
        if row is not None:
            return row
    return None


# --- bare-folder mode ------------------------------------------------------------------


def _bare_items(tree: _Tree) -> tuple[list[SourceItem], list[Finding]]:
    items: list[SourceItem] = []
    batch = list(tree.findings)
    for entry in tree.children():
        if _is_junk(entry.name) or entry.kind == "other":
            msg = f"{entry.rel}：隐藏、系统或非普通文件，已跳过 (hidden, system or special file skipped)"
            batch.append(_warn("GD-4-3", msg, entry.rel))
            continue
        out = _Resolved()
        _add_entry(tree, entry, entry.rel, out)
        items.append(_bare_item(entry, out))
    return items, batch


def _bare_item(entry: _Entry, out: _Resolved) -> SourceItem:
    """One 件 of bare-folder mode, titled from the file or folder name."""
    title = Path(entry.name).stem if entry.kind == "file" else entry.name
    item = SourceItem(entry.rel, out.stored_files(), {"title": title}, out.findings)
    if entry.kind == "file" and _looks_like_catalog(entry.name):
        msg = f"{entry.rel}：像是归档文件目录，是否漏了 --catalog？ (looks like an item list; --catalog forgotten?)"
        item.findings.append(_warn("GD-1-12", msg, entry.rel))
    return item


def _single_file(path: Path) -> SourceItem:
    """A single file given as the source: one 件, as the same file would be in a bare folder.

    A link is refused here too (GD-4-7), as everywhere below a batch folder.
    """
    name, ok = _display_name(path.name)
    entry = _Entry(name, path, "link" if path.is_symlink() else "file", not ok)
    out = _Resolved()
    if entry.kind == "link":
        out.findings.append(_unsafe("来源", name))
    else:
        _add_file(entry, name, out)
        out.anchors.append("")
    return _bare_item(entry, out)


def _looks_like_catalog(name: str) -> bool:
    path = Path(name)
    return path.suffix.lower() in CATALOG_SUFFIXES and "目录" in path.stem


# --- catalog mode ----------------------------------------------------------------------


def _catalog_items(tree: _Tree, catalog: Path) -> tuple[list[SourceItem], list[Finding]]:
    rows, batch = read_table(catalog)
    batch = list(tree.findings) + batch
    used: dict[str, str] = {}
    items = [_row_item(tree, row, used) for row in rows]
    coded = sum(1 for row in rows if row.values.get("archival_code"))
    if coded:
        msg = (
            f"归档文件目录中有 {coded} 行填写了档号，已忽略；档号由本系统分配"
            " (archival codes in the item list are ignored; the archive assigns them)"
        )
        batch.append(_warn("GD-1-7", msg, catalog.name))
    batch.extend(_unlisted(tree, used, catalog))
    return items, batch


def _row_item(tree: _Tree, row: Row, used: dict[str, str]) -> SourceItem:
    where = f"目录第{row.line}行"
    item = SourceItem(where, fields=_row_fields(row.values))
    refs = [r for r in _REF_SPLIT.split(row.values.get("files", "")) if r.strip()]
    if not refs:
        item.findings.append(_fail("GD-2-7", f"{where}：未填写电子文件 (row names no file)", where))
        return item
    out = _Resolved()
    for ref in refs:
        _resolve_ref(tree, ref, where, out)
    item.files = out.stored_files()
    item.findings.extend(out.findings)
    for entry in out.files:
        other = _taker(entry.rel, used)
        if other is not None:
            msg = f"{where}：{entry.rel}：该文件已列于{other} (file already listed in another row)"
            item.findings.append(_warn("GD-1-8", msg, entry.rel))
    for rel in out.taken:
        used.setdefault(rel, where)
    return item


def _row_fields(values: dict[str, str]) -> dict[str, str]:
    fields = {k: v for k, v in values.items() if k in FIELD_KEYS and v}
    if "date" in fields:
        fields["date"] = _norm_date(fields["date"])
    if "retention" in fields:
        fields["retention"] = normalise_retention(fields["retention"])
    for key in ("page_count", "year"):
        if key in fields:
            fields[key] = re.sub(r"^(\d+)\.0+$", r"\1", fields[key])
    return fields


def _norm_date(text: str) -> str:
    """YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD and YYYY年M月D日 become YYYYMMDD."""
    norm = unicodedata.normalize("NFKC", text).strip()
    match = _DATE.fullmatch(norm)
    if match:
        year, month, day = match.groups()
        return f"{year}{int(month):02d}{int(day):02d}"
    return norm


def _unlisted(tree: _Tree, used: dict[str, str], catalog: Path) -> list[Finding]:
    """Batch-level findings for entries no row took: unlisted files, links, junk."""
    findings: list[Finding] = []
    reported_junk: set[str] = set()
    for rel, entry in sorted(tree.entries.items()):
        if entry.kind == "dir" or _taker(rel, used) is not None:
            continue
        junk = _junk_prefix(rel)
        if junk is not None:
            if junk not in reported_junk:
                reported_junk.add(junk)
                findings.append(
                    _warn("GD-4-3", f"{junk}：隐藏或系统文件，未归档 (hidden or system file, not filed)", junk)
                )
        elif entry.kind == "link":
            findings.append(_unsafe("来源目录", rel))
        elif _same_file(entry.real, catalog):
            continue
        elif _catalog_copy(entry, catalog):
            findings.append(_warn("GD-1-12", f"{rel}：归档文件目录的另一份副本，未归档 (a copy of the item list)", rel))
        else:
            findings.append(_fail("GD-2-1", f"{rel}：{UNLISTED_MESSAGE}", rel))
    return findings


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _catalog_copy(entry: _Entry, catalog: Path) -> bool:
    """A sibling with the catalog's stem and a list suffix (目录.xlsx next to 目录.csv)."""
    path = Path(entry.rel)
    same_list = path.stem == catalog.stem and path.suffix.lower() in CATALOG_SUFFIXES
    return same_list and _same_file(entry.real.parent, catalog.parent)
