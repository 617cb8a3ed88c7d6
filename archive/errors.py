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


class NotFoundError(DanganError):
    """未找到: no record with that 档号."""

    exit_code = ExitCode.usage


class MissingDependencyError(DanganError):
    """缺少依赖: an external program or library is missing."""

    exit_code = ExitCode.missing_dependency
