"""``dangan transfer``: 移交与接收 commands, a thin layer over ``Archive.transfers``.

:mod:`dangan.cli` loads this group when ``transfer`` is named.

Exit codes: 0 done (or already done); 1 the package failed a check or a receipt does not
match; 2 usage (nothing due, bad arguments); 4 a location failed while storing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from archive.i18n import _

from ._cli_base import AS_JSON, AS_OF, emit_json, finish, on_archive, out
from .api import Archive


def _print(text: str) -> None:
    out.print(text, soft_wrap=True)


@click.group(name="transfer", help=_("移交与接收: 到期档案移交镇档案馆"))
def transfer_group() -> None:
    """Transfer records to the township archive, and receive them there."""


@transfer_group.command(help=_("列出到期移交的档案"))
@AS_OF
@click.option("--fonds", help=_("只列出此全宗"))
@AS_JSON
@on_archive
def due(arc: Archive, as_of: Any, fonds: str | None, as_json: bool) -> None:
    """List records due for transfer."""
    due_now = arc.transfers.due(_day(as_of), fonds)
    if as_json:
        emit_json(due_now.to_json())
        return
    report = due_now.report
    for d in report.items:
        due_on = _("到期 {date}").format(date=d.due)
        _print(escape(f"{d.meta.archival_code}  {d.meta.title}  {d.meta.year}  {d.meta.retention}  {due_on}"))
    for p in report.problems:
        _print(f"[yellow]{_('保管期限问题')}[/yellow] {escape(str(p))}")
    _print(_("共 {count} 件到期移交").format(count=len(report.items)))


@transfer_group.command(help=_("生成移交包: 到期档案的 AIP、移交清册、交接登记表与说明文件"))
@click.option("--to", "dest", required=True, type=click.Path(path_type=Path), help=_("移交包目录, 须尚不存在"))
@AS_OF
@click.option("--fonds", help=_("只移交此全宗"))
@click.option("--receiver", default="镇档案馆", show_default=True, help=_("接收单位"))
@click.option("--sent-by", default="", help=_("移交人, 默认当前用户"))
@AS_JSON
@on_archive
def prepare(
    arc: Archive, dest: Path, as_of: Any, fonds: str | None, receiver: str, sent_by: str, as_json: bool
) -> None:
    """Write the transfer package of the records due."""
    result = arc.transfers.prepare(dest, as_of=_day(as_of), fonds=fonds, receiver=receiver, sent_by=sent_by)
    if as_json:
        emit_json(result.to_json())
        return
    _print(escape(_("已生成移交包 {transfer}: {package}").format(transfer=result.transfer_id, package=result.package)))
    size = _("{count} 件, {files} 个文件, {bytes} 字节").format(
        count=len(result.items), files=result.files, bytes=result.bytes
    )
    _print("  " + size)
    for name, digest in result.digests.items():
        _print("  " + _("包摘要 {name}: {digest}").format(name=name, digest=digest))
    _print("  " + escape(_("本库留存的移交记录: {path}").format(path=result.record)))


@transfer_group.command(help=_("接收移交包: 移交与接收检测, 全部通过才入库"))
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--receiver", default="", help=_("接收单位, 须与交接登记表所填一致, 默认取其所填"))
@click.option("--received-by", default="", help=_("接收人, 默认当前用户"))
@click.option(
    "--package-sha256",
    default="",
    help=_("移交方在签署的交接登记表上写明的包摘要 (SHA-256), 用于核对包的来源"),
)
@click.option("--package-sm3", default="", help=_("同上, SM3 包摘要"))
@AS_JSON
@on_archive
def receive(
    arc: Archive,
    package: Path,
    receiver: str,
    received_by: str,
    package_sha256: str,
    package_sm3: str,
    as_json: bool,
) -> None:
    """Check a transfer package; store it only if every check passes."""
    expected = {name: value for name, value in (("SHA-256", package_sha256), ("SM3", package_sm3)) if value}
    result = arc.transfers.receive(package, receiver=receiver, received_by=received_by, expected=expected)
    finish(result, as_json, _print_receive)


def _received(status: str) -> str:
    """How a receive ended, coloured."""
    colour, text = {
        "received": ("green", _("已接收")),
        "already_received": ("green", _("此前已接收, 未做任何改动")),
        "rejected": ("red", _("拒收, 未保存任何内容")),
        "incomplete": ("red", _("未完成: 存储失败, 再次运行接收即可补齐")),
    }[status]
    return f"[{colour}]{text}[/{colour}]"


def _print_receive(result: Any) -> None:
    from archive.model import Verdict
    from disposition.transfer import CHECKS

    for f in [*result.report.findings, *result.failures]:
        if f.verdict is Verdict.passed:
            continue
        colour = "red" if f.failed else "yellow"
        name = CHECKS.get(f.code, ("", ""))[1]
        where = f" {f.path}:" if f.path else ""
        _print(f"[{colour}]{f.code}[/{colour}] {escape(f'{name}{where} {f.message}')}")
    passed = sum(f.verdict is Verdict.passed for f in result.report.findings)
    checks = _("检测项通过 {passed}/{total}").format(passed=passed, total=len(CHECKS))
    _print(f"{_received(result.status)}  {result.transfer_id}  {checks}")
    if result.stored or result.already_held:
        held = _("本次入库 {stored} 件, 此前已有 {held} 件").format(
            stored=len(result.stored), held=len(result.already_held)
        )
        _print("  " + held)
    if result.receipt:
        _print("  " + escape(_("接收回执: {path}").format(path=result.receipt)))
    if result.report_path:
        _print("  " + escape(_("检测报告: {path}").format(path=result.report_path)))


@transfer_group.command(help=_("确认接收回执: 核对后将档案标为已移交"))
@click.argument("receipt", type=click.Path(path_type=Path))
@AS_JSON
@on_archive
def confirm(arc: Archive, receipt: Path, as_json: bool) -> None:
    """Verify a receipt and mark the records transferred."""
    result = arc.transfers.confirm(receipt)
    if as_json:
        emit_json(result.to_json())
        return
    state = _("已确认") if result.status == "confirmed" else _("此前已确认, 未做任何改动")
    done = _("{count} 件已移交至 {receiver}").format(count=len(result.items), receiver=result.receiver)
    _print(escape(f"{state} {result.transfer_id}: {done}"))
    _print("  " + _("本库副本保留至 {date}").format(date=result.keep_copy_until.isoformat()))


def _day(value: Any) -> date | None:
    return value.date() if value is not None else None
