"""Object names and error codes shared by the S3 location's modules."""

from __future__ import annotations

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from archive.errors import StorageError
from archive.i18n import _

NO_RETENTION_CODES = {
    "NoSuchObjectLockConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "NoSuchObjectLegalHold",
    "NoSuchKey",
}
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
EXISTS_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
S3_FAILURES = (ClientError, BotoCoreError, Boto3Error, Urllib3Error)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def check_key(key: str) -> str:
    parts = key.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise StorageError(_("非法的 AIP 键: {key}").format(key=repr(key)))
    return key


def check_relpath(relpath: str) -> str:
    parts = relpath.split("/")
    if not relpath or any(p in ("", ".", "..") for p in parts) or "\\" in relpath:
        raise StorageError(_("非法的包内路径: {path}").format(path=repr(relpath)))
    return relpath


def check_name(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise StorageError(_("非法的记录名: {name}").format(name=repr(name)))
    return name
