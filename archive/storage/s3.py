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

Fixity on the wire (checksums checked on both ends of every upload) is in
:mod:`archive.storage._s3stream`; Object Lock retention, deletion of versions and
recovery after a dead writer in :mod:`archive.storage._s3lock`.

Credentials come from the standard AWS chain (environment, ``~/.aws``), never from
``dangan.toml``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from archive.config import S3_SETTINGS
from archive.errors import AIPExistsError, ConfigError, LockedError, RecordExistsError, StorageError, UsageError
from archive.i18n import _
from archive.storage._s3lock import LOCK_MODES, STALE_AFTER, S3Versions, _lock_until, _writer_note
from archive.storage._s3names import (
    EXISTS_CODES,
    NOT_FOUND_CODES,
    S3_FAILURES,
    check_key,
    check_name,
    check_relpath,
    error_code,
)
from archive.storage._s3stream import PART_SIZE, READ_BLOCK, S3Uploads, StoredFile, _Digest, _ObjectReader
from archive.storage.base import Location, ObjectLock
from archive.storage.s3client import UNANSWERED, ClientLimits, make_client

# PART_SIZE, _Digest and _writer_note are named here for the tests and benchmarks that import them from this module
__all__ = ["LOCK_MODES", "PART_SIZE", "STALE_AFTER", "S3Location", "StoredFile", "_Digest", "_writer_note"]

S3_KEY_MAX = 1024  # bytes of UTF-8 in an object key
KEY_RESERVE = 128  # bytes kept for an AIP key <全宗号>/<档号> (a DA/T 22 档号 with an org code is ~40)
MARKER_FORMAT = "dangan-s3-commit/1"
OPTIONS = {"endpoint_url", "bucket", "prefix", "region", "lock_mode", *(s.name for s in S3_SETTINGS)}


def _bag_files(staged: Path) -> list[tuple[str, Path]]:
    """Every regular file of a staged bag with its POSIX relative path; anything else is refused."""
    found = []
    for dirpath, dirs, files in os.walk(staged):
        for name in sorted(dirs + files):
            p = Path(dirpath, name)
            if p.is_symlink() or not (p.is_dir() or p.is_file()):
                raise StorageError(_("暂存目录中有链接或特殊文件: {path}").format(path=p))
            if p.is_file():
                found.append((p.relative_to(staged).as_posix(), p))
    return sorted(found)


