"""固化信息: digests taken in one streaming pass, every algorithm fed from the same blocks.

The archive requires SHA-256 and SM3 (GB/T 32905) on every manifest. A Python whose
OpenSSL lacks SM3 cannot run the archive at all: a dropped algorithm would be a
silent fixity gap, so :func:`require_algorithms` refuses to start instead.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from archive.errors import MissingDependencyError

ALGORITHMS: tuple[str, ...] = ("sha256", "sm3")
BLOCK_SIZE = 1 << 20


def require_algorithms(algorithms: Iterable[str] = ALGORITHMS) -> None:
    """Raise when hashlib cannot compute one of the required algorithms."""
    for name in algorithms:
        try:
            hashlib.new(name)
        except ValueError as exc:
            raise MissingDependencyError(
                f"本机 Python/OpenSSL 不支持摘要算法 {name}, 无法保证固化信息 "
                f"(hashlib lacks {name}; install a Python built against OpenSSL 1.1.1+ with SM3)",
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


def copy_and_hash(src: Path, dst: Path, algorithms: Iterable[str] = ALGORITHMS) -> tuple[int, dict[str, str]]:
    """Copy ``src`` to a new file ``dst`` (durably) and digest the bytes on the way."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        result = hash_stream(fin, algorithms, sink=fout)
        fout.flush()
        os.fsync(fout.fileno())
    return result


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


def write_files_durably(files: Mapping[Path, bytes]) -> None:
    """Write a set of small files, make them and their folders durable together, and read each back.

    All the files are written first and then fsync'ed at once from threads: concurrent
    fsyncs share one journal commit (ext4, xfs), so a bag's dozen tag files cost about
    what one does. Reading back catches a write the kernel reported as done but did not do.
    """
    fds = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            if os.write(fds[-1], data) != len(data):
                raise OSError(errno.EIO, "short write", str(path))
        folders = sorted({path.parent for path in files})
        fds += [os.open(folder, os.O_RDONLY | os.O_DIRECTORY) for folder in folders]
        with ThreadPoolExecutor(max_workers=min(len(fds), 16) or 1) as pool:
            list(pool.map(os.fsync, fds))
    finally:
        for fd in fds:
            os.close(fd)
    for path, data in files.items():
        if path.read_bytes() != data:
            raise OSError(errno.EIO, "写入后复核不符 (file differs after the write)", str(path))
