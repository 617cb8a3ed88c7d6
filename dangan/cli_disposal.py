"""``dangan retention …`` and ``dangan destroy …``: 鉴定、冻结与销毁 on the command line.

Each command parses, calls one method of ``Archive.disposal`` and prints Chinese text or,
with ``--json``, the result's ``to_json()``. :mod:`dangan.cli` loads the two groups when one
is named.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import Any

import click
from rich.markup import escape
from rich.table import Column, Table

from archive.i18n import _
from retention.appraisal import Action
from retention.destruction import Role

from ._cli_base import AS_JSON, AS_OF, BY, ITEM_STATES, emit_json, err, finish, on_archive, out
from .api import Archive
from .clock import shown


def folded(name: str) -> Column:
    """A column of Chinese text that folds onto more lines rather than ending in "…"."""
    return Column(name, overflow="fold")


@click.group(name="retention", help=_("鉴定与冻结: 期满档案的鉴定, 销毁冻结"))
def retention_group() -> None:
    """Appraisal of expired records, and disposal holds."""


@click.group(name="destroy", help=_("销毁批次: 提出、签署、执行、查看"))
def destroy_group() -> None:
    """Destruction batches: propose, approve, run, show."""


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


# --- retention -----------------------------------------------------------------------------


def _kind(kind: str) -> str:
    """What made an item due."""
    return {"expired": _("期满"), "transferred_copy": _("已移交副本")}[kind]


@retention_group.command(name="due", help=_("到期鉴定: 保管期限已满的档案, 及保留期满的已移交副本"))
@AS_OF
@AS_JSON
@on_archive
def due_cmd(arc: Archive, as_of: datetime | None, as_json: bool) -> None:
    """Expired records, and transferred copies due for removal."""
    data = arc.disposal.due(_day(as_of)).to_json()
    if as_json:
        emit_json(data)
    else:
        fixed = [Column(name, no_wrap=True) for name in ("年度", "保管期限", "类别", "到期日", "冻结")]
        table = Table(Column("档号", no_wrap=True), folded("题名"), *fixed, folded("鉴定意见"))
        for d in data["items"]:
            decision = Action(d["decision"]["action"]).label if d["decision"] else ""
            table.add_row(
                d["archival_code"], d["title"], str(d["year"]), d["retention"], _kind(d["kind"]), d["due"],
                _("是") if d["held"] else "", decision,
            )  # fmt: skip
        out.print(table)
        copies = sum(d["kind"] == "transferred_copy" for d in data["items"])
        summary = _(
            "截至 {date} 到期鉴定 {expired} 件, 已移交副本可删除 {copies} 件; 用 dangan destroy propose 提出销毁"
        )
        out.print(summary.format(date=data["as_of"], expired=data["total"] - copies, copies=copies))
        for p in data["problems"]:
            problem = escape(f"{p['path']}: {p['message']}")
            err.print(f"[yellow]{_('保管期限不符')}[/yellow] {problem}", soft_wrap=True)
    sys.exit(1 if data["problems"] else 0)


@retention_group.command(help=_("鉴定意见: 销毁、延长保管期限或改为永久"))
@click.argument("codes", nargs=-1, required=True)
@click.option("--action", required=True, type=click.Choice(["destroy", "extend", "permanent"]), help=_("鉴定结论"))
@click.option("--period", help=_("延长后的保管期限, 如 D30 (仅用于 --action extend)"))
@click.option("--reason", required=True, help=_("鉴定理由"))
@BY
@AS_JSON
@on_archive
def decide(
    arc: Archive, codes: tuple[str, ...], action: str, period: str | None, reason: str, by: str, as_json: bool
) -> None:
    """Record an appraisal decision: destroy, extend or make permanent."""
    made = arc.disposal.decide(codes, action, reason, by, period=period)
    if as_json:
        emit_json(made.to_json())
        return
    for d in made.decisions:
        extra = f"（{d.new_period}）" if d.new_period else ""
        recorded = _("已记录鉴定意见 {code}: {action}{extra}, 鉴定人 {person}")
        out.print(recorded.format(code=d.archival_code, action=d.action.label, extra=extra, person=d.decided_by))


@retention_group.command(help=_("冻结 (法律冻结): 一件档案或一类档案在解除前不得销毁"))
@click.option("--code", help=_("冻结一件档案: 其档号"))
@click.option("--fonds", help=_("全宗号 (默认为档案库的第一个全宗)"))
@click.option("--category", help=_("门类代码"))
@click.option("--retention", help=_("保管期限代码"))
@click.option("--year", help=_("年度, 如 2023 或 2015-2023"))
@click.option("--reason", required=True, help=_("冻结理由, 如诉讼、审计"))
@BY
@AS_JSON
@on_archive
def hold(
    arc: Archive,
    code: str | None,
    fonds: str | None,
    category: str | None,
    retention: str | None,
    year: str | None,
    reason: str,
    by: str,
    as_json: bool,
) -> None:
    """Place a disposal hold on one record or a class of records."""
    placed = arc.disposal.hold(
        reason=reason, by=by, code=code, fonds=fonds, category=category, retention=retention, year=year
    )
    if as_json:
        emit_json(placed.to_json())
    else:
        out.print(_("已冻结 {hold}: {scope}").format(hold=placed.hold.hold_id, scope=_scope(placed.hold)), markup=False)


def _scope(h: Any) -> str:
    if h.archival_code:
        return h.archival_code
    parts = [h.fonds_code, h.category, h.retention]
    if h.year_from is not None or h.year_to is not None:
        parts.append(f"{h.year_from or ''}-{h.year_to or ''}")
    return " ".join(p for p in parts if p)


@retention_group.command(help=_("解除冻结"))
@click.argument("hold_id")
@BY
@on_archive
def lift(arc: Archive, hold_id: str, by: str) -> None:
    """Lift a disposal hold."""
    lifted = arc.disposal.lift(hold_id, by)
    out.print(
        _("已解除冻结 {hold}, 解除人 {person}").format(hold=lifted.hold_id, person=lifted.lifted_by), markup=False
    )


@retention_group.command(help=_("列出冻结, 含生效与已解除的"))
@AS_JSON
@on_archive
def holds(arc: Archive, as_json: bool) -> None:
    """List disposal holds, in force and lifted."""
    found = arc.disposal.holds()
    if as_json:
        emit_json(found.to_json())
        return
    zone = arc.settings.display["timezone"]
    table = Table(Column("编号", no_wrap=True), folded("范围"), folded("理由"), "冻结人", "冻结时间", folded("状态"))
    for h in found.holds:
        state = _("生效") if h.active else _("已解除 ({person})").format(person=h.lifted_by)
        table.add_row(h.hold_id, _scope(h), h.reason, h.placed_by, shown(h.placed_at, zone), state)
    out.print(table)


# --- destroy -------------------------------------------------------------------------------


@destroy_group.command(help=_("提出销毁批次: 鉴定为销毁的档案, 或保留期满的已移交副本"))
@click.argument("codes", nargs=-1, required=True)
@BY
@AS_JSON
@on_archive
def propose(arc: Archive, codes: tuple[str, ...], by: str, as_json: bool) -> None:
    """Propose a batch: items decided for destruction, or transferred copies whose keep period has ended."""
    proposal = arc.disposal.propose(codes, by)
    if as_json:
        emit_json(proposal.to_json())
        return
    batch = proposal.batch
    proposed = _("已提出销毁批次 {batch}: {count} 件, 提出人 {person}")
    out.print(proposed.format(batch=batch.batch_id, count=len(batch.decisions), person=batch.proposer), markup=False)
    out.print(_("须经鉴定小组、单位负责人和两位监销人签署后方可执行"))


@destroy_group.command(help=_("签署销毁批次"))
@click.argument("batch_id")
@BY
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help=_("审批角色"))
@on_archive
def approve(arc: Archive, batch_id: str, by: str, role: str) -> None:
    """Approve a batch in one role."""
    batch = arc.disposal.approve(batch_id, by, role)
    approved = _("{person} 已以{role}身份签署批次 {batch}, 共 {count} 人签署")
    out.print(approved.format(person=by, role=role, batch=batch_id, count=len(batch.approvals)), markup=False)


@destroy_group.command(help=_("执行销毁: 从全部存储位置删除, 保留墓碑, 生成并归档销毁清册"))
@click.argument("batch_id")
@AS_JSON
@on_archive
def run(arc: Archive, batch_id: str, as_json: bool) -> None:
    """Carry out an approved batch."""
    finish(arc.disposal.run(batch_id), as_json, _print_run)


def _print_run(result: Any) -> None:
    for i in result.items:
        state = f"[green]{_('已销毁')}[/green]" if i.destroyed else f"[red]{_('未销毁')}[/red]"
        out.print(f"{state}  {i.archival_code}  {escape(i.message)}".rstrip(), soft_wrap=True)
    for w in result.warnings:
        out.print(f"[yellow]{_('提示')}[/yellow] {escape(str(w))}", soft_wrap=True)
    if result.register_code:
        out.print(_("销毁清册已归档为 {code} (永久)").format(code=result.register_code), markup=False)
        for f in result.register_files:
            out.print(f"  {f}", markup=False)


@destroy_group.command(help=_("查看销毁批次: 档案、签署与尚待解决的问题"))
@click.argument("batch_id")
@AS_JSON
@on_archive
def show(arc: Archive, batch_id: str, as_json: bool) -> None:
    """Show a batch: its records, approvals and what still blocks it."""
    data = arc.disposal.batch(batch_id).to_json()
    if as_json:
        emit_json(data)
        return
    zone = arc.settings.display["timezone"]
    head = _("批次 {batch}  提出人 {person}  {time}")
    out.print(
        head.format(batch=data["batch_id"], person=data["proposer"], time=shown(data["proposed_at"], zone)),
        markup=False,
    )
    for i in data["items"]:
        state = ITEM_STATES.get(i.get("status", ""), i.get("status", _("不在目录")))
        out.print(f"  {i['archival_code']}  {escape(i.get('title', ''))}  {state}  {escape(i['decision']['reason'])}")
    out.print(_("签署:"))
    for a in data["approvals"]:
        valid = "" if a["valid"] else f"  [red]{_('签署内容已变更, 无效')}[/red]"
        out.print(f"  {a['role']}  {a['person']}  {shown(a['time'], zone)}{valid}")
    if data["run"].get("complete"):
        register = _("销毁清册 {code}").format(code=data["run"].get("register_code"))
        out.print(f"[green]{_('已执行完毕')}[/green], {escape(register)}")
    for problem in data["blocking"]:
        out.print(f"[yellow]{_('尚不能执行')}[/yellow] {escape(problem)}", soft_wrap=True)
