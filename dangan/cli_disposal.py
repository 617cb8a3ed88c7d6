"""``dangan retention …`` and ``dangan destroy …``: 鉴定、冻结与销毁 on the command line.

Each command parses, calls one method of ``Archive.disposal`` and prints Chinese text or,
with ``--json``, the result's ``to_json()``. :mod:`dangan.cli` loads the two groups when one
is named.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any

import click
from rich.markup import escape
from rich.table import Column, Table

from archive.errors import DestructionRefusedError
from retention.appraisal import Action
from retention.destruction import Role

from ._cli_base import AS_JSON, AS_OF, BY, ITEM_STATES, emit_json, err, finish, on_archive, out
from .api import Archive
from .clock import shown


def folded(name: str) -> Column:
    """A column of Chinese text that folds onto more lines rather than ending in "…"."""
    return Column(name, overflow="fold")


@click.group(name="retention")
def retention_group() -> None:
    """鉴定与冻结 (appraisal of expired records, disposal holds)."""


@click.group(name="destroy")
def destroy_group() -> None:
    """销毁 (destruction batches: propose, approve, run, show)."""


def shows_every_problem(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A refused batch carries all its problems: print every one (handles_errors would print the first)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DestructionRefusedError as exc:
            for problem in exc.details or (exc,):
                err.print(f"[red]错误[/red] {escape(str(problem))}", soft_wrap=True)
            sys.exit(int(exc.exit_code))

    return wrapper


def on_batch(fn: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`on_archive` for the destroy commands, printing every problem of a refused batch."""
    return on_archive(shows_every_problem(fn))


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


# --- retention -----------------------------------------------------------------------------


_KIND = {"expired": "期满", "transferred_copy": "已移交副本"}  # what made an item due


@retention_group.command(name="due")
@AS_OF
@AS_JSON
@on_archive
def due_cmd(arc: Archive, as_of: datetime | None, as_json: bool) -> None:
    """到期鉴定: 保管期限已满的档案, 及保留期满的已移交副本 (expired records; transferred copies due for removal)."""
    data = arc.disposal.due(_day(as_of)).to_json()
    if as_json:
        emit_json(data)
    else:
        fixed = [Column(name, no_wrap=True) for name in ("年度", "保管期限", "类别", "到期日", "冻结")]
        table = Table(Column("档号", no_wrap=True), folded("题名"), *fixed, folded("鉴定意见"))
        for d in data["items"]:
            decision = Action(d["decision"]["action"]).label if d["decision"] else ""
            table.add_row(
                d["archival_code"], d["title"], str(d["year"]), d["retention"], _KIND[d["kind"]], d["due"],
                "是" if d["held"] else "", decision,
            )  # fmt: skip
        out.print(table)
        copies = sum(d["kind"] == "transferred_copy" for d in data["items"])
        out.print(
            f"截至 {data['as_of']} 到期鉴定 {data['total'] - copies} 件, 已移交副本可删除 {copies} 件 "
            "(expired items; transferred copies whose keep period has ended: propose them with destroy propose)"
        )
        for p in data["problems"]:
            problem = escape(f"{p['path']}: {p['message']}")
            err.print(f"[yellow]保管期限不符[/yellow] {problem}", soft_wrap=True)
    sys.exit(1 if data["problems"] else 0)


@retention_group.command()
@click.argument("codes", nargs=-1, required=True)
@click.option("--action", required=True, type=click.Choice(["destroy", "extend", "permanent"]), help="鉴定结论")
@click.option("--period", help="延长后的保管期限, 如 D30 (only with --action extend)")
@click.option("--reason", required=True, help="鉴定理由")
@BY
@AS_JSON
@on_archive
def decide(
    arc: Archive, codes: tuple[str, ...], action: str, period: str | None, reason: str, by: str, as_json: bool
) -> None:
    """鉴定意见: 销毁、延长保管期限或改为永久 (record an appraisal decision)."""
    made = arc.disposal.decide(codes, action, reason, by, period=period)
    if as_json:
        emit_json(made.to_json())
        return
    for d in made.decisions:
        extra = f"（{d.new_period}）" if d.new_period else ""
        out.print(f"已记录鉴定意见 {d.archival_code}: {d.action.label}{extra}, 鉴定人 {d.decided_by} (recorded)")


@retention_group.command()
@click.option("--code", help="冻结一件档案的档号 (one record)")
@click.option("--fonds", help="全宗号 (a class; default: the home's first fonds)")
@click.option("--category", help="门类代码")
@click.option("--retention", help="保管期限代码")
@click.option("--year", help="年度, 如 2015 或 2010-2015")
@click.option("--reason", required=True, help="冻结理由, 如诉讼、审计")
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
    """冻结 (法律冻结): 一件档案或一类档案在解除前不得销毁 (place a disposal hold)."""
    placed = arc.disposal.hold(
        reason=reason, by=by, code=code, fonds=fonds, category=category, retention=retention, year=year
    )
    if as_json:
        emit_json(placed.to_json())
    else:
        out.print(f"已冻结 {placed.hold.hold_id}: {_scope(placed.hold)} (hold placed)")


