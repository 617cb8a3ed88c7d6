"""What the transfer calls return (their results) and the errors they raise of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from archive.errors import DanganError, ExitCode, UsageError
from archive.model import CheckReport, Finding, Verdict
from archive.premis import default_agent


class NothingToTransferError(UsageError):
    """没有到期移交的档案: nothing is due for transfer (or nothing matches the selection)."""


class SourceCopyError(DanganError):
    """本库副本与目录记录不符: the primary copy of an AIP differs from the catalogue; run ``dangan audit --repair``."""

    exit_code = ExitCode.rejected


@dataclass
class PrepareResult:
    """A package written: where, what, and its identity."""

    transfer_id: str
    package: Path
    items: list[str]
    files: int
    bytes: int
    digests: dict[str, str]
    record: Path  # the sender's copy of the registers: registers/transfers/<id>/

    def to_json(self) -> dict[str, Any]:
        return {**_plain(self), "count": len(self.items)}


@dataclass
class ReceiveResult:
    """What a receive did: ``received``, ``already_received``, ``rejected`` (checks failed) or ``incomplete``."""

    package: Path
    status: str
    report: CheckReport
    transfer_id: str = ""
    digests: dict[str, str] = field(default_factory=dict)
    report_path: Path | None = None
    receipt: Path | None = None
    stored: list[str] = field(default_factory=list)
    already_held: list[str] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "rejected":
            return ExitCode.rejected
        return ExitCode.storage if self.status == "incomplete" else ExitCode.ok

    def to_json(self) -> dict[str, Any]:
        shown = [f for f in self.report.findings if f.verdict is not Verdict.passed]
        return {
            **_plain(self, skip=("report", "failures")),
            "checks": len(self.report.findings),
            "findings": [f.to_json() for f in shown],
            "failures": [f.to_json() for f in self.failures],
        }


@dataclass
class ConfirmResult:
    """A receipt confirmed: the records now 已移交, and until when the sender keeps its copies."""

    transfer_id: str
    status: str  # confirmed / already_confirmed
    items: list[str]
    keep_copy_until: date
    receiver: str

    def to_json(self) -> dict[str, Any]:
        return _plain(self)


def _user() -> str:
    """The person acting, for the registers: the OS user (as PREMIS events name their agent)."""
    return default_agent().removeprefix("dangan/")


def _plain(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for name, value in vars(obj).items():
        if name not in skip:
            out[name] = str(value) if isinstance(value, Path | date) else value
    return out
