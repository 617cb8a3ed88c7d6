"""Pure BagIt tag-file parsers: bytes in, values and typed findings out (RFC 8493).

Nothing here touches a file system, so the same functions serve the directory
validator, a future S3 validator and any module that reads a single tag file.

Each public parser takes an optional ``findings`` list.  With a list, every
problem is appended to it as a :class:`BagFinding` and the parser returns its
best-effort result, so a validator can go on and collect everything.  Without
one, the parser raises :class:`~archive.errors.BagError` naming every error it
saw (warnings are then dropped), which suits one-off callers.

Path rules (``normalise_path``) are deliberately stricter than POSIX: a bag must
be safe to unpack on every platform the archive may ever copy it to, so Windows
drive letters, ``%VAR%`` shortcuts and backslashes are refused on Linux too.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from archive.errors import BagError
from archive.numbers import whole_number

FindingKind = Literal[
    "structure", "unsafe_path", "missing", "extra", "corrupt", "oxum", "duplicate_entry", "unsupported_algorithm",
    "encoding", "symlink",
]  # fmt: skip
Severity = Literal["error", "warning"]

#: Digest names the archive verifies; sm3 is available when OpenSSL provides it.
SUPPORTED_ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
#: BagIt versions this validator knows the rules of.
KNOWN_VERSIONS = ("0.93", "0.94", "0.95", "0.96", "0.97", "1.0")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # never str.splitlines: it also splits on \x85, \x1c ...
_BAGIT_VERSION = re.compile(r"BagIt-Version: ([0-9]+\.[0-9]+)")
_BAGIT_ENCODING = re.compile(r"Tag-File-Character-Encoding: ([A-Za-z0-9._:-]+)")
_LOOSE_FIELD = re.compile(r"\s*([^:]*?)\s*:\s*(.*?)\s*")
_MANIFEST_LINE = re.compile(r"([^ \t]+)([ \t]+)(.*)")
_FETCH_LINE = re.compile(r"([^ \t]+)[ \t]+([^ \t]+)[ \t]+(.+)")
_PERCENT = re.compile(r"%(0[AaDd]|25)")
_DRIVE = re.compile(r"[A-Za-z]:")
_ENV_VAR = re.compile(r"%[^%/]+%")
_HEX = re.compile(r"[0-9a-f]+")
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class BagFinding:
    """One problem (or warning) found in a bag.

    Attributes:
        kind: what went wrong, one of :data:`FindingKind`.
        path: the bag-relative path concerned, as written in the bag.
        message: for people, Chinese first, then English.
        algorithm: the digest algorithm, for checksum and manifest findings.
        expected: what the bag declares (digest, Payload-Oxum ...).
        found: what the validator measured.
        severity: ``"error"`` makes the bag invalid; ``"warning"`` does not.
        code: the stable key of the message in :data:`MESSAGES`.
    """

    kind: FindingKind
    path: str | None
    message: str
    algorithm: str | None = None
    expected: str | None = None
    found: str | None = None
    severity: Severity = "error"
    code: str = ""


@dataclass(frozen=True)
class FetchEntry:
    """One ``fetch.txt`` line: a URL that is recorded, never fetched."""

    url: str
    length: int | None
    path: str


#: Message catalogue, code → (kind, 中文, English); ``{field}`` parts are filled per finding.
MESSAGES: dict[str, tuple[FindingKind, str, str]] = {
    "bagit_missing": ("structure", "缺少包声明文件", "bag declaration bagit.txt is missing"),
    "bagit_bom": ("encoding", "bagit.txt 不得含字节顺序标记", "bagit.txt must not start with a byte-order mark"),
    "bagit_not_utf8": ("encoding", "bagit.txt 不是 UTF-8 编码", "bagit.txt is not UTF-8"),
    "bagit_lines": ("structure", "bagit.txt 应恰为两行, 实为 {count} 行", "bagit.txt must have exactly two lines"),
    "bagit_line": ("structure", "第 {line} 行应为 '{form}'", "line {line} must read exactly '{form}'"),
    "bagit_version": ("structure", "未知的 BagIt 版本 {version}", "unknown BagIt version {version}"),
    "unknown_encoding": ("encoding", "未知的标签文件编码 {encoding}", "unknown tag file encoding {encoding}"),
    "tag_bom": ("encoding", "标签文件以字节顺序标记开头", "tag file starts with a byte-order mark"),
    "undecodable": ("encoding", "标签文件不是 {encoding} 编码", "tag file is not valid {encoding}"),
    "tag_line": ("structure", "第 {line} 行不是 '标签: 值'", "line {line} is not 'Label: value'"),
    "unsafe_path": ("unsafe_path", "{source} 中的{why_zh}", "{why_en} in {source}"),
    "non_canonical": ("structure", "{source} 中的路径不规范, 按 {clean} 处理", "non-canonical path in {source}"),
    "malformed_line": ("structure", "{source} 中有无法解析的行", "malformed line in {source}"),
    "md5sum_marker": ("structure", "{source} 使用 md5sum 二进制标记 '*'", "md5sum binary marker '*' in {source}"),
    "malformed_digest": ("structure", "{source} 中的校验值格式错误", "malformed {algorithm} digest in {source}"),
    "duplicate_conflict": (
        "duplicate_entry",
        "{source} 重复列出该文件且校验值冲突",
        "listed twice in {source}, digests differ",
    ),
    "duplicate_same": (
        "duplicate_entry",
        "{source} 重复列出该文件 (校验值相同)",
        "listed twice in {source}, same digest",
    ),
    "fetch_tag_file": ("structure", "fetch.txt 只能列出载荷文件", "fetch.txt may list payload files only"),
    "symlink": ("symlink", "包内不得有符号链接", "symlinks are not allowed in a bag"),
    "irregular": ("structure", "不是普通文件或无法读取", "{what}: not a regular, readable file"),
    "no_data_dir": ("structure", "缺少载荷目录", "payload directory data/ is missing"),
    "no_manifest": ("structure", "缺少载荷清单 manifest-<算法>.txt", "no payload manifest"),
    "required_manifest": ("structure", "缺少必需的载荷清单", "required payload manifest is missing"),
    "unsupported": ("unsupported_algorithm", "不支持的校验算法 '{algorithm}'", "unsupported algorithm, cannot verify"),
    "oxum_conflict": ("oxum", "Payload-Oxum 重复且不一致", "conflicting Payload-Oxum values"),
    "oxum_malformed": ("oxum", "Payload-Oxum 格式错误", "malformed Payload-Oxum"),
    "oxum_mismatch": ("oxum", "载荷字节数或文件数与 Payload-Oxum 不符", "payload differs from Payload-Oxum"),
    "not_listed": ("extra", "载荷文件未列入 {source}", "payload file not listed in {source}"),
    "outside_data": ("structure", "{source} 列出了 data/ 以外的文件", "{source} lists a file outside data/"),
    "tag_lists_payload": ("structure", "{source} 列出了载荷文件", "{source} lists a payload file"),
    "listed_missing": ("missing", "{source} 列出的文件不存在", "listed in {source} but not present"),
    "fetch_missing": ("missing", "fetch.txt 列出的文件不在包内 (从不下载)", "in fetch.txt but absent; never fetched"),
    "fetch_unlisted": ("structure", "fetch.txt 列出的文件未列入 {source}", "fetch.txt lists a file {source} lacks"),
    "name_collision": ("duplicate_entry", "文件名仅大小写或 Unicode 规范化形式不同", "names collide on macOS/Windows"),
    "junk_file": ("extra", "载荷中有操作系统生成的杂项文件", "operating-system junk file in payload"),
    "unreadable": ("missing", "无法读取文件", "cannot read file: {error}"),
    "read_failed": ("corrupt", "校验时无法读取文件", "cannot read file to verify it: {error}"),
    "checksum": ("corrupt", "校验值与 {source} 不符", "{algorithm} checksum mismatch"),
}


def finding(
    code: str,
    path: str | None,
    *,
    warn: bool = False,
    algorithm: str | None = None,
    expected: str | None = None,
    found: str | None = None,
    **fields: object,
) -> BagFinding:
    """Build the finding ``code`` of :data:`MESSAGES`; its message reads ``中文 (English): path``."""
    kind, zh, en = MESSAGES[code]
    text = f"{zh} ({en})".format(algorithm=algorithm, **fields)
    message = f"{text}: {path}" if path is not None else text
    return BagFinding(kind, path, message, algorithm, expected, found, "warning" if warn else "error", code)


def _deliver(found: list[BagFinding], findings: list[BagFinding] | None, name: str) -> None:
    """Hand findings to the caller's list, or raise on errors when there is none."""
    if findings is not None:
        findings.extend(found)
        return
    errors = [f.message for f in found if f.severity == "error"]
    if errors:
        raise BagError("; ".join(errors), path=name, rule="RFC 8493")