def _scope(h: Any) -> str:
    if h.archival_code:
        return h.archival_code
    parts = [h.fonds_code, h.category, h.retention]
    if h.year_from is not None or h.year_to is not None:
        parts.append(f"{h.year_from or ''}-{h.year_to or ''}")
    return " ".join(p for p in parts if p)


@retention_group.command()
@click.argument("hold_id")
@BY
@on_archive
def lift(arc: Archive, hold_id: str, by: str) -> None:
    """解除冻结 (lift a disposal hold)."""
    lifted = arc.disposal.lift(hold_id, by)
    out.print(f"已解除冻结 {lifted.hold_id}, 解除人 {lifted.lifted_by} (hold lifted)")


@retention_group.command()
@AS_JSON
@on_archive
def holds(arc: Archive, as_json: bool) -> None:
    """列出冻结 (list disposal holds, in force and lifted)."""
    found = arc.disposal.holds()
    if as_json:
        emit_json(found.to_json())
        return
    zone = arc.settings.display["timezone"]
    table = Table(Column("编号", no_wrap=True), folded("范围"), folded("理由"), "冻结人", "冻结时间", folded("状态"))
    for h in found.holds:
        state = "生效" if h.active else f"已解除 ({h.lifted_by})"
        table.add_row(h.hold_id, _scope(h), h.reason, h.placed_by, shown(h.placed_at, zone), state)
    out.print(table)


# --- destroy -------------------------------------------------------------------------------


@destroy_group.command()
@click.argument("codes", nargs=-1, required=True)
@BY
@AS_JSON
@on_batch
def propose(arc: Archive, codes: tuple[str, ...], by: str, as_json: bool) -> None:
    """提出销毁批次: 鉴定为销毁的档案, 或保留期满的已移交副本 (propose a batch: items decided for destruction,
    or transferred copies whose keep period has ended)."""
    proposal = arc.disposal.propose(codes, by)
    if as_json:
        emit_json(proposal.to_json())
        return
    batch = proposal.batch
    out.print(f"已提出销毁批次 {batch.batch_id}: {len(batch.decisions)} 件, 提出人 {batch.proposer} (batch proposed)")
    out.print("须经鉴定小组、单位负责人和两位监销人签署后方可执行 (needs panel, head and two witnesses)")


@destroy_group.command()
@click.argument("batch_id")
@BY
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="审批角色")
@on_batch
def approve(arc: Archive, batch_id: str, by: str, role: str) -> None:
    """签署销毁批次 (approve a batch in one role)."""
    batch = arc.disposal.approve(batch_id, by, role)
    out.print(f"{by} 已以{role}身份签署批次 {batch_id}, 共 {len(batch.approvals)} 人签署 (approved)")


@destroy_group.command()
@click.argument("batch_id")
@AS_JSON
@on_batch
def run(arc: Archive, batch_id: str, as_json: bool) -> None:
    """执行销毁: 从全部存储位置删除, 保留墓碑, 生成并归档销毁清册 (carry out an approved batch)."""
    finish(arc.disposal.run(batch_id), as_json, _print_run)


def _print_run(result: Any) -> None:
    for i in result.items:
        state = "[green]已销毁[/green]" if i.destroyed else "[red]未销毁[/red]"
        out.print(f"{state}  {i.archival_code}  {escape(i.message)}".rstrip(), soft_wrap=True)
    for w in result.warnings:
        out.print(f"[yellow]提示[/yellow] {escape(str(w))}", soft_wrap=True)
    if result.register_code:
        out.print(f"销毁清册已归档为 {result.register_code} (destruction register archived, 永久)")
        for f in result.register_files:
            out.print(f"  {f}", markup=False)


@destroy_group.command()
@click.argument("batch_id")
@AS_JSON
@on_archive
def show(arc: Archive, batch_id: str, as_json: bool) -> None:
    """查看销毁批次: 档案、签署与尚待解决的问题 (show a batch)."""
    data = arc.disposal.batch(batch_id).to_json()
    if as_json:
        emit_json(data)
        return
    zone = arc.settings.display["timezone"]
    out.print(f"批次 {data['batch_id']}  提出人 {data['proposer']}  {shown(data['proposed_at'], zone)}")
    for i in data["items"]:
        state = ITEM_STATES.get(i.get("status", ""), i.get("status", "不在目录"))
        out.print(f"  {i['archival_code']}  {escape(i.get('title', ''))}  {state}  {escape(i['decision']['reason'])}")
    out.print("签署 (approvals):")
    for a in data["approvals"]:
        valid = "" if a["valid"] else "  [red]签署内容已变更, 无效[/red]"
        out.print(f"  {a['role']}  {a['person']}  {shown(a['time'], zone)}{valid}")
    if data["run"].get("complete"):
        out.print(f"[green]已执行完毕[/green], 销毁清册 {data['run'].get('register_code')}")
    for problem in data["blocking"]:
        out.print(f"[yellow]尚不能执行[/yellow] {escape(problem)}", soft_wrap=True)
