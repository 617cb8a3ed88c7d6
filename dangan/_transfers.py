"""移交与接收 on an :class:`~dangan.api.Archive`: ``arc.transfers.prepare()``, ``.receive()``, ``.confirm()``.

Thin calls into :mod:`disposition.transfer`, with the home's settings and catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from disposition.transfer import (
    ConfirmResult,
    PrepareOptions,
    PrepareResult,
    ReceiveOptions,
    ReceiveResult,
    confirm_transfer,
    due_for_transfer,
    prepare_transfer,
    receive_transfer,
)
from retention.rules import DueReport

if TYPE_CHECKING:
    from .api import Archive


@dataclass(frozen=True)
class DueTransfer:
    """到期移交: records whose transfer year has begun."""

    report: DueReport
    as_of: date

    def to_json(self) -> dict[str, Any]:
        items = [
            {"archival_code": d.meta.archival_code, "title": d.meta.title, "fonds_code": d.meta.fonds_code,
             "year": d.meta.year, "category": d.meta.category, "retention": d.meta.retention,
             "transfer_due": d.due.isoformat()}
            for d in self.report.items
        ]  # fmt: skip
        problems = [str(p) for p in self.report.problems]
        return {"as_of": str(self.as_of), "total": len(items), "items": items, "problems": problems}


class Transfers:
    """移交 (as sender) and 接收 (as receiver) for one archive home."""

    def __init__(self, archive: Archive):
        self._arc = archive

    def due(self, as_of: date | None = None, fonds: str | None = None) -> DueTransfer:
        day = as_of or date.today()
        return DueTransfer(due_for_transfer(self._arc.settings, self._arc.catalogue, day, fonds), day)

    def prepare(
        self,
        dest: Path,
        *,
        as_of: date | None = None,
        fonds: str | None = None,
        receiver: str = "镇档案馆",
        sent_by: str = "",
    ) -> PrepareResult:
        """生成移交包 of the records due, in a new folder ``dest``."""
        options = PrepareOptions(as_of=as_of, fonds=fonds, receiver=receiver, sent_by=sent_by)
        return prepare_transfer(self._arc.settings, self._arc.catalogue, dest, options)

    def receive(
        self, package: Path, *, receiver: str = "", received_by: str = "", expected: dict[str, str] | None = None
    ) -> ReceiveResult:
        """接收移交包: every YJ check, then store all or nothing.

        ``expected``: the 包摘要 the sender gave outside the package (``{"SHA-256": hex}``, and/or SM3),
        checked as YJ-1-7; without it the report warns that the package's origin is not proven.
        """
        options = ReceiveOptions(receiver, received_by, dict(expected or {}))
        return receive_transfer(self._arc.settings, self._arc.catalogue, package, options)

    def confirm(self, receipt: Path) -> ConfirmResult:
        """确认接收回执 and mark the records transferred."""
        return confirm_transfer(self._arc.settings, self._arc.catalogue, receipt)