class S3Location(S3Uploads, S3Versions, Location):
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
                _("dangan.toml 中不得写入 S3 密钥, 请用环境变量或 ~/.aws/credentials"),
                rule="dangan.toml [[storage]]",
            )
        if unknown:
            raise ConfigError(
                _("未知的 S3 存储选项: {names}").format(names=sorted(unknown)), rule="dangan.toml [[storage]]"
            )
        mode = str(options.get("lock_mode", LOCK_MODES[0])).upper()
        if mode not in LOCK_MODES:
            raise ConfigError(
                _("S3 存储选项 lock_mode 只能是 {modes}: {value}").format(
                    modes=" / ".join(LOCK_MODES), value=repr(options["lock_mode"])
                ),
                rule="dangan.toml [[storage]]",
            )
        missing = [k for k in ("endpoint_url", "bucket") if not options.get(k)]
        if missing:
            raise ConfigError(_("S3 存储缺少选项: {names}").format(names=missing), rule="dangan.toml [[storage]]")
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
        bucket, _sep, prefix = url.path.lstrip("/").partition("/")
        if not url.scheme or not url.netloc or not bucket:
            raise UsageError(_("S3 位置应为 s3:http://主机:端口/桶[/前缀]: {spec}").format(spec=spec))
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
        return f"{self.prefix}aips/{check_key(key)}/"

    def _marker(self, key: str) -> str:
        return f"{self.prefix}committed/{check_key(key)}"

    def _pending(self, key: str) -> str:
        return f"{self.prefix}pending/{check_key(key)}"

    def _record(self, key: str, name: str) -> str:
        return f"{self.prefix}records/{check_key(key)}/{check_name(name)}"

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
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                raise StorageError(_("S3 对象不存在 ({action})").format(action=action), path=path) from exc
            raise StorageError(
                _("S3 操作失败 ({action}): {code} {reason}").format(action=action, code=code, reason=exc), path=path
            ) from exc
        except (BotoCoreError, Boto3Error, Urllib3Error) as exc:
            message = _("无法访问 S3 存储位置 {name} ({url}; {action}): {reason}").format(
                name=self.name, url=self.endpoint_url, action=action, reason=exc
            )
            if isinstance(exc, UNANSWERED):
                self._unanswered = _("{message}; 本次运行不再访问").format(message=message)
            raise StorageError(message, path=path) from exc

    def _head(self, obj: str) -> dict[str, Any] | None:
        """The object's headers, or None when it does not exist."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=obj, ChecksumMode="ENABLED")
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

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
        obj = self._aip_prefix(key) + check_relpath(relpath)
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
            raise StorageError(_("暂存目录为空: {path}").format(path=staged), path=key)
        with self._writer(key, "commit", retain_until):
            stored = [self._upload_path(key, rel, path) for rel, path in files]
            self._seal(key, stored, retain_until)

    def commit_from(self, key: str, source: Location, source_key: str, retain_until: date | None = None) -> None:
        """Stream a committed AIP from ``source`` straight into the bucket: no local staging."""
        if not source.exists(source_key):
            raise StorageError(_("源位置 {name} 没有此 AIP").format(name=source.name), path=source_key)
        listing = list(source.list_files(source_key))
        with self._writer(key, "commit", retain_until):
            stored = []
            for relpath, size in listing:
                with source.open(source_key, relpath) as stream:
                    entry = self._upload_stream(key, relpath, stream, size)
                if entry.size != size:
                    raise StorageError(
                        _("源文件大小不符: 列出 {listed}, 读到 {read}").format(listed=size, read=entry.size),
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
            raise AIPExistsError(_("AIP 已存在: {key}").format(key=key), path=key)
        with self._errors("put pending", key):
            if not self._create(self._pending(key), _writer_note(op, retain_until)):
                raise StorageError(
                    _("另一进程正在写入此 AIP, 或上次写入中断; 请稍后重试或运行恢复"),
                    path=key,
                )
        if op == "commit" and self.exists(key):  # committed by another writer between the two checks
            self._release(key)
            raise AIPExistsError(_("AIP 已存在: {key}").format(key=key), path=key)

    def _create(self, obj: str, body: bytes, **extra: Any) -> bool:
        """Create ``obj`` only if absent; False when it is already there."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=obj, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256", **extra
            )
        except ClientError as exc:
            if error_code(exc) in EXISTS_CODES:
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
                raise AIPExistsError(_("AIP 已存在: {key}").format(key=key), path=key)

    # --- deletion and recovery ---------------------------------------------------------

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            if not self.exists(key):
                raise StorageError(_("没有已提交的 AIP: {key}").format(key=key), path=key)
            locked = self._locked_versions(key)
        if locked:
            raise LockedError(
                _("对象锁定期内不得销毁, 未删除任何内容: {count} 个版本, 例如 {example}").format(
                    count=len(locked), example=locked[0]
                ),
                path=key,
            )
        with self._writer(key, "delete"), self._errors("delete", key):
            self._delete_versions(self._marker(key), exact=True)  # invisible first
            _gone, refused = self._delete_versions(self._aip_prefix(key))
            if refused:
                raise LockedError(_("部分对象被锁定, 未能删除: {names}").format(names=refused[:3]), path=key)

    # --- repair of one file -------------------------------------------------------------

    def _require_committed(self, key: str) -> None:
        if not self.exists(key):
            raise StorageError(_("没有已提交的 AIP: {key}").format(key=key), path=key)

    def replace_file(self, key: str, relpath: str, source: BinaryIO) -> None:
        """Put a new version of one file (修复); it inherits the AIP's retention date."""
        self._require_committed(key)
        entry = self._upload_stream(key, relpath, source, None)
        until = self._marker_retention(key)
        if until is not None:
            with self._errors("retention", f"{key}/{relpath}"):
                self._retain(self._aip_prefix(key) + entry.path, entry.version_id, until)

    def remove_file(self, key: str, relpath: str) -> None:
        """Take one file away; in a versioned bucket this leaves a delete marker (allowed under lock).

        A file already gone is left so (as on a local disk): what repair wanted is true.
        """
        self._require_committed(key)
        obj = self._aip_prefix(key) + check_relpath(relpath)
        with self._errors("delete", f"{key}/{relpath}"):
            if self._head(obj) is not None:
                self.client.delete_object(Bucket=self.bucket, Key=obj)

    # --- append-only records ------------------------------------------------------------

    def append_record(self, key: str, name: str, data: bytes) -> None:
        with self._errors("put record", f"{key}/{name}"):
            if not self._create(self._record(key, name), data):
                raise RecordExistsError(_("记录已存在, 不可覆盖: {name}").format(name=name), path=key)

    def list_records(self, key: str) -> Iterator[str]:
        start = f"{self.prefix}records/{check_key(key)}/"
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
