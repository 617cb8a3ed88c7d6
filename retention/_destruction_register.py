"""销毁清册 (destruction register): the permanent record of what was destroyed, by whose decision.

Columns follow common 鉴定销毁 practice (档案法 2020 art. 21 leaves the procedure to the 国家档案主管部门):
the general practice (档号, 题名, 年度, 页数, 鉴定意见) and the
会计 list (应保管期限, 已保管期限), so one register serves both. The batch header names the
鉴定小组, the 单位负责人 who approved and the 监销人; the PDF ends with signature blanks
for the 监销人, who sign after the destruction.

A transferred record whose copy here was removed (``remove_copy``) gets a row like any
other: its 鉴定意见 cell names the receiver, the 移交编号 and the receipt, and its 备注
says 已移交，副本删除, so nobody reads the row as the record itself being destroyed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from archive.model import ItemMetadata

from ._pdf import register_pdf
from ._sheet import sheet_xlsx
from .appraisal import Action, Decision
from .destruction import DestructionBatch, Role
from .periods import retention_label

DESTRUCTION_COLUMNS = ("序号", "档号", "题名", "年度", "应保管期限", "已保管期限", "页数", "鉴定意见", "备注")
DESTRUCTION_WIDTHS = (6, 26, 42, 7, 11, 11, 6, 34, 12)
COPY_REMOVED_REMARK = "已移交，副本删除"


@dataclass(frozen=True)
class DestructionRow:
    """One item of the 销毁清册."""

    archival_code: str
    title: str
    year: int
    retention: str  # 保管期限 code: Y / D30 / D10 …
    page_count: int | None
    opinion: str  # 鉴定意见 / 销毁原因
    kept_years: int | None = None  # 已保管期限, full years from the clock start to the destruction
    remarks: str = ""


@dataclass(frozen=True)
class DestructionRegister:
    """销毁清册 of one batch: header facts and rows, ready to print."""

    fonds_code: str
    fonds_name: str
    batch_id: str
    proposer: str
    panel: tuple[str, ...]
    heads: tuple[str, ...]
    witnesses: tuple[str, ...]
    rows: tuple[DestructionRow, ...]
    destroyed_on: date | None = None
    method: str = ""  # 销毁方式: 删除并覆写, 粉碎 …

    @classmethod
    def from_batch(
        cls,
        batch: DestructionBatch,
        metas: Iterable[ItemMetadata] | Mapping[str, ItemMetadata],
        *,
        destroyed_on: date | None = None,
        method: str = "",
    ) -> DestructionRegister:
        """The register of an approved batch, rows in batch order."""
        by_code = dict(metas) if isinstance(metas, Mapping) else {m.archival_code: m for m in metas}
        items = [(d, by_code[d.archival_code]) for d in batch.decisions]
        people = {role: tuple(dict.fromkeys(a.person for a in batch.approvals if a.role is role)) for role in Role}
        return cls(
            fonds_code="、".join(dict.fromkeys(m.fonds_code for _, m in items)),
            fonds_name="、".join(dict.fromkeys(m.fonds_name for _, m in items)),
            batch_id=batch.batch_id,
            proposer=batch.proposer,
            panel=people[Role.panel],
            heads=people[Role.head],
            witnesses=people[Role.witness],
            rows=tuple(
                DestructionRow(
                    archival_code=d.archival_code,
                    title=m.title,
                    year=m.year,
                    retention=m.retention,
                    page_count=m.page_count,
                    opinion=d.reason,
                    kept_years=_kept_years(m.year, destroyed_on),
                    remarks=_remarks(d, m),
                )
                for d, m in items
            ),
            destroyed_on=destroyed_on,
            method=method,
        )

    def header_lines(self) -> list[str]:
        pages = sum(r.page_count or 0 for r in self.rows)
        return [
            f"全宗号：{self.fonds_code}　　立档单位：{self.fonds_name}",
            f"批次：{self.batch_id}　　提出人：{self.proposer}　　共 {len(self.rows)} 件 {pages} 页",
            f"鉴定小组：{'、'.join(self.panel)}　　单位负责人：{'、'.join(self.heads)}",
            f"监销人：{'、'.join(self.witnesses)}　　销毁日期：{_day(self.destroyed_on)}　　销毁方式：{self.method}",
        ]

    def table_rows(self) -> list[list[object]]:
        return [
            [
                n,
                r.archival_code,
                r.title,
                r.year,
                retention_label(r.retention),
                "" if r.kept_years is None else f"{r.kept_years}年",
                "" if r.page_count is None else r.page_count,
                r.opinion,
                r.remarks,
            ]
            for n, r in enumerate(self.rows, 1)
        ]


def _remarks(decision: Decision, meta: ItemMetadata) -> str:
    if decision.action is not Action.remove_copy:
        return meta.remarks
    return "；".join(r for r in (COPY_REMOVED_REMARK, meta.remarks) if r)


def _kept_years(year: int, destroyed_on: date | None) -> int | None:
    if destroyed_on is None:
        return None
    # The clock starts on 1 January after 年度, so full years kept are whole calendar years.
    return max(0, destroyed_on.year - (year + 1))


def _day(value: date | None) -> str:
    return value.isoformat() if value else "＿＿＿＿年＿＿月＿＿日"


def destruction_register_xlsx(register: DestructionRegister) -> bytes:
    """The 销毁清册 as XLSX bytes (A4 landscape, heading row repeated when printed)."""
    return sheet_xlsx(
        "销毁清册",
        DESTRUCTION_COLUMNS,
        DESTRUCTION_WIDTHS,
        register.table_rows(),
        header_lines=register.header_lines(),
    )


def destruction_register_pdf(
    register: DestructionRegister, *, font: Path | None = None, created: datetime | None = None
) -> bytes:
    """The 销毁清册 as PDF bytes with the CJK font embedded and signature blanks at the end."""
    blank = "＿＿＿＿＿＿＿＿"
    signatures = [
        *(f"监销人（签字）：{w}　{blank}　　日期：{blank}" for w in register.witnesses),
        f"鉴定小组负责人（签字）：{blank}　　单位负责人（签字）：{blank}　　日期：{blank}",
    ]
    return register_pdf(
        "销毁清册",
        register.header_lines(),
        DESTRUCTION_COLUMNS,
        DESTRUCTION_WIDTHS,
        register.table_rows(),
        footer_lines=signatures,
        font=font,
        created=created,
    )
