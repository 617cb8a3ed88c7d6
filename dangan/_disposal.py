"""鉴定、冻结与销毁 on an :class:`~dangan.api.Archive`: ``arc.disposal.due()``, ``.decide()``, ….

Each method calls one function of :mod:`disposition.disposal` with the home's settings and
catalogue, and returns what it returns or a small view with ``to_json()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from archive.errors import UsageError
from archive.i18n import _
from disposition import disposal
from retention.appraisal import Decision, Hold
from retention.destruction import DestructionBatch
from retention.rules import DueReport

from . import parsing

if TYPE_CHECKING:
    from .api import Archive


@dataclass(frozen=True)
class DueAppraisal:
    """到期鉴定: expired records and transferred copies whose keep period has ended."""

    report: DueReport
    as_of: date

    def to_json(self) -> dict[str, Any]:
        return disposal.due_to_dict(self.report, self.as_of)


@dataclass(frozen=True)
class Decisions:
    """鉴定意见 just recorded."""

    decisions: list[Decision]

    def to_json(self) -> dict[str, Any]:
        return {"decisions": [disposal.decision_to_dict(d) for d in self.decisions]}


@dataclass(frozen=True)
class HoldView:
    """One disposal hold (冻结), in force or lifted."""

    hold: Hold

    def to_json(self) -> dict[str, Any]:
        return disposal.hold_to_dict(self.hold)


@dataclass(frozen=True)
class Holds:
    """Every disposal hold, in force or lifted."""

    holds: list[Hold]

    def to_json(self) -> dict[str, Any]:
        return {"holds": [{**disposal.hold_to_dict(h), "active": h.active} for h in self.holds]}


@dataclass(frozen=True)
class Proposal:
    """A destruction batch just proposed."""

    batch: DestructionBatch

    def to_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch.batch_id, "archival_codes": list(self.batch.archival_codes)}


@dataclass(frozen=True)
class BatchView:
    """One destruction batch: its items, signatures, run state and what still blocks it."""

    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


class Disposal:
    """鉴定与销毁 of one archive home."""

    def __init__(self, archive: Archive):
        self._arc = archive

    def due(self, as_of: date | None = None) -> DueAppraisal:
        """到期鉴定 as of ``as_of`` (today)."""
        day = as_of or date.today()
        return DueAppraisal(disposal.due(self._arc.settings, self._arc.catalogue, day), day)

    def decide(
        self, codes: Iterable[str], action: str, reason: str, by: str, *, period: str | None = None
    ) -> Decisions:
        """鉴定意见: destroy, extend (to ``period``) or make permanent."""
        made = disposal.decide(self._arc.settings, self._arc.catalogue, tuple(codes), action, reason, by, period=period)
        return Decisions(list(made))

    def hold(self, *, reason: str, by: str, year: str | None = None, **scope: str | None) -> HoldView:
        """冻结 one record (``code``) or a class (``fonds``, ``category``, ``retention``, ``year`` as typed);
        a class without 全宗 is the home's first fonds."""
        year_from, year_to = parsing.year_range(year)
        if not scope.get("code") and not any((*scope.values(), year)):
            raise UsageError(_("请给出 --code 或类别 (--fonds/--category/--retention/--year)"))
        if not scope.get("code"):
            scope["fonds"] = scope.get("fonds") or self._arc.settings.fonds[0].code
        placed = disposal.place_hold(
            self._arc.settings, self._arc.catalogue, reason=reason, by=by, year_from=year_from, year_to=year_to,
            **scope,
        )  # fmt: skip
        return HoldView(placed)

    def lift(self, hold_id: str, by: str) -> Hold:
        return disposal.lift_hold(self._arc.settings, hold_id, by)

    def holds(self) -> Holds:
        return Holds(disposal.list_holds(self._arc.settings))

    def propose(self, codes: Iterable[str], by: str) -> Proposal:
        return Proposal(disposal.propose(self._arc.settings, self._arc.catalogue, tuple(codes), by))

    def approve(self, batch_id: str, by: str, role: str) -> DestructionBatch:
        return disposal.approve(self._arc.settings, batch_id, by, role)

    def run(self, batch_id: str) -> disposal.RunResult:
        """执行销毁 of an approved batch."""
        return disposal.run_batch(self._arc.settings, self._arc.catalogue, batch_id)

    def batch(self, batch_id: str) -> BatchView:
        return BatchView(disposal.batch_report(self._arc.settings, self._arc.catalogue, batch_id))
