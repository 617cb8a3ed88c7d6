"""固化信息: digests taken in one streaming pass, every algorithm fed from the same blocks.

The archive requires SHA-256 and SM3 (GB/T 32905) on every manifest. A Python whose
OpenSSL lacks SM3 cannot run the archive at all: a dropped algorithm would be a
silent fixity gap, so :func:`require_algorithms` refuses to start instead.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from archive.errors import MissingDependencyError
from archive.i18n import _

ALGORITHMS: tuple[str, ...] = ("sha256", "sm3")
BLOCK_SIZE = 1 << 20


def require_algorithms(algorithms: Iterable[str] = ALGORITHMS) -> None:
    """Raise when hashlib cannot compute one of the required algorithms."""
    for name in algorithms:
        try:
            hashlib.new(name)
        except ValueError as exc:
            raise MissingDependencyError(
                _("本机 Python/OpenSSL 不支持摘要算法 {name}, 无法保证固化信息").format(name=name),
            ) from exc


def hash_stream(
    stream: BinaryIO, algorithms: Iterable[str] = ALGORITHMS, sink: BinaryIO | None = None
) -> tuple[int, dict[str, str]]:
    """Read ``stream`` to the end once; return its size and the hex digest per algorithm.

    When ``sink`` is given every block is also written to it, so a copy and its
    digests come from the very same bytes.
    """
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    while block := stream.read(BLOCK_SIZE):
        size += len(block)
        for h in hashers.values():
            h.update(block)
        if sink is not None:
            sink.write(block)
    return size, {name: h.hexdigest() for name, h in hashers.items()}


def hash_file(path: Path, algorithms: Iterable[str] = ALGORITHMS) -> tuple[int, dict[str, str]]:
    """Size and digests of one file."""
    with open(path, "rb") as f:
        return hash_stream(f, algorithms)


class SourceReadError(OSError):
    """An OSError met opening or reading the source of a copy, not writing the copy: the two are
    different failures (an unreadable file against a full or broken destination)."""


class _Source:
    """A source stream whose read failures are :class:`SourceReadError`."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except OSError as exc:
            raise SourceReadError(exc.errno, exc.strerror, exc.filename) from exc


def copy_and_hash(src: Path, dst: Path, algorithms: Iterable[str] = ALGORITHMS) -> tuple[int, dict[str, str]]:
    """Copy ``src`` to a new file ``dst`` and digest the bytes on the way.

    A failure to read ``src`` is a :class:`SourceReadError`; any other OSError is the destination's.
    Not flushed to disk here: the bag it goes into is made durable whole (:func:`make_tree_durable`).
    """
    try:
        fin = open(src, "rb")
    except OSError as exc:
        raise SourceReadError(exc.errno, exc.strerror, exc.filename) from exc
    with fin:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "xb") as fout:
            return hash_stream(_Source(fin), algorithms, sink=fout)  # type: ignore[arg-type]


def write_durably(path: Path, data: bytes, *, replace: bool = True) -> bool:
    """Write a small file whole and durably (temp file, fsync, then rename or link, fsync the folder).

    With ``replace=False`` an existing file is never touched (a hard link, unlike a rename,
    refuses to replace) and False is returned.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{uuid.uuid4().hex}.tmp")
    with open(tmp, "xb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_tree(root: Path, files: Mapping[str, bytes]) -> None:
    """Add small files to the folder tree ``root``, make the whole tree durable, read each file back.

    The tree's other files (a bag's payload, copied in by the workers) become durable in the
    same step. Reading back catches a write the kernel reported as done but did not do.
    """
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    make_tree_durable(root)
    for rel, data in files.items():
        if (root / rel).read_bytes() != data:
            raise OSError(errno.EIO, _("写入后复核不符"), str(root / rel))


def make_tree_durable(root: Path) -> None:
    """Flush every file and folder under ``root`` to stable storage, before a rename shows it.

    On Linux one syncfs(2) of its filesystem does that: ~1 ms, where the dozen fsyncs of a
    bag took ~7 ms even issued together (ext4). Elsewhere each file and folder is fsync'ed.
    """
    if sync_filesystem(root):
        return
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(dirpath))


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the filesystem holding ``fd``; False where the C library lacks it."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    if syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"syncfs: {os.strerror(code)}")
    return True


def sync_filesystem(path: Path) -> bool:
    """Flush the whole filesystem holding ``path`` at once (syncfs(2)); False where that is not available.

    For a batch of small files this is one flush where an fsync of each costs a flush
    apiece; the caller fsyncs each file when it returns False.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _syncfs(fd)
    finally:
        os.close(fd)
