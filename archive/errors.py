"""Typed errors with an exit code and a message for people (Chinese first, English after).

The CLI turns any :class:`DanganError` into one line on stderr and its ``exit_code``;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, stable for cron jobs and scripts."""

    ok = 0
    rejected = 1  # some item or check failed; the rest of the batch went through
    usage = 2  # bad arguments or configuration
    missing_dependency = 3
    storage = 4
    internal = 5


class DanganError(Exception):
    """Base of every error the archive reports to a person."""

    exit_code: ExitCode = ExitCode.internal

    def __init__(self, message: str, *, path: str | None = None, rule: str | None = None):
        self.message = message
        self.path = path
        self.rule = rule
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.path:
            parts.append(f"{self.path}: ")
        parts.append(self.message)
        if self.rule:
            parts.append(f" [{self.rule}]")
        return "".join(parts)


class UsageError(DanganError):
    """用法错误: bad arguments, bad configuration, missing archive home."""

    exit_code = ExitCode.usage


class ConfigError(UsageError):
    """配置错误: dangan.toml or a profile/rule file is wrong."""


class MetadataError(DanganError):
    """元数据错误: an item's metadata breaks its profile."""

    exit_code = ExitCode.rejected


class CatalogInputError(UsageError):
    """归档文件目录错误: the item list (CSV/XLSX) cannot be read."""


class UnsafeXMLError(DanganError):
    """XML 不安全或无法解析: DTDs, entities or malformed XML are refused."""

    exit_code = ExitCode.rejected


class BagError(DanganError):
    """BagIt 包错误: the bag cannot be read at all (validation findings go in a report)."""

    exit_code = ExitCode.rejected


class StorageError(DanganError):
    """存储错误: a storage location failed to read or write."""

    exit_code = ExitCode.storage


class AIPExistsError(StorageError):
    """档号对应的 AIP 已存在: the key is taken; the caller reconciles and retries."""


class RecordExistsError(StorageError):
    """记录已存在: an append-only record (a PREMIS event, a tombstone) with that name is already stored."""


class CatalogueDamagedError(StorageError):
    """目录数据库已损坏: the catalogue file is damaged or no database; ``dangan reindex`` rebuilds it."""


class LockedError(StorageError):
    """对象锁定 (WORM): the location refuses to delete or overwrite a version under retention."""


class NotFoundError(DanganError):
    """未找到: no record with that 档号."""

    exit_code = ExitCode.usage


class MissingDependencyError(DanganError):
    """缺少依赖: an external program or library is missing."""

    exit_code = ExitCode.missing_dependency


class RetentionError(DanganError):
    """保管期限错误: an item's 保管期限 does not fit the retention schedule (保管期限表)."""

    exit_code = ExitCode.rejected


class AppraisalError(RetentionError):
    """鉴定错误: an appraisal decision (鉴定意见) or a disposal hold (法律冻结) is invalid."""


class DestructionRefusedError(RetentionError):
    """销毁不予批准: a destruction batch breaks a rule.

    The error raised is the first violation found; ``details`` holds every violation,
    so the archivist can fix them all in one pass.
    """

    details: tuple[DanganError, ...] = ()


class TransferListError(DanganError):
    """移交清册错误: a received 文件目录 XML breaks its structure; ``details`` holds every problem."""

    exit_code = ExitCode.rejected
    details: tuple[DanganError, ...] = ()
