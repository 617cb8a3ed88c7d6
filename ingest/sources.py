"""Read a batch as archivists bring it: a folder, with or without an item list (归档文件目录).

There are two ways in:

* **catalog mode**: a CSV or XLSX 归档文件目录 names every 件 (one row each) and its files;
* **bare-folder mode**: each file or subfolder directly under the batch folder is one 件.

Nothing is judged here beyond what is needed to find the files safely. Every symlink and
every path that would leave the batch folder is refused (GD-4-7) and never followed. Names
are kept exactly as found on disk; names in GBK/GB18030 bytes (Windows zips unpacked on
Linux) are decoded for the stored name while the real path is kept for reading.
Problems are collected as findings, never raised: only an item list that cannot be read
at all raises :class:`~archive.errors.CatalogInputError`.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import os
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from archive.errors import CatalogInputError, UsageError
from archive.model import Finding, Verdict
from metadata_profiles import normalise_retention

__all__ = ["FIELD_KEYS", "SourceItem", "read_batch"]

#: Metadata keys a :class:`SourceItem` may carry in ``fields`` (see ``ItemMetadata``).
FIELD_KEYS = (
    "title", "author", "date", "doc_number", "classification", "page_count", "retention", "remarks", "category",
    "year", "org_code", "carrier", "fonds_code",
)  # fmt: skip

UNSAFE_MESSAGE = "路径越出来源目录或为符号链接 (path escapes the source folder or is a symlink)"
UNLISTED_MESSAGE = "文件未列入归档文件目录 (file not in the item list)"

# Column headers of the item list (DA/T 22 §1 plus the class levels), after NFKC and with
# blanks and '*' removed, mapped to field keys. "files" holds the file references.
_COLUMNS = {
    "序号": "seq", "顺序号": "seq", "档号": "archival_code", "文号": "doc_number", "文件编号": "doc_number",
    "发文字号": "doc_number", "责任者": "author", "题名": "title", "文件题名": "title", "标题": "title",
    "日期": "date", "文件日期": "date", "成文日期": "date", "形成日期": "date", "密级": "classification",
    "页数": "page_count", "保管期限": "retention", "期限": "retention", "备注": "remarks", "门类": "category",
    "门类代码": "category", "档案门类": "category", "年度": "year", "机构(问题)": "org_code", "机构": "org_code",
    "问题": "org_code", "机构(问题)代码": "org_code", "载体": "carrier", "载体类型": "carrier",
    "全宗号": "fonds_code", "文件": "files", "文件名": "files", "电子文件名": "files", "文件路径": "files",
    "电子文件": "files",
}  # fmt: skip
_DATE = re.compile(r"(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?")
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:|[\\/]|~(?:/|$))")
_REF_SPLIT = re.compile(r"[;；|]")
_JUNK_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "$recycle.bin"}
_CATALOG_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"}
_HEADER_SCAN_ROWS = 20


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
        root: the batch folder (来源目录).
        catalog: the 归档文件目录 (CSV or XLSX); None for bare-folder mode.

    Returns:
        The items in list order (folder order in bare-folder mode) and the batch-level
        findings (unlisted files, junk files, item-list remarks).

    Raises:
        UsageError: ``root`` is not a folder.
        CatalogInputError: the item list cannot be read or has no file column.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError("来源目录不存在或不是文件夹 (batch folder not found)", path=str(root))
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
        title = Path(entry.name).stem if entry.kind == "file" else entry.name
        item = SourceItem(entry.rel, out.stored_files(), {"title": title}, out.findings)
        if entry.kind == "file" and _looks_like_catalog(entry.name):
            msg = f"{entry.rel}：像是归档文件目录，是否漏了 --catalog？ (looks like an item list; --catalog forgotten?)"
            item.findings.append(_warn("GD-1-12", msg, entry.rel))
        items.append(item)
    return items, batch


def _looks_like_catalog(name: str) -> bool:
    path = Path(name)
    return path.suffix.lower() in _CATALOG_SUFFIXES and "目录" in path.stem


# --- catalog mode ----------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    values: dict[str, str]


def _catalog_items(tree: _Tree, catalog: Path) -> tuple[list[SourceItem], list[Finding]]:
    rows, batch = _read_table(catalog)
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


def _row_item(tree: _Tree, row: _Row, used: dict[str, str]) -> SourceItem:
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
    same_list = path.stem == catalog.stem and path.suffix.lower() in _CATALOG_SUFFIXES
    return same_list and _same_file(entry.real.parent, catalog.parent)


# --- reading the item list -------------------------------------------------------------


def _read_table(catalog: Path) -> tuple[list[_Row], list[Finding]]:
    """Read the item list into rows keyed by field; raises CatalogInputError."""
    if not catalog.is_file():
        raise CatalogInputError("归档文件目录不存在 (item list not found)", path=str(catalog))
    suffix = catalog.suffix.lower()
    if suffix == ".xls":
        raise CatalogInputError(
            "不支持旧版 .xls，请另存为 .xlsx 或 CSV (legacy .xls is not supported)", path=str(catalog)
        )
    data = catalog.read_bytes()
    if suffix in {".xlsx", ".xlsm"} or (suffix not in _CATALOG_SUFFIXES and data[:2] == b"PK"):
        raw = _xlsx_rows(catalog)
    else:
        raw = _csv_rows(_decode(data, catalog))
    return _keyed_rows(raw, catalog)


def _decode(data: bytes, catalog: Path) -> str:
    """Strict UTF-8 (BOM or not), then GB18030; never a silent guess."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _strict(data, "utf-16", catalog)
    elif data.startswith(b"\xef\xbb\xbf"):  # a BOM says UTF-8: no fallback
        text = _strict(data[3:], "utf-8", catalog)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            # GB18030's BOM (84 31 95 33) decodes to U+FEFF, which would glue itself to the first header
            text = _strict(data, "gb18030", catalog, utf8_error=err).removeprefix("\ufeff")
    if "\x00" in text:
        raise CatalogInputError("目录含空字符，不是文本文件 (not a text file)", path=str(catalog), rule="GD-1-12")
    return text


