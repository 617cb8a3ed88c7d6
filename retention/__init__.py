"""保管期限、鉴定、销毁与移交 (retention, appraisal, destruction, transfer): the pure domain layer.

No storage, catalogue or CLI here: callers pass plain metadata and statuses in, and get
dates, checked decisions and register bytes back.

- :mod:`retention.rules`: the 保管期限表 as data (``schedule.toml``) and each record's dates.
- :mod:`retention.appraisal`: 鉴定 decisions and disposal holds (法律冻结).
- :mod:`retention.destruction`: destruction batches and their approvals.
- :mod:`retention.registers`: 销毁清册, 移交清册 (文件目录.XML), 交接登记表, 说明文件.

Example:
    >>> schedule = load_schedule()
    >>> schedule.dates(meta).appraisal_due  # doctest: +SKIP
"""

from __future__ import annotations

from .appraisal import Action, Decision, Hold, check_decision, holds_on, is_held, latest_decisions
from .destruction import Approval, ApprovalPolicy, DestructionBatch, Role, batch_problems, check_approved
from .periods import PERMANENT, is_longer, period_years, retention_label
from .rules import (
    CountsFrom,
    Due,
    DueReport,
    RecordDates,
    RetentionRule,
    Schedule,
    Status,
    home_schedule,
    load_schedule,
)

__all__ = [
    "PERMANENT",
    "Action",
    "AipDigest",
    "Approval",
    "ApprovalPolicy",
    "CountsFrom",
    "Decision",
    "DestructionBatch",
    "DestructionRegister",
    "DestructionRow",
    "Due",
    "DueReport",
    "Handover",
    "Hold",
    "RecordDates",
    "RetentionRule",
    "Role",
    "Schedule",
    "Status",
    "TransferRow",
    "batch_problems",
    "check_approved",
    "check_decision",
    "destruction_register_pdf",
    "destruction_register_xlsx",
    "handover_xml",
    "holds_on",
    "is_held",
    "is_longer",
    "latest_decisions",
    "home_schedule",
    "load_schedule",
    "period_years",
    "read_transfer_list",
    "retention_label",
    "transfer_list_xlsx",
    "transfer_list_xml",
    "transfer_readme",
    "transfer_rows",
]

#: names of :mod:`retention.registers`, imported on first use: the registers need openpyxl and
#: fpdf2, which commands that never write a register (ingest, audit, search) should not load
_REGISTERS = frozenset({
    "AipDigest", "DestructionRegister", "DestructionRow", "Handover", "TransferRow", "destruction_register_pdf",
    "destruction_register_xlsx", "handover_xml", "read_transfer_list", "transfer_list_xlsx", "transfer_list_xml",
    "transfer_readme", "transfer_rows",
})  # fmt: skip


def __getattr__(name: str) -> object:
    if name in _REGISTERS:
        from . import registers

        return getattr(registers, name)
    raise AttributeError(f"module 'retention' has no attribute {name!r}")
