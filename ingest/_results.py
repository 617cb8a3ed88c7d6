"""What ingest reports: each item's outcome and the batch's, as ``dangan ingest --json`` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archive.errors import ExitCode
from archive.model import Finding, Verdict
from ingest.sources import SourceItem


@dataclass
class ItemResult:
    """The outcome for one item of a batch: archived, rejected, duplicate, incomplete (a copy missing),
    failed (storage failed under it) or not_attempted (the batch stopped at a storage failure before it)."""

    source: str
    status: str
    archival_code: str | None = None
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def brief(f: Finding) -> dict[str, Any]:
            return {"code": f.code, "message": f.message, **({"path": f.path} if f.path else {})}

        return {
            "source": self.source,
            "status": self.status,
            "archival_code": self.archival_code,
            "errors": [brief(f) for f in self.errors],
            "warnings": [brief(f) for f in self.warnings],
        }


@dataclass
class IngestResult:
    """The outcome of a batch."""

    items: list[ItemResult] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)  # batch-level, e.g. system junk files skipped
    errors: list[Finding] = field(default_factory=list)  # batch-level storage failures (the index, recovery)
    stopped: bool = False  # storage failed: the rest of the batch was not attempted

    def count(self, status: str) -> int:
        return sum(1 for r in self.items if r.status == status)

    @property
    def exit_code(self) -> int:
        if self.count("incomplete") or self.count("failed") or self.errors:
            return ExitCode.storage
        return ExitCode.rejected if self.count("rejected") else ExitCode.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [r.to_json() for r in self.items],
            "archived": self.count("archived"),
            "rejected": self.count("rejected"),
            "duplicate": self.count("duplicate"),
            "incomplete": self.count("incomplete"),
            "failed": self.count("failed"),
            "not_attempted": self.count("not_attempted"),
            "warnings": [{"code": f.code, "message": f.message, "path": f.path} for f in self.warnings],
            "errors": [{"code": f.code, "message": f.message, "path": f.path} for f in self.errors],
        }


def _duplicate(src: SourceItem, archival_code: str) -> ItemResult:
    warning = Finding("GD-1-8", Verdict.warning, f"内容已归档为 {archival_code}, 未重复归档 (already archived)")
    return ItemResult(src.source, "duplicate", archival_code, warnings=[warning])


def _warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.verdict is Verdict.warning]


def _rejected(src: SourceItem, findings: list[Finding]) -> ItemResult:
    return ItemResult(src.source, "rejected", errors=[f for f in findings if f.failed], warnings=_warnings(findings))
