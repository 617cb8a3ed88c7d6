"""S3 上传与读取 (streams to and from S3): the multipart upload with checksums checked on both ends,
and the reader over one object.

Every upload carries SHA-256 checksums (per part for multipart uploads) which the server
verifies; the checksum the server then reports (a whole-object digest, or the composite of
part digests ``<b64>-N``) is compared with one computed locally from the very bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError
from s3transfer.utils import ChunksizeAdjuster
from urllib3.exceptions import HTTPError as Urllib3Error

from archive.errors import StorageError
from archive.i18n import _
from archive.storage._s3names import check_relpath

PART_SIZE = 16 << 20  # multipart threshold and part size: bounded memory, few parts for a 2 GB scan
MAX_CONCURRENCY = 4
STREAM_BUFFERS = 4  # parts held in memory at once when the source is a stream (commit_from)
READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    """One file of a committed AIP as recorded in its commit marker (提交标记)."""

    path: str
    size: int
    sha256: str
    version_id: str | None


class _Digest:
    """SHA-256 of a whole stream plus of each part, cut where the multipart upload cuts it."""

    def __init__(self, part_size: int):
        self.part_size = part_size
        self.size = 0
        self._whole = hashlib.sha256()
        self._parts: list[bytes] = []
        self._part = hashlib.sha256()
        self._in_part = 0

    def update(self, block: bytes) -> None:
        self._whole.update(block)
        self.size += len(block)
        view = memoryview(block)
        while view:
            take = min(len(view), self.part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self.part_size:
                self._close_part()

    def _close_part(self) -> None:
        self._parts.append(self._part.digest())
        self._part, self._in_part = hashlib.sha256(), 0

    def hexdigest(self) -> str:
        return self._whole.hexdigest()

    def matches(self, reported: str) -> bool:
        """Whether the server's ``ChecksumSHA256`` (whole ``b64`` or composite ``b64-N``) is ours."""
        if "-" not in reported:
            return reported == base64.b64encode(self._whole.digest()).decode()
        parts = self._parts + ([self._part.digest()] if self._in_part else [])
        composite = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
        return reported == f"{composite}-{len(parts)}"

    @classmethod
    def of_file(cls, path: Path, part_size: int) -> _Digest:
        digest = cls(part_size)
        with open(path, "rb") as f:
            while block := f.read(READ_BLOCK):
                digest.update(block)
        return digest


class _HashingReader(io.RawIOBase):
    """A forward-only reader that digests what the uploader takes from ``source``.

    It claims not to be seekable so the transfer manager reads it once, in order,
    part by part; each read returns as much as asked (short only at the end) so parts
    have the configured size.
    """

    def __init__(self, source: BinaryIO, part_size: int):
        super().__init__()
        self._source = source
        self.digest = _Digest(part_size)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        try:
            data = self._take(size)
        except OSError as exc:  # the source's disk, not S3: still a storage failure for the caller
            raise StorageError(_("读取源文件失败: {reason}").format(reason=exc)) from exc
        self.digest.update(data)
        return data

    def _take(self, size: int | None) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self._source.read(READ_BLOCK), b""))
        chunks, want = [], size
        while want > 0 and (block := self._source.read(min(want, READ_BLOCK))):
            chunks.append(block)
            want -= len(block)
        return b"".join(chunks)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ObjectReader(io.RawIOBase):
    """A streaming reader over one object whose failures surface as :class:`StorageError`."""

    def __init__(self, body: Any, where: str):
        super().__init__()
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._body.read() if size is None or size < 0 else self._body.read(size)
        except (BotoCoreError, Urllib3Error, OSError) as exc:
            raise StorageError(_("读取中断: {reason}").format(reason=exc), path=self._where) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Uploads:
    """上传: the part of :class:`~archive.storage.s3.S3Location` that puts one file up and checks it."""

    client: Any
    bucket: str

    def _transfer(self, part_size: int) -> TransferConfig:
        config = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=part_size,
            max_concurrency=MAX_CONCURRENCY,
            use_threads=True,
            preferred_transfer_client="classic",  # the CRT client would ignore these memory bounds
        )
        # A stream source is read into memory part by part; cap the parts held at once.
        config.max_in_memory_upload_chunks = STREAM_BUFFERS
        return config

    def _upload_path(self, key: str, relpath: str, path: Path) -> StoredFile:
        part_size = ChunksizeAdjuster().adjust_chunksize(PART_SIZE, path.stat().st_size)
        digest = _Digest.of_file(path, part_size)
        obj = self._aip_prefix(key) + check_relpath(relpath)
        with self._errors("upload", f"{key}/{relpath}"):
            self.client.upload_file(
                str(path), self.bucket, obj, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=self._transfer(part_size)
            )
            return self._verify(obj, relpath, digest)

    def _upload_stream(self, key: str, relpath: str, stream: BinaryIO, size: int | None) -> StoredFile:
        part_size = ChunksizeAdjuster().adjust_chunksize(PART_SIZE, size)
        reader = _HashingReader(stream, part_size)
        obj = self._aip_prefix(key) + check_relpath(relpath)
        with self._errors("upload", f"{key}/{relpath}"):
            self.client.upload_fileobj(
                reader, self.bucket, obj, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=self._transfer(part_size)
            )
            return self._verify(obj, relpath, reader.digest)

    def _verify(self, obj: str, relpath: str, digest: _Digest) -> StoredFile:
        """Compare what the server holds now with the digest of the bytes sent."""
        head = self._head(obj)
        if head is None:
            raise StorageError(_("上传后对象不存在"), path=obj)
        reported = head.get("ChecksumSHA256")
        if int(head["ContentLength"]) != digest.size or (reported and not digest.matches(reported)):
            raise StorageError(
                _("上传后校验不符: 大小 {stored} (应为 {size}), 校验值 {checksum}").format(
                    stored=head["ContentLength"], size=digest.size, checksum=reported
                ),
                path=obj,
            )
        return StoredFile(relpath, digest.size, digest.hexdigest(), head.get("VersionId"))
