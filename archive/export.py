"""利用 (access): a DIP of one item, and the 归档文件目录 (item list) as XLSX or PDF.

The DIP is for people: the original files under their original names, the DA/T 46
metadata XML, the 四性检测 report and a plain-text summary (说明.txt). Every file it
is built from is read from storage and checked against the catalogue's record of
that file (its size and SHA-256, taken at ingest; the record covers the tag files
too), so neither a damaged original nor an edited metadata file is ever handed over.
A file that fails is taken from the item's next copy; when no copy holds it intact,
nothing is exported.

The DIP is built in a hidden folder beside the destination, whose name says it is
unfinished (``.<name>.未完成-partial-<id>``), and renamed into place whole: the
destination shows the whole DIP or nothing. A destination that exists must be an
empty directory (it is replaced); anything in it is refused, never merged into.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from archive.aip import ITEM_XML, ORIGINAL_DIR, REPORT_XML
from archive.catalogue import Catalogue, FileRow, ItemRow
from archive.errors import DanganError, NotFoundError, StorageError, UsageError
from archive.fixity import BLOCK_SIZE, fsync_dir, make_tree_durable
from archive.i18n import _
from archive.names import sibling_name
from archive.storage.base import Location

#: DA/T 22-2015 归档文件目录 columns

#: tag files of the AIP the DIP carries, and their names in the DIP
DIP_METADATA = ((ITEM_XML, "元数据.xml"), (REPORT_XML, "检测报告.xml"))
FILES_DIR = "文件"
SUMMARY = "说明.txt"
#: in the name of the folder a DIP is built in, so that a crash's leftover never passes for a DIP
PARTIAL_MARK = "未完成-partial"
#: destination failures that are the disk's (exit 4), not the path's (exit 2)
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def export_dip(
    catalogue: Catalogue,
    locations: Sequence[Location],
    archival_code: str,
    dest: Path,
    *,
    notes: list[str] | None = None,
) -> list[Path]:
    """Write the DIP of one item to ``dest`` (a new or empty directory); return the files written.

    Each file is taken from the first of ``locations`` (primary first) whose copy matches
    the catalogue's record. ``notes``, when given, gets one line per copy passed over. Missing
    parent folders of ``dest`` are created.

    Raises:
        NotFoundError: no item with that 档号.
        UsageError: ``dest`` is not a directory, is not empty, is a mount point or cannot be written.
        StorageError: no copy holds some file intact, or the destination's disk failed; ``dest`` is left as it was.
    """
    row = catalogue.get(archival_code)
    if row is None:
        raise NotFoundError(_("没有档号为 {code} 的档案").format(code=archival_code))
    files = catalogue.files(archival_code)
    plan = _plan(row.aip_key, files)
    try:
        target = _check_dest(dest)
        with _building(target) as work:
            passed_over: list[str] = []
            for record, out in plan:
                passed_over += _fetch(locations, row.aip_key, record, work / out)
            (work / SUMMARY).write_text(dip_summary(row, files), encoding="utf-8")
            _publish(work, target, dest)
    except OSError as exc:
        raise _dest_error(exc, dest) from exc
    if notes is not None:
        notes.extend(passed_over)
    return [*(dest / out for _record, out in plan), dest / SUMMARY]


def _plan(key: str, files: list[FileRow]) -> list[tuple[FileRow, str]]:
    """Each catalogue record the DIP is built from, with the file's path in the DIP."""
    plan = []
    for f in files:
        if f.kind == "payload":
            name = f.path.removeprefix(f"{ORIGINAL_DIR}/")
            if name == f.path or any(part in ("", ".", "..") for part in name.split("/")):
                raise StorageError(_("文件名越出目标目录: {name}").format(name=name), path=key)
            plan.append((f, f"{FILES_DIR}/{name}"))
    by_path = {f.path: f for f in files}
    for relpath, out in DIP_METADATA:
        if relpath not in by_path:
            raise StorageError(
                _("目录数据库中没有该文件的固化记录, 无法核验, 未导出"),
                path=f"{key}/{relpath}",
            )
        plan.append((by_path[relpath], out))
    return plan


def _check_dest(dest: Path) -> Path:
    """The folder to publish the DIP as: ``dest``, absolute (its target when it is a link), new or empty."""
    target = Path(os.path.realpath(dest) if dest.is_symlink() else os.path.abspath(dest))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISDIR(mode):
        raise UsageError(_("目标已存在且不是目录"), path=str(dest))
    if any(target.iterdir()):
        raise UsageError(
            _("目标目录不为空, 不会合并导出; 请指定新的或空的目录"),
            path=str(dest),
        )
    if os.path.ismount(target):
        raise UsageError(
            _("目标是挂载点, 请在其中指定一个新目录"),
            path=str(dest),
        )
    return target


