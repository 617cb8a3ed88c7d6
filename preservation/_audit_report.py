"""What one audit run is asked to cover (``dangan audit`` flags) and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from archive.copycheck import Problem, ProblemKind
from archive.errors import ExitCode


@dataclass(frozen=True)
class AuditOptions:
    """What one run covers: ``dangan audit`` flags."""

    max_seconds: float | None = None
    max_bytes: int | None = None
    all: bool = False
    location: str | None = None
    repair: bool = False
    algorithms: tuple[str, ...] | None = None  # None: by the cycles in dangan.toml


@dataclass
class AuditReport:
    """What a run checked and found."""

    checked_aips: int = 0
    checked_files: int = 0
    checked_bytes: int = 0
    checked_copies: int = 0
    problems: list[Problem] = field(default_factory=list)
    remaining: int = 0  # due copies left for the next run (bounds reached, location down)
    object_lock: dict[str, str] = field(default_factory=dict)
    no_good_copy: list[str] = field(default_factory=list)  # 档号 with damage and nothing to repair from
    # "档号 @ location: why" where writing the repair failed (a full disk); unrepaired, so exit 1 as before
    repair_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unrepaired(self) -> list[Problem]:
        return [p for p in self.problems if not p.repaired]

    @property
    def exit_code(self) -> int:
        if any(p.kind is ProblemKind.unreadable for p in self.unrepaired):
            return ExitCode.storage
        return ExitCode.rejected if self.unrepaired else ExitCode.ok

    def to_json(self) -> dict[str, object]:
        return {
            "checked_aips": self.checked_aips,
            "checked_files": self.checked_files,
            "checked_bytes": self.checked_bytes,
            "problems": [p.to_json() for p in self.problems],
            "checked_copies": self.checked_copies,
            "remaining_due": self.remaining,
            "object_lock": self.object_lock,
            "no_good_copy": self.no_good_copy,
            "repair_failed": self.repair_failed,
        }