def _strict(data: bytes, encoding: str, catalog: Path, utf8_error: UnicodeDecodeError | None = None) -> str:
    """Decode or raise naming the line; of two failed decodings, the one that got further."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        where = max(err.start, utf8_error.start if utf8_error else 0)
        line = data.count(b"\n", 0, where) + 1
        tried = "UTF-8 或 GB18030" if encoding == "gb18030" else encoding.upper()
        msg = (
            f"第{line}行无法按 {tried} 解码，请另存为 UTF-8 或 GB18030 编码的 CSV"
            f" (line {line} cannot be decoded as {tried.replace('或', 'or')})"
        )
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12") from err


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for record in reader:  # a quoted cell may span lines: number a row by its first line
        rows.append((start, [cell.strip() for cell in record]))
        start = reader.line_num + 1
    return rows


def _xlsx_rows(catalog: Path) -> list[tuple[int, list[str]]]:
    import openpyxl  # only catalog mode with a spreadsheet needs it

    try:
        book = openpyxl.load_workbook(catalog, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a damaged workbook
        msg = f"无法打开 XLSX 归档文件目录 (cannot open the XLSX item list): {err}"
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12") from err
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong sheet size
        cells = sheet.iter_rows(values_only=True)
        return [(n, [_cell_text(v) for v in row]) for n, row in enumerate(cells, start=1)]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    """A spreadsheet cell as text: dates as YYYYMMDD, 12.0 as 12."""
    if value is None:
        return ""
    if isinstance(value, dt.date):  # datetime is a date too
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_key(cell: str) -> str | None:
    name = re.sub(r"[\s*]", "", unicodedata.normalize("NFKC", cell))
    return _COLUMNS.get(name)


def _find_header(raw: list[tuple[int, list[str]]]) -> int | None:
    """Index of the first row naming at least two known columns (skips a title row)."""
    for index, (_, cells) in enumerate(raw[:_HEADER_SCAN_ROWS]):
        if sum(1 for c in cells if _header_key(c)) >= 2:
            return index
    return None


def _keyed_rows(raw: list[tuple[int, list[str]]], catalog: Path) -> tuple[list[_Row], list[Finding]]:
    index = _find_header(raw)
    if index is None:
        msg = "归档文件目录找不到表头行（题名、文件等） (no header row found in the item list)"
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12")
    columns, findings = _map_columns(raw[index][1], catalog)
    if "files" not in columns.values():
        msg = "归档文件目录缺少文件列（文件/文件名/电子文件名/文件路径） (the item list has no file column)"
        raise CatalogInputError(msg, path=str(catalog), rule="GD-1-12")
    rows = []
    for line, cells in raw[index + 1 :]:
        if not any(cells):
            continue
        values = {key: cells[i] for i, key in columns.items() if i < len(cells)}
        rows.append(_Row(line, values))
    return rows, findings


def _map_columns(header: list[str], catalog: Path) -> tuple[dict[int, str], list[Finding]]:
    columns: dict[int, str] = {}
    findings: list[Finding] = []
    for i, cell in enumerate(header):
        key = _header_key(cell)
        if key is None and cell:
            msg = f"未识别的列“{cell}”，已忽略 (unknown column ignored)"
            findings.append(_warn("GD-1-12", msg, catalog.name, found=cell))
        elif key in columns.values():
            msg = f"列“{cell}”重复，只用第一列 (duplicate column, the first one is used)"
            findings.append(_warn("GD-1-12", msg, catalog.name, found=cell))
        elif key is not None:
            columns[i] = key
    return columns, findings
