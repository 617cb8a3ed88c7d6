"""What the :class:`~dangan.api.Archive` methods return: plain data classes.

Each has ``to_json()``, the JSON-ready form that ``--json`` prints and the web API sends;
front ends render the fields, never recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.errors import ExitCode
from archive.reindex import ReadProblem
from archive.validate import ValidationResult
from search import SearchResult


@dataclass(frozen=True)
class RecordView:
    """一件档案: its catalogue entry, retention dates, files, copies and PREMIS events."""

    item: dict[str, Any]
    dates: dict[str, Any]
    files: list[dict[str, Any]]
    copies: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item, "dates": self.dates, "files": self.files, "copies": self.copies,
                "events": self.events}  # fmt: skip


@dataclass(frozen=True)
class RecordList:
    """档案列表: catalogue entries matching a filter, in 档号 order."""

    items: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"total": len(self.items), "items": self.items}


@dataclass(frozen=True)
class Validation:
    """校验结果 for one or more bags or 档号."""

    reports: list[ValidationResult]

    @property
    def exit_code(self) -> int:
        return ExitCode.ok if all(r.valid for r in self.reports) else ExitCode.rejected

    def to_json(self) -> dict[str, Any]:
        return {
            "bags": [r.to_json() for r in self.reports],
            "valid": sum(r.valid for r in self.reports),
            "invalid": sum(not r.valid for r in self.reports),
        }


@dataclass(frozen=True)
class Export:
    """导出的 DIP: the files written, and copies passed over because they failed a check."""

    dest: Path
    written: list[Path]
    passed_over: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dest": str(self.dest), "written": [str(p) for p in self.written], "passed_over": self.passed_over}


@dataclass(frozen=True)
class CatalogFile:
    """归档文件目录 written to a file."""

    path: Path
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "count": self.count}


@dataclass(frozen=True)
class Reindex:
    """重建: records taken back from storage, records indexed, and copies passed over or left out."""

    records: int
    indexed: int
    problems: list[ReadProblem]

    @property
    def exit_code(self) -> int:
        return ExitCode.storage if any(p.left_out for p in self.problems) else ExitCode.ok

    def to_json(self) -> dict[str, Any]:
        problems = [{"message": str(p), "left_out": p.left_out} for p in self.problems]
        return {"records": self.records, "indexed": self.indexed, "problems": problems}


@dataclass(frozen=True)
class Found:
    """检索结果, and whether the index had to be refilled from the catalogue first."""

    result: SearchResult
    page: int
    refilled: bool = False
    damaged_copy: Path | None = None  # where a damaged index file was set aside

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()