def split_lines(text: str) -> list[str]:
    """Split on CRLF, LF or CR; a final line break does not start an empty line."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def version_tuple(version: str | None) -> tuple[int, int]:
    """``"0.97"`` → ``(0, 97)``; anything unreadable counts as 1.0, the strictest rules."""
    try:
        major, minor = (version or "").split(".")
        return whole_number(major), whole_number(minor)
    except ValueError:
        return (1, 0)


def hex_length(algorithm: str) -> int | None:
    """Length of a hex digest of ``algorithm``, or None when hashlib lacks it."""
    if algorithm not in SUPPORTED_ALGORITHMS:
        return None
    try:
        return hashlib.new(algorithm).digest_size * 2
    except ValueError:
        return None


# --- bagit.txt -------------------------------------------------------------------------


def parse_bagit_txt(data: bytes, *, findings: list[BagFinding] | None = None) -> tuple[str, str]:
    """Parse ``bagit.txt`` strictly (RFC 8493 §2.1.1).

    Exactly two lines, in order, ``BagIt-Version: M.N`` and
    ``Tag-File-Character-Encoding: ENC``: UTF-8 without a byte-order mark, one
    space after each colon, nothing before it or after the value.  CRLF, LF and
    CR line endings are all accepted, and the final one may be missing.

    Args:
        data: the raw file.
        findings: where problems go; without it errors raise.

    Returns:
        ``(version, encoding)``; after errors, what a loose reading finds, so a
        validator can go on.

    Raises:
        BagError: when ``findings`` is None and the file breaks the rules.
    """
    found: list[BagFinding] = []
    lines = split_lines(_decode_bagit_txt(data, found))
    if len(lines) != 2:
        found.append(finding("bagit_lines", "bagit.txt", count=len(lines)))
    version = _strict_field(_BAGIT_VERSION, lines, 0, "BagIt-Version: M.N", found)
    encoding = _strict_field(_BAGIT_ENCODING, lines, 1, "Tag-File-Character-Encoding: ENC", found)
    if version is not None and version not in KNOWN_VERSIONS:
        found.append(finding("bagit_version", "bagit.txt", version=version))
    loose = dict(_loose_field(line) for line in lines)
    _deliver(found, findings, "bagit.txt")
    return version or loose.get("bagit-version", ""), encoding or loose.get("tag-file-character-encoding", "UTF-8")


def _decode_bagit_txt(data: bytes, found: list[BagFinding]) -> str:
    if data.startswith(_BOMS):
        found.append(finding("bagit_bom", "bagit.txt"))
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        found.append(finding("bagit_not_utf8", "bagit.txt"))
        return data.decode("utf-8", errors="replace")


def _strict_field(
    pattern: re.Pattern[str], lines: list[str], index: int, form: str, found: list[BagFinding]
) -> str | None:
    match = pattern.fullmatch(lines[index] if index < len(lines) else "")
    if match is None:
        found.append(finding("bagit_line", "bagit.txt", line=index + 1, form=form))
        return None
    return match.group(1)


def _loose_field(line: str) -> tuple[str, str]:
    match = _LOOSE_FIELD.fullmatch(line)
    return (match.group(1).lower(), match.group(2)) if match else ("", "")


# --- other tag files -------------------------------------------------------------------


def decode_tag_file(data: bytes, encoding: str, name: str, findings: list[BagFinding]) -> str | None:
    """Decode a tag file with the bag's declared encoding; None when it cannot be read.

    A UTF-8 byte-order mark is tolerated with a warning; UTF-16 needs its BOM.
    """
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        findings.append(finding("unknown_encoding", name, encoding=encoding))
        return None
    if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
        findings.append(finding("tag_bom", name, warn=True))
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        findings.append(finding("undecodable", name, encoding=encoding))
        return None


def parse_tag_file(
    data: bytes, encoding: str, *, name: str = "bag-info.txt", findings: list[BagFinding] | None = None
) -> list[tuple[str, str]]:
    """Parse a ``Label: value`` tag file such as ``bag-info.txt``.

    Labels may repeat and keep their order.  Whitespace around the colon is
    allowed (v0.97 bags use ``Label : value``); a line starting with a space or
    tab continues the previous value.  Blank lines are ignored.

    Args:
        data: the raw file.
        encoding: the bag's Tag-File-Character-Encoding.
        name: the file's bag-relative name, for findings.
        findings: where problems go; without it errors raise.

    Returns:
        ``(label, value)`` pairs in file order.

    Raises:
        BagError: when ``findings`` is None and a line cannot be read.
    """
    found: list[BagFinding] = []
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(split_lines(decode_tag_file(data, encoding, name, found) or ""), 1):
        if line.strip():
            _add_tag_line(pairs, line, number, name, found)
    _deliver(found, findings, name)
    return pairs


def _add_tag_line(pairs: list[tuple[str, str]], line: str, number: int, name: str, found: list[BagFinding]) -> None:
    if line[0] in " \t" and pairs:
        label, value = pairs[-1]
        pairs[-1] = (label, f"{value} {line.strip()}".strip())
    elif ":" in line and line[0] not in " \t:":
        label, _, value = line.partition(":")
        pairs.append((label.strip(), value.strip()))
    else:
        found.append(finding("tag_line", name, line=number))


# --- paths -----------------------------------------------------------------------------


def decode_percent(path: str) -> str:
    """Undo RFC 8493 percent-encoding, which covers only ``%0A``, ``%0D`` and ``%25``.

    Anything else (``%7E``, a bare ``%``) is a literal part of the name.
    """
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), path)


def normalise_path(raw: str, source: str, findings: list[BagFinding]) -> str | None:
    """Turn a path from a manifest or fetch.txt into a safe bag-relative POSIX path.

    ``./`` segments and doubled slashes are dropped with a warning.  Absolute
    paths, ``~`` shortcuts, ``..`` segments, backslashes, drive letters,
    ``%VAR%`` shortcuts, NUL bytes and empty paths make the entry unsafe: it is
    reported and None is returned, so nobody opens it.  As no ``..`` survives,
    every returned path lies inside the bag component by component; no string
    prefix is ever compared.
    """
    path = decode_percent(raw)
    parts = [part for part in path.split("/") if part not in ("", ".")]
    reason = unsafe_reason(path) or (None if parts else ("空路径", "empty path"))
    if reason is not None:
        findings.append(finding("unsafe_path", raw, source=source, why_zh=reason[0], why_en=reason[1]))
        return None
    clean = "/".join(parts)
    if clean != path:
        findings.append(finding("non_canonical", raw, warn=True, source=source, clean=clean))
    return clean


def unsafe_reason(path: str) -> tuple[str, str] | None:
    """Why ``path`` is unsafe, as ``(中文, English)``, or None when it is not."""
    if "\x00" in path:
        return "路径含 NUL 字节", "NUL byte in path"
    if path.startswith("/"):
        return "绝对路径", "absolute path"
    if path.startswith("~"):
        return "主目录简写路径", "home-directory shortcut"
    if "\\" in path:
        return "路径含反斜杠 (Windows 分隔符)", "backslash, a Windows separator, in path"
    if _DRIVE.match(path) or _ENV_VAR.match(path):
        return "Windows 盘符或 %变量% 路径", "Windows drive or %VAR% shortcut"
    if ".." in path.split("/"):
        return "路径越出包目录", "path escapes the bag"
    return None


# --- manifests and fetch.txt -----------------------------------------------------------


def parse_manifest(
    data: bytes,
    encoding: str,
    algorithm: str,
    *,
    name: str | None = None,
    version: str = "1.0",
    findings: list[BagFinding] | None = None,
) -> dict[str, str]:
    """Parse a (tag) manifest: ``digest<whitespace>path`` per line.

    Paths are percent-decoded and normalised (see :func:`normalise_path`); a
    ``*`` after a single space is md5sum's binary-mode marker, accepted with a
    warning.  Digests are lower-cased and checked against the algorithm's
    length.  A path listed twice with different digests is an error; with the
    same digest it is a warning before v1.0 and an error from v1.0 on.

    Args:
        data: the raw file.
        encoding: the bag's Tag-File-Character-Encoding.
        algorithm: the name from the file name (``manifest-<algorithm>.txt``).
        name: the manifest's file name, for findings.
        version: the bag's BagIt version.
        findings: where problems go; without it errors raise.

    Returns:
        normalised path → lower-case hex digest, unsafe entries left out.

    Raises:
        BagError: when ``findings`` is None and the manifest has errors.
    """
    name = name or f"manifest-{algorithm}.txt"
    found: list[BagFinding] = []
    entries: dict[str, str] = {}
    same_is_error = version_tuple(version) >= (1, 0)
    for line in split_lines(decode_tag_file(data, encoding, name, found) or ""):
        entry = _manifest_line(line, algorithm, name, found) if line.strip() else None
        if entry is not None:
            _store_entry(entries, *entry, algorithm, name, same_is_error, found)
    _deliver(found, findings, name)
    return entries


def _manifest_line(line: str, algorithm: str, name: str, found: list[BagFinding]) -> tuple[str, str] | None:
    """One line → ``(path, digest)``, or None after reporting why not."""
    match = _MANIFEST_LINE.fullmatch(line)
    if match is None or not match.group(3):
        found.append(finding("malformed_line", line, source=name))
        return None
    digest, separator, raw = match.group(1).lower(), match.group(2), match.group(3)
    if separator == " " and raw.startswith("*"):
        found.append(finding("md5sum_marker", raw, warn=True, source=name))
        raw = raw[1:]
    path = normalise_path(raw, name, found)
    width = hex_length(algorithm)
    if path is not None and not (_HEX.fullmatch(digest) and width in (None, len(digest))):
        found.append(finding("malformed_digest", path, algorithm=algorithm, found=digest, source=name))
        return None
    return None if path is None else (path, digest)


def _store_entry(
    entries: dict[str, str],
    path: str,
    digest: str,
    algorithm: str,
    name: str,
    same_is_error: bool,
    found: list[BagFinding],
) -> None:
    previous = entries.get(path)
    if previous is None:
        entries[path] = digest
    elif previous != digest:
        found.append(
            finding("duplicate_conflict", path, algorithm=algorithm, expected=previous, found=digest, source=name)
        )
    else:
        found.append(finding("duplicate_same", path, warn=not same_is_error, algorithm=algorithm, source=name))


def parse_fetch(data: bytes, encoding: str, *, findings: list[BagFinding] | None = None) -> list[FetchEntry]:
    """Parse ``fetch.txt`` (``URL LENGTH PATH`` per line); URLs are never fetched.

    Targets follow the same path rules as manifests and must lie under ``data/``
    (a fetch file may not list tag files).  LENGTH is digits or ``-``.

    Args:
        data: the raw file.
        encoding: the bag's Tag-File-Character-Encoding.
        findings: where problems go; without it errors raise.

    Returns:
        The safe, well-formed entries.

    Raises:
        BagError: when ``findings`` is None and the file has errors.
    """
    found: list[BagFinding] = []
    lines = split_lines(decode_tag_file(data, encoding, "fetch.txt", found) or "")
    entries = [entry for line in lines if line.strip() and (entry := _fetch_line(line, found))]
    _deliver(found, findings, "fetch.txt")
    return entries


def _fetch_line(line: str, found: list[BagFinding]) -> FetchEntry | None:
    match = _FETCH_LINE.fullmatch(line)
    if match is None or not (match.group(2) == "-" or _length(match.group(2)) is not None):
        found.append(finding("malformed_line", line, source="fetch.txt"))
        return None
    path = normalise_path(match.group(3), "fetch.txt", found)
    if path is not None and not path.startswith("data/"):
        found.append(finding("fetch_tag_file", path))
        return None
    length = None if match.group(2) == "-" else _length(match.group(2))
    return None if path is None else FetchEntry(match.group(1), length, path)


def _length(text: str) -> int | None:
    """A fetch.txt length, bounded before conversion (leading zeros allowed); None when it is not one."""
    try:
        return whole_number(text.lstrip("0") or "0")
    except ValueError:
        return None
