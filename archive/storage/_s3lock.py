"""对象锁定与版本 (Object Lock and versions) of an S3 location: retention, deletion of
versions, and recovery after a dead writer.

Files go up without retention, so a crashed upload can be cleaned; after verification each
version gets retention in the location's mode, and the commit marker is written with the same
retention, so an AIP is never visible unprotected. A writer that dies after locking its files
but before its marker leaves versions nobody can delete until their date; recovery hides them
behind delete markers, so the key can be committed afresh, and reports them.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psutil
from botocore.exceptions import ClientError

from archive.storage._s3names import NO_RETENTION_CODES, NOT_FOUND_CODES, error_code
from archive.storage.base import ObjectLock

STALE_AFTER = timedelta(hours=24)  # a writer on another host silent this long is taken as dead
#: Object Lock modes: GOVERNANCE can be lifted by an identity allowed to bypass it (an
#: administrator), COMPLIANCE by nobody before its date; chosen per location (``lock_mode``).
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


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


class S3Versions:
    """Versions and retention: the part of :class:`~archive.storage.s3.S3Location` that locks, deletes and recovers."""

    client: Any
    bucket: str
    prefix: str
    region: str
    lock_mode: str | None
    _lock_state: ObjectLock | None

    def _versions(self, prefix: str) -> Iterator[tuple[str, str | None, bool]]:
        """(object name, version id, is a delete marker) for every version under ``prefix``."""
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for v in page.get("Versions", []):
                yield v["Key"], v.get("VersionId"), False
            for v in page.get("DeleteMarkers", []):
                yield v["Key"], v.get("VersionId"), True

    def _retain(self, obj: str, version_id: str | None, until: datetime) -> None:
        extra = {"VersionId": version_id} if version_id else {}
        self.client.put_object_retention(
            Bucket=self.bucket, Key=obj, Retention={"Mode": self.lock_mode, "RetainUntilDate": until}, **extra
        )

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
            if error_code(exc) not in NO_RETENTION_CODES:
                raise
        try:
            hold = self.client.get_object_legal_hold(Bucket=self.bucket, Key=obj, **extra)["LegalHold"]
            return hold.get("Status") == "ON"
        except ClientError as exc:
            if error_code(exc) not in NO_RETENTION_CODES:
                raise
        return False

    def _marker_retention(self, key: str) -> datetime | None:
        if self.object_lock() is not ObjectLock.enforced:
            return None
        with self._errors("retention", key):
            try:
                found = self.client.get_object_retention(Bucket=self.bucket, Key=self._marker(key))["Retention"]
            except ClientError as exc:
                if error_code(exc) in NO_RETENTION_CODES:
                    return None
                raise
        until = found.get("RetainUntilDate")
        return until if until and until > datetime.now(UTC) else None

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
                if error_code(exc) in {"NoSuchBucket", "AccessDenied"}:
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
                if error_code(exc) not in NOT_FOUND_CODES | {"NoSuchBucket"}:
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