@contextmanager
def _building(target: Path) -> Iterator[Path]:
    """A new hidden folder beside ``target`` to build the DIP in; removed on the way out unless published."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(sibling_name(target.name, f".{PARTIAL_MARK}-{uuid.uuid4().hex[:12]}"))
    work.mkdir()  # not mkdtemp: its mode 0700 would become the DIP's once renamed
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch(locations: Sequence[Location], key: str, record: FileRow, target: Path) -> list[str]:
    """Copy one file into ``target`` from the first copy that matches its record; return the copies passed over."""
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for loc in locations:
        with open(target, "wb") as out:
            problem = _copy_verified(loc, key, record, out)
        if not problem:
            return [
                _("副本 {location} 中的 {path} 未通过核验, 已改用其他副本: {detail}").format(
                    location=name, path=record.path, detail=detail
                )
                for name, detail in failures
            ]
        failures.append((loc.name, problem))
    found = "; ".join(f"{name}: {detail}" for name, detail in failures) or _("没有存储位置")
    raise StorageError(
        _("没有完好的副本, 未导出任何文件: {found}").format(found=found),
        path=f"{key}/{record.path}",
    )


def _copy_verified(loc: Location, key: str, record: FileRow, out: BinaryIO) -> str:
    """Stream one stored file into ``out``; return what is wrong with it ("" when it matches the record)."""
    try:
        size, sha256 = _stream(loc, key, record.path, out)
    except StorageError as exc:
        return exc.message
    if record.size is not None and size != record.size:
        return _("应为 {expected} 字节, 实为 {size} 字节").format(expected=record.size, size=size)
    if sha256 != record.sha256:
        return _("SHA-256 与记录不符, 文件已损坏或被改动: {digest}").format(digest=sha256)
    return ""


def _stream(loc: Location, key: str, relpath: str, out: BinaryIO) -> tuple[int, str]:
    """Copy one stored file into ``out``: its size and SHA-256.

    A read error is the copy's (StorageError, and the next copy is tried); a write error
    is the destination's (OSError, which ends the export).
    """
    sha256, size = hashlib.sha256(), 0
    with loc.open(key, relpath) as src:
        while True:
            try:
                block = src.read(BLOCK_SIZE)
            except OSError as exc:
                raise StorageError(
                    _("无法读取: {reason}").format(reason=exc.strerror or exc), path=f"{key}/{relpath}"
                ) from exc
            if not block:
                return size, sha256.hexdigest()
            sha256.update(block)
            size += len(block)
            out.write(block)


def _publish(work: Path, target: Path, dest: Path) -> None:
    """Make the finished DIP durable, then visible as ``target`` in one rename."""
    make_tree_durable(work)
    try:
        os.rename(work, target)  # replaces an empty directory, never a non-empty one or a file
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise UsageError(_("目标目录已有内容, 未导出"), path=str(dest)) from exc
        if exc.errno == errno.ENOTDIR:
            raise UsageError(_("目标已存在且不是目录"), path=str(dest)) from exc
        raise
    with suppress(OSError):  # the DIP is in place: a folder that cannot be flushed is no reason to say it is not
        fsync_dir(target.parent)


def _dest_error(exc: OSError, dest: Path) -> DanganError:
    """A destination that cannot be written: the path's fault (exit 2) unless its disk failed (exit 4)."""
    reason = exc.strerror or str(exc)
    if exc.errno in _DISK_ERRNOS:
        return StorageError(_("写入目标失败: {reason}").format(reason=reason), path=str(dest))
    return UsageError(_("无法写入目标: {reason}").format(reason=reason), path=str(dest))


def dip_summary(row: ItemRow, files: list[FileRow]) -> str:
    """A readable summary of one item, in Chinese."""
    lines = [
        f"档号: {row.archival_code}",
        f"题名: {row.title}",
        f"立档单位: {row.fonds_name} (全宗号 {row.fonds_code})",
        f"门类: {row.category}    年度: {row.year}    保管期限: {row.retention}",
        f"责任者: {row.author}    日期: {row.date}    文号: {row.doc_number}",
        f"密级: {row.classification or '无'}    页数: {row.page_count if row.page_count is not None else ''}",
        f"载体: {row.carrier}    归档时间: {row.ingested_at}",
        f"备注: {row.remarks}",
        "",
        "文件 (SHA-256 / SM3):",
    ]
    for f in files:
        if f.kind == "payload":
            name = f.path.removeprefix(f"{ORIGINAL_DIR}/")
            lines.append(f"  {name}  {f.size} 字节  {f.puid or ''}\n    {f.sha256}\n    {f.sm3}")
    return "\n".join(lines) + "\n"


def require_folder(out: Path) -> None:
    """Refuse an output file whose folder does not exist (nothing is created on a typo)."""
    if not out.parent.is_dir():
        raise UsageError(_("输出目录不存在: {path}").format(path=out.parent), path=str(out))


def save_atomically(out: Path, save: Callable[[Path], object]) -> None:
    """Write through a hidden partial file renamed over ``out``: a failure leaves nothing behind.

    Raises:
        UsageError: ``out`` cannot be written there.
        StorageError: The disk failed while writing (full, I/O error).
    """
    partial = out.with_name(sibling_name(out.name, f".{uuid.uuid4().hex[:12]}.part"))
    try:
        save(partial)
        partial.replace(out)
    except OSError as exc:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise _dest_error(exc, out) from exc
