"""存储位置 (S3 兼容对象存储): AIPs as objects in an S3 bucket, made visible by a commit marker.

Layout under ``prefix`` in the bucket (key = ``<全宗号>/<档号>``)::

    aips/<key>/<bag-relative path>   the AIP's files
    committed/<key>                  提交标记 (commit marker): JSON listing each file's path, size, sha256
    records/<key>/<name>             append-only records (PREMIS events, destruction tombstones)
    pending/<key>                    写入标记 (writer note): host, pid, time, while a writer works on key

Atomic visibility: an AIP exists only once its marker exists, and the marker is
written last, with a conditional create (``If-None-Match: *``), after every file
has been uploaded and checked against what the server reports. The ``pending``
note is itself created conditionally, so it doubles as a per-key writer lock;
:meth:`S3Location.recover` removes what a dead writer left.

Fixity on the wire: every upload carries SHA-256 checksums (per part for multipart
uploads) which the server verifies, and the checksum the server then reports (a
whole-object digest, or the composite of part digests ``<b64>-N``) is compared with
one computed locally from the very bytes that were sent.

对象锁定 (Object Lock): files go up without retention, so a crashed upload can be
cleaned; after verification each version gets GOVERNANCE retention, and the marker
is written with the same retention, so an AIP is never visible unprotected. A writer
that dies after locking its files but before its marker leaves versions nobody can
delete until their date; recovery hides them behind delete markers, so the key can be
committed afresh, and reports them. GOVERNANCE retention can be lifted by an identity
allowed to bypass it (SeaweedFS allows its admin key); this module never asks to.

Credentials come from the standard AWS chain (environment, ``~/.aws``), never from
``dangan.toml``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import psutil
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from s3transfer.utils import ChunksizeAdjuster
from urllib3.exceptions import HTTPError as Urllib3Error

from archive.config import S3_SETTINGS
from archive.errors import AIPExistsError, ConfigError, LockedError, RecordExistsError, StorageError, UsageError
from archive.storage.base import Location, ObjectLock
from archive.storage.s3client import UNANSWERED, ClientLimits, make_client

PART_SIZE = 16 << 20  # multipart threshold and part size: bounded memory, few parts for a 2 GB scan
MAX_CONCURRENCY = 4
S3_KEY_MAX = 1024  # bytes of UTF-8 in an object key
KEY_RESERVE = 128  # bytes kept for an AIP key <全宗号>/<档号> (a DA/T 22 档号 with an org code is ~40)
STREAM_BUFFERS = 4  # parts held in memory at once when the source is a stream (commit_from)
READ_BLOCK = 1 << 20
STALE_AFTER = timedelta(hours=24)  # a writer on another host silent this long is taken as dead
#: Object Lock modes: GOVERNANCE can be lifted by an identity allowed to bypass it (an
#: administrator), COMPLIANCE by nobody before its date; chosen per location (``lock_mode``).
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
MARKER_FORMAT = "dangan-s3-commit/1"
OPTIONS = {"endpoint_url", "bucket", "prefix", "region", "lock_mode", *(s.name for s in S3_SETTINGS)}
NO_RETENTION_CODES = {
    "NoSuchObjectLockConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLegalHold",
    "NoSuchKey",
}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
EXISTS_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
S3_FAILURES = (ClientError, BotoCoreError, Boto3Error, Urllib3Error)


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
            raise StorageError(f"读取源文件失败 (cannot read the source): {exc}") from exc
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
            raise StorageError(f"读取中断 (read interrupted): {exc}", path=self._where) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _check_key(key: str) -> str:
    parts = key.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise StorageError(f"非法的 AIP 键 (invalid AIP key): {key!r}")
    return key


def _check_relpath(relpath: str) -> str:
    parts = relpath.split("/")
    if not relpath or any(p in ("", ".", "..") for p in parts) or "\\" in relpath:
        raise StorageError(f"非法的包内路径 (invalid bag-relative path): {relpath!r}")
    return relpath


def _check_name(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise StorageError(f"非法的记录名 (invalid record name): {name!r}")
    return name


def _bag_files(staged: Path) -> list[tuple[str, Path]]:
    """Every regular file of a staged bag with its POSIX relative path; anything else is refused."""
    found = []
    for dirpath, dirs, files in os.walk(staged):
        for name in sorted(dirs + files):
            p = Path(dirpath, name)
            if p.is_symlink() or not (p.is_dir() or p.is_file()):
                raise StorageError(f"暂存目录中有链接或特殊文件 (not a regular file): {p}")
            if p.is_file():
                found.append((p.relative_to(staged).as_posix(), p))
    return sorted(found)


def _lock_until(retain_until: date | None) -> datetime | None:
    """Retention ends at 00:00 UTC of ``retain_until``; a day already past asks for none."""
    if retain_until is None:
        return None
    until = datetime.combine(retain_until, time.min, tzinfo=UTC)
    return until if until > datetime.now(UTC) else None


def _writer_note(op: str, retain_until: date | None) -> bytes:
    me = psutil.Process()
    note = {
        "op": op,
        "host": socket.gethostname(),
        "pid": me.pid,
        "started": me.create_time(),
        "time": datetime.now(UTC).isoformat(),
        "retain_until": retain_until.isoformat() if retain_until else None,
    }
    return json.dumps(note).encode()


def _writer_dead(note: dict[str, Any], written: datetime, stale_after: timedelta) -> bool:
    """Dead: on this host, its process is gone (or the pid reused); elsewhere, silent for too long."""
    if note.get("host") != socket.gethostname():
        return datetime.now(UTC) - written > stale_after
    try:
        proc = psutil.Process(int(note["pid"]))
        alive = proc.status() != psutil.STATUS_ZOMBIE
        return not alive or abs(proc.create_time() - float(note.get("started", 0))) > 1.0
    except (psutil.NoSuchProcess, KeyError, ValueError, TypeError):
        return True


class S3Location(Location):
    """存储位置 (S3): AIPs as objects in a bucket of an S3-compatible server (异地备份 offsite copy)."""

    def __init__(
        self,
        name: str,
        *,
        endpoint_url: str,
        bucket: str,
        prefix: str = "",
        region: str = "us-east-1",
        client: Any = None,
        limits: ClientLimits | None = None,
        lock_mode: str = LOCK_MODES[0],
    ):
        self.name = name
        self.lock_mode = lock_mode
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.region = region
        self.limits = limits or ClientLimits()
        self.client = client or make_client(endpoint_url, region, self.limits)
        self._own_client = client is None
        self._lock_state: ObjectLock | None = None
        self._unanswered: str | None = None  # why the server is taken as down for the rest of this run

    @classmethod
    def from_options(cls, name: str, options: dict[str, Any], *, home: Path | None = None) -> S3Location:
        """Build a location from the options of a ``[[storage]]`` entry of type ``s3`` (``home`` is unused)."""
        unknown = set(options) - OPTIONS
        if any("secret" in k or "key_id" in k or "access" in k for k in unknown):
            raise ConfigError(
                "dangan.toml 中不得写入 S3 密钥, 请用环境变量或 ~/.aws/credentials "
                "(never put S3 credentials in dangan.toml; use the environment or ~/.aws)",
                rule="dangan.toml [[storage]]",
            )
        if unknown:
            raise ConfigError(
                f"未知的 S3 存储选项 (unknown s3 options): {sorted(unknown)}", rule="dangan.toml [[storage]]"
            )
        mode = str(options.get("lock_mode", LOCK_MODES[0])).upper()
        if mode not in LOCK_MODES:
            raise ConfigError(
                f"S3 存储选项 lock_mode 只能是 {' 或 '.join(LOCK_MODES)}: {options['lock_mode']!r}",
                rule="dangan.toml [[storage]]",
            )
        missing = [k for k in ("endpoint_url", "bucket") if not options.get(k)]
        if missing:
            raise ConfigError(f"S3 存储缺少选项 (missing s3 options): {missing}", rule="dangan.toml [[storage]]")
        return cls(
            name,
            endpoint_url=str(options["endpoint_url"]),
            bucket=str(options["bucket"]),
            prefix=str(options.get("prefix", "")),
            region=str(options.get("region", "us-east-1")),
            limits=ClientLimits.from_options(options),
            lock_mode=mode,
        )

    @classmethod
    def spec_options(cls, where: str, spec: str) -> dict[str, Any]:
        """``NAME=s3:http://host:port/bucket[/prefix]``."""
        url = urlsplit(where)
        bucket, _, prefix = url.path.lstrip("/").partition("/")
        if not url.scheme or not url.netloc or not bucket:
            raise UsageError(f"S3 位置应为 s3:http://主机:端口/桶[/前缀] (bad s3 location): {spec}")
        options = {"endpoint_url": f"{url.scheme}://{url.netloc}", "bucket": bucket}
        if prefix:
            options["prefix"] = prefix.rstrip("/") + "/"
        return options

    def describe(self) -> str:
        where = f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{self.prefix}".rstrip("/")
        return f"{self.name} (s3: {where})"

    def limit_waits(self, seconds: float) -> None:
        """No request waits much longer than ``seconds`` for an answer (a bounded run's budget)."""
        narrowed = self.limits.within(seconds)
        if self._own_client and narrowed != self.limits:
            self.limits, self.client = narrowed, make_client(self.endpoint_url, self.region, narrowed)

    def prepare(self) -> None:
        """Create the bucket for ``dangan init``, with Object Lock: an archive wants WORM where it can have it."""
        self.ensure_bucket(object_lock=True)

    # --- object names and error translation -------------------------------------------

    def bag_path_room(self) -> int:
        """S3 object keys are at most 1024 bytes: what is left after the prefix, ``aips/`` and the key."""
        return S3_KEY_MAX - len(self._aip_prefix("X/X").encode("utf-8")) + len("X/X") - KEY_RESERVE

    def _aip_prefix(self, key: str) -> str:
        return f"{self.prefix}aips/{_check_key(key)}/"

    def _marker(self, key: str) -> str:
        return f"{self.prefix}committed/{_check_key(key)}"

    def _pending(self, key: str) -> str:
        return f"{self.prefix}pending/{_check_key(key)}"

    def _record(self, key: str, name: str) -> str:
        return f"{self.prefix}records/{_check_key(key)}/{_check_name(name)}"

    @contextmanager
    def _errors(self, action: str, path: str) -> Iterator[None]:
        """Turn client and connection failures into :class:`StorageError` naming the key.

        A server that did not answer in time (after the client's retries) is taken as
        down for the rest of this run: each later call fails at once with the same
        reason, so a frozen server costs one wait, not one per request.
        """
        if self._unanswered is not None:
            raise StorageError(self._unanswered, path=path)
        try:
            yield
        except ClientError as exc:
            code = _error_code(exc)
            if code in NOT_FOUND_CODES:
                raise StorageError(f"S3 对象不存在 (no such object; {action})", path=path) from exc
            raise StorageError(f"S3 操作失败 ({action} failed: {code} {exc})", path=path) from exc
        except (BotoCoreError, Boto3Error, Urllib3Error) as exc:
            message = f"无法访问 S3 存储位置 {self.name} (cannot reach {self.endpoint_url}; {action}): {exc}"
            if isinstance(exc, UNANSWERED):
                self._unanswered = f"{message}; 本次运行不再访问 (not asked again in this run)"
            raise StorageError(message, path=path) from exc

    def _head(self, obj: str) -> dict[str, Any] | None:
        """The object's headers, or None when it does not exist."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=obj, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _error_code(exc) in NOT_FOUND_CODES:
                return None
            raise

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _versions(self, prefix: str) -> Iterator[tuple[str, str | None, bool]]:
        """(object name, version id, is a delete marker) for every version under ``prefix``."""
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for v in page.get("Versions", []):
                yield v["Key"], v.get("VersionId"), False
            for v in page.get("DeleteMarkers", []):
                yield v["Key"], v.get("VersionId"), True

    # --- whole AIPs -------------------------------------------------------------------

    @contextmanager
    def staging(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="dangan-s3-staging-") as work:
            yield Path(work)

    def exists(self, key: str) -> bool:
        with self._errors("head", key):
            return self._head(self._marker(key)) is not None

    def list_keys(self) -> Iterator[str]:
        start = f"{self.prefix}committed/"
        with self._errors("list", start):
            keys = [o["Key"][len(start) :] for o in self._list(start)]
        # sorted here: a filer-backed listing walks folders, which is not byte order
        yield from sorted(keys)

    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        start = self._aip_prefix(key)
        with self._errors("list", key):
            files = [(o["Key"][len(start) :], int(o["Size"])) for o in self._list(start)]
        yield from sorted(files)

    def inventory(self, keys: Collection[str]) -> Iterator[tuple[str, list[tuple[str, int]]]]:
        """Two listings for all of ``keys``: the commit markers, then every AIP's objects.

        S3 lists in key order, so each AIP's objects come together and an AIP is handed
        on as soon as the listing has passed it.
        """
        start = f"{self.prefix}aips/"
        with self._errors("list", f"{self.prefix}committed/"):
            wanted = set(keys) & set(self.list_keys())
        current, files = "", []
        with self._errors("list", start):
            for obj in self._list(start):
                parts = obj["Key"][len(start) :].split("/", 2)
                if len(parts) < 3:
                    continue  # not inside an AIP's folder: nothing a copy is checked against
                key, relpath = f"{parts[0]}/{parts[1]}", parts[2]
                if key != current:
                    if current in wanted:
                        yield current, sorted(files)
                    current, files = key, []
                files.append((relpath, int(obj["Size"])))
        if current in wanted:
            yield current, sorted(files)

    def open(self, key: str, relpath: str) -> BinaryIO:
        where = f"{key}/{relpath}"
        obj = self._aip_prefix(key) + _check_relpath(relpath)
        with self._errors("get", where):
            body = self.client.get_object(Bucket=self.bucket, Key=obj)["Body"]
        return io.BufferedReader(_ObjectReader(body, where), READ_BLOCK)

    def commit_marker(self, key: str) -> dict[str, Any]:
        """The commit marker (提交标记) of a committed AIP: its files with size, sha256 and version."""
        with self._errors("get", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._marker(key))["Body"]
            return json.loads(body.read())

    def commit(self, key: str, staged: Path, retain_until: date | None = None) -> None:
        files = _bag_files(staged)
        if not files:
            raise StorageError(f"暂存目录为空 (nothing staged): {staged}", path=key)
        with self._writer(key, "commit", retain_until):
            stored = [self._upload_path(key, rel, path) for rel, path in files]
            self._seal(key, stored, retain_until)

    def commit_from(self, key: str, source: Location, source_key: str, retain_until: date | None = None) -> None:
        """Stream a committed AIP from ``source`` straight into the bucket: no local staging."""
        if not source.exists(source_key):
            raise StorageError(f"源位置 {source.name} 没有此 AIP (no committed AIP at the source)", path=source_key)
        listing = list(source.list_files(source_key))
        with self._writer(key, "commit", retain_until):
            stored = []
            for relpath, size in listing:
                with source.open(source_key, relpath) as stream:
                    entry = self._upload_stream(key, relpath, stream, size)
                if entry.size != size:
                    raise StorageError(
                        f"源文件大小不符 (source size changed: listed {size}, read {entry.size})",
                        path=f"{key}/{relpath}",
                    )
                stored.append(entry)
            self._seal(key, stored, retain_until)

    @contextmanager
    def _writer(self, key: str, op: str, retain_until: date | None = None) -> Iterator[None]:
        """Hold ``pending/<key>`` while writing; on failure remove what was uploaded, if not committed."""
        self._begin(key, op, retain_until)
        try:
            yield
        except BaseException:
            self._abandon(key)
            raise
        self._release(key)

    def _release(self, key: str) -> None:
        """Drop the writer note. The work is done; if the server has just gone, :meth:`recover` drops it."""
        if self._unanswered is not None:
            return
        try:
            self._delete_versions(self._pending(key), exact=True)
        except S3_FAILURES:
            pass

    def _begin(self, key: str, op: str, retain_until: date | None) -> None:
        if op == "commit" and self.exists(key):
            raise AIPExistsError(f"AIP 已存在 (AIP exists): {key}", path=key)
        with self._errors("put pending", key):
            if not self._create(self._pending(key), _writer_note(op, retain_until)):
                raise StorageError(
                    "另一进程正在写入此 AIP, 或上次写入中断; 请稍后重试或运行恢复 "
                    "(another writer holds this key, or one crashed: retry later or run recover)",
                    path=key,
                )
        if op == "commit" and self.exists(key):  # committed by another writer between the two checks
            self._release(key)
            raise AIPExistsError(f"AIP 已存在 (AIP exists): {key}", path=key)

    def _create(self, obj: str, body: bytes, **extra: Any) -> bool:
        """Create ``obj`` only if absent; False when it is already there."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=obj, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256", **extra
            )
        except ClientError as exc:
            if _error_code(exc) in EXISTS_CODES:
                return False
            raise
        return True

    def _abandon(self, key: str) -> None:
        """Best effort after a failed write: a dead server leaves the cleanup to :meth:`recover`."""
        if self._unanswered is not None:
            return
        try:
            if self._head(self._marker(key)) is None:
                self._purge_uncommitted(key)
            self._delete_versions(self._pending(key), exact=True)
        except (*S3_FAILURES, StorageError):
            pass

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
        obj = self._aip_prefix(key) + _check_relpath(relpath)
        with self._errors("upload", f"{key}/{relpath}"):
            self.client.upload_file(
                str(path), self.bucket, obj, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=self._transfer(part_size)
            )
            return self._verify(obj, relpath, digest)

    def _upload_stream(self, key: str, relpath: str, stream: BinaryIO, size: int | None) -> StoredFile:
        part_size = ChunksizeAdjuster().adjust_chunksize(PART_SIZE, size)
        reader = _HashingReader(stream, part_size)
        obj = self._aip_prefix(key) + _check_relpath(relpath)
        with self._errors("upload", f"{key}/{relpath}"):
            self.client.upload_fileobj(
                reader, self.bucket, obj, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=self._transfer(part_size)
            )
            return self._verify(obj, relpath, reader.digest)

    def _verify(self, obj: str, relpath: str, digest: _Digest) -> StoredFile:
        """Compare what the server holds now with the digest of the bytes sent."""
        head = self._head(obj)
        if head is None:
            raise StorageError("上传后对象不存在 (object missing after upload)", path=obj)
        reported = head.get("ChecksumSHA256")
        if int(head["ContentLength"]) != digest.size or (reported and not digest.matches(reported)):
            raise StorageError(
                f"上传后校验不符 (uploaded object does not match: size {head['ContentLength']} vs {digest.size}, "
                f"checksum {reported})",
                path=obj,
            )
        return StoredFile(relpath, digest.size, digest.hexdigest(), head.get("VersionId"))

    def _seal(self, key: str, stored: list[StoredFile], retain_until: date | None) -> None:
        """Lock every version (when asked and enforced), then write the marker: the AIP becomes visible."""
        until = _lock_until(retain_until) if self.object_lock() is ObjectLock.enforced else None
        prefix = self._aip_prefix(key)
        with self._errors("retention", key):
            for entry in stored if until else ():
                self._retain(prefix + entry.path, entry.version_id, until)
        marker = {
            "format": MARKER_FORMAT,
            "key": key,
            "committed": datetime.now(UTC).isoformat(),
            "retain_until": until.date().isoformat() if until else None,
            "files": [asdict(e) for e in stored],
        }
        lock = {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": until} if until else {}
        body = json.dumps(marker, ensure_ascii=False, indent=1).encode()
        with self._errors("put marker", key):
            if not self._create(self._marker(key), body, ContentType="application/json", **lock):
                raise AIPExistsError(f"AIP 已存在 (AIP exists): {key}", path=key)

    def _retain(self, obj: str, version_id: str | None, until: datetime) -> None:
        extra = {"VersionId": version_id} if version_id else {}
        self.client.put_object_retention(
            Bucket=self.bucket, Key=obj, Retention={"Mode": self.lock_mode, "RetainUntilDate": until}, **extra
        )

    # --- deletion and recovery ---------------------------------------------------------

    def _delete_versions(self, prefix: str, *, exact: bool = False) -> tuple[list[str], list[str]]:
        """Delete every version (and delete marker) under ``prefix``; return (removed, refused) names."""
        doomed = [(k, v) for k, v, _dm in self._versions(prefix) if not exact or k == prefix]
        removed: list[str] = []
        refused: list[str] = []
        for start in range(0, len(doomed), 1000):
            batch = doomed[start : start + 1000]
            objects = [{"Key": k, **({"VersionId": v} if v else {})} for k, v in batch]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
            failed = {(e["Key"], e.get("VersionId")) for e in answer.get("Errors", [])}
            refused += sorted({k for k, v in batch if (k, v) in failed})
            removed += sorted({k for k, v in batch if (k, v) not in failed})
        return sorted(set(removed)), sorted(set(refused))

    def _purge_uncommitted(self, key: str) -> list[str]:
        """Remove every version of an uncommitted AIP's objects and its unfinished multipart uploads."""
        prefix = self._aip_prefix(key)
        removed = [f"upload {self._rel(up['Key'])}" for up in list(self._uploads(prefix)) if self._abort(up)]
        gone, refused = self._delete_versions(prefix)
        # Versions locked by a writer that died after locking but before its marker cannot be
        # deleted; a delete marker hides them so a new commit of the key starts clean.
        for obj in refused:
            self.client.delete_object(Bucket=self.bucket, Key=obj)
        hidden = [f"{self._rel(o)} (已锁定, 仅隐藏 locked, hidden)" for o in refused]
        return removed + [self._rel(o) for o in gone] + hidden

    def _rel(self, obj: str) -> str:
        return obj[len(self.prefix) :]

    def _uploads(self, prefix: str) -> Iterator[dict[str, Any]]:
        """Unfinished multipart uploads under ``prefix``."""
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Uploads", [])

    def _abort(self, upload: dict[str, Any]) -> bool:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return True

    def recover(self, *, stale_after: timedelta = STALE_AFTER) -> list[str]:
        """Remove what dead writers left: their uncommitted objects, notes and multipart uploads.

        A committed AIP is never touched. Multipart uploads with no live writer are
        aborted once older than ``stale_after``.
        """
        removed: list[str] = []
        live: set[str] = set()
        start = f"{self.prefix}pending/"
        with self._errors("recover", start):
            for obj in list(self._list(start)):
                key = obj["Key"][len(start) :]
                if self._recover_key(key, obj["LastModified"], stale_after, removed):
                    continue
                live.add(self._aip_prefix(key))
            cutoff = datetime.now(UTC) - stale_after
            for up in list(self._uploads(self.prefix)):
                if up["Initiated"] < cutoff and not any(up["Key"].startswith(p) for p in live) and self._abort(up):
                    removed.append(f"upload {self._rel(up['Key'])}")
        return removed

    def _recover_key(self, key: str, written: datetime, stale_after: timedelta, removed: list[str]) -> bool:
        """Clean one key whose writer is dead; False when the writer may still be working."""
        pending = self._pending(key)
        try:
            note = json.loads(self.client.get_object(Bucket=self.bucket, Key=pending)["Body"].read())
        except (ClientError, ValueError):
            note = {}
        if not _writer_dead(note, written, stale_after):
            return False
        if self._head(self._marker(key)) is None:
            removed += self._purge_uncommitted(key)
        self._delete_versions(pending, exact=True)
        removed.append(f"pending/{key}")
        return True

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            if not self.exists(key):
                raise StorageError(f"没有已提交的 AIP (no committed AIP): {key}", path=key)
            locked = self._locked_versions(key)
        if locked:
            raise LockedError(
                f"对象锁定期内不得销毁, 未删除任何内容 (under Object Lock retention, nothing removed): "
                f"{len(locked)} 个版本, 例如 {locked[0]}",
                path=key,
            )
        with self._writer(key, "delete"), self._errors("delete", key):
            self._delete_versions(self._marker(key), exact=True)  # invisible first
            _gone, refused = self._delete_versions(self._aip_prefix(key))
            if refused:
                raise LockedError(f"部分对象被锁定, 未能删除 (some objects are locked): {refused[:3]}", path=key)

    def _locked_versions(self, key: str) -> list[str]:
        """Every version of the AIP (files and marker) under retention or legal hold now."""
        if self.object_lock() is not ObjectLock.enforced:
            return []
        marker = self._marker(key)
        versions = [(k, v) for k, v, dm in self._versions(self._aip_prefix(key)) if not dm]
        versions += [(k, v) for k, v, dm in self._versions(marker) if not dm and k == marker]
        return [f"{self._rel(k)}@{v}" for k, v in versions if self._is_locked(k, v)]

    def _is_locked(self, obj: str, version_id: str | None) -> bool:
        extra = {"VersionId": version_id} if version_id else {}
        now = datetime.now(UTC)
        try:
            retention = self.client.get_object_retention(Bucket=self.bucket, Key=obj, **extra)["Retention"]
            if retention.get("RetainUntilDate") and retention["RetainUntilDate"] > now:
                return True
        except ClientError as exc:
            if _error_code(exc) not in NO_RETENTION_CODES:
                raise
        try:
            hold = self.client.get_object_legal_hold(Bucket=self.bucket, Key=obj, **extra)["LegalHold"]
            return hold.get("Status") == "ON"
        except ClientError as exc:
            if _error_code(exc) not in NO_RETENTION_CODES:
                raise
        return False

    # --- repair of one file -------------------------------------------------------------

    def _require_committed(self, key: str) -> None:
        if not self.exists(key):
            raise StorageError(f"没有已提交的 AIP (no committed AIP): {key}", path=key)

    def replace_file(self, key: str, relpath: str, source: BinaryIO) -> None:
        """Put a new version of one file (修复); it inherits the AIP's retention date."""
        self._require_committed(key)
        entry = self._upload_stream(key, relpath, source, None)
        until = self._marker_retention(key)
        if until is not None:
            with self._errors("retention", f"{key}/{relpath}"):
                self._retain(self._aip_prefix(key) + entry.path, entry.version_id, until)

    def _marker_retention(self, key: str) -> datetime | None:
        if self.object_lock() is not ObjectLock.enforced:
            return None
        with self._errors("retention", key):
            try:
                found = self.client.get_object_retention(Bucket=self.bucket, Key=self._marker(key))["Retention"]
            except ClientError as exc:
                if _error_code(exc) in NO_RETENTION_CODES:
                    return None
                raise
        until = found.get("RetainUntilDate")
        return until if until and until > datetime.now(UTC) else None

    def remove_file(self, key: str, relpath: str) -> None:
        """Take one file away; in a versioned bucket this leaves a delete marker (allowed under lock)."""
        self._require_committed(key)
        obj = self._aip_prefix(key) + _check_relpath(relpath)
        with self._errors("delete", f"{key}/{relpath}"):
            if self._head(obj) is None:
                raise StorageError("文件不存在 (no such file)", path=f"{key}/{relpath}")
            self.client.delete_object(Bucket=self.bucket, Key=obj)

    # --- append-only records ------------------------------------------------------------

    def append_record(self, key: str, name: str, data: bytes) -> None:
        with self._errors("put record", f"{key}/{name}"):
            if not self._create(self._record(key, name), data):
                raise RecordExistsError(f"记录已存在 (record exists): {name}", path=key)

    def list_records(self, key: str) -> Iterator[str]:
        start = f"{self.prefix}records/{_check_key(key)}/"
        with self._errors("list", key):
            names = [o["Key"][len(start) :] for o in self._list(start)]
        yield from sorted(n for n in names if "/" not in n)

    def read_record(self, key: str, name: str) -> bytes:
        with self._errors("get record", f"{key}/{name}"):
            return self.client.get_object(Bucket=self.bucket, Key=self._record(key, name))["Body"].read()

    def record_keys(self) -> Iterator[str]:
        start = f"{self.prefix}records/"
        with self._errors("list", start):
            names = [o["Key"][len(start) :].split("/") for o in self._list(start)]
        yield from sorted({"/".join(parts[:2]) for parts in names if len(parts) == 3})

    # --- write-once retention and set-up ---------------------------------------------

    def object_lock(self) -> ObjectLock:
        """``enforced`` only when the bucket says Object Lock is enabled; never assumed."""
        if self._lock_state is None:
            self._lock_state = self._probe_lock()
        return self._lock_state

    def _probe_lock(self) -> ObjectLock:
        with self._errors("object lock", self.bucket):
            try:
                cfg = self.client.get_object_lock_configuration(Bucket=self.bucket)
            except ClientError as exc:
                if _error_code(exc) in {"NoSuchBucket", "AccessDenied"}:
                    raise
                return ObjectLock.unsupported  # no configuration, or a server without Object Lock
        enabled = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        return ObjectLock.enforced if enabled else ObjectLock.unsupported

    def ensure_bucket(self, object_lock: bool) -> ObjectLock:
        """Create the bucket if missing (with Object Lock when asked); return the lock state found."""
        with self._errors("create bucket", self.bucket):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _error_code(exc) not in NOT_FOUND_CODES | {"NoSuchBucket"}:
                    raise
                self._create_bucket(object_lock)
        self._lock_state = None
        return self.object_lock()

    def _create_bucket(self, object_lock: bool) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket}
        if object_lock:
            args["ObjectLockEnabledForBucket"] = True
        if self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client.create_bucket(**args)
