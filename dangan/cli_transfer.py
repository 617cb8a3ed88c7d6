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

from ._cli_base import AS_JSON, AS_OF, emit_json, finish, on_archive, out
from .api import Archive


def _print(text: str) -> None:
    out.print(text, soft_wrap=True)


@click.group(name="transfer")
def transfer_group() -> None:
    """移交与接收: 到期档案移交镇档案馆 (transfer records to the township archive)."""


@transfer_group.command()
@AS_OF
@click.option("--fonds", help="只列出此全宗 (only this fonds)")
@AS_JSON
@on_archive
def due(arc: Archive, as_of: Any, fonds: str | None, as_json: bool) -> None:
    """列出到期移交的档案 (list records due for transfer)."""
    due_now = arc.transfers.due(_day(as_of), fonds)
    if as_json:
        emit_json(due_now.to_json())
        return
    report = due_now.report
    for d in report.items:
        _print(escape(f"{d.meta.archival_code}  {d.meta.title}  {d.meta.year}  {d.meta.retention}  到期 {d.due}"))
    for p in report.problems:
        _print(f"[yellow]保管期限问题[/yellow] {escape(str(p))}")
    _print(f"共 {len(report.items)} 件到期移交 (due for transfer)")


@transfer_group.command()
@click.option(
    "--to", "dest", required=True, type=click.Path(path_type=Path), help="移交包目录, 须尚不存在 (new folder)"
)
@AS_OF
@click.option("--fonds", help="只移交此全宗 (only this fonds)")
@click.option("--receiver", default="镇档案馆", show_default=True, help="接收单位 (receiving archive)")
@click.option("--sent-by", default="", help="移交人, 默认当前用户 (person handing over)")
@AS_JSON
@on_archive
def prepare(
    arc: Archive, dest: Path, as_of: Any, fonds: str | None, receiver: str, sent_by: str, as_json: bool
) -> None:
    """生成移交包: 到期档案的 AIP、移交清册、交接登记表与说明文件 (write the transfer package)."""
    result = arc.transfers.prepare(dest, as_of=_day(as_of), fonds=fonds, receiver=receiver, sent_by=sent_by)
    if as_json:
        emit_json(result.to_json())
        return
    _print(f"已生成移交包 {result.transfer_id}: {result.package} (package written)")
    _print(f"  {len(result.items)} 件, {result.files} 个文件, {result.bytes} 字节")
    for name, digest in result.digests.items():
        _print(f"  包摘要 {name}: {digest}")
    _print(f"  本库留存的移交记录 (sender's record): {result.record}")


@transfer_group.command()
@click.argument("package", type=click.Path(path_type=Path))
@click.option(
    "--receiver", default="", help="接收单位, 须与交接登记表所填一致, 默认取其所填 (must match the package's 接收单位)"
)
@click.option("--received-by", default="", help="接收人, 默认当前用户 (person receiving)")
@click.option(
    "--package-sha256",
    default="",
    help="移交方在签署的交接登记表上写明的包摘要 (SHA-256), 用于核对包的来源 (the digest transfer prepare printed)",
)
@click.option("--package-sm3", default="", help="同上, SM3 包摘要 (the SM3 package digest, likewise)")
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
    """接收移交包: 移交与接收检测, 全部通过才入库 (check a package; store it only if all checks pass)."""
    expected = {name: value for name, value in (("SHA-256", package_sha256), ("SM3", package_sm3)) if value}
    result = arc.transfers.receive(package, receiver=receiver, received_by=received_by, expected=expected)
    finish(result, as_json, _print_receive)


_RECEIVED = {
    "received": "[green]已接收[/green] (received)",
    "already_received": "[green]此前已接收, 未做任何改动[/green] (already received; nothing changed)",
    "rejected": "[red]拒收, 未保存任何内容[/red] (rejected; nothing stored)",
    "incomplete": "[red]未完成: 存储失败, 再次运行接收即可补齐[/red] (incomplete; run receive again)",
}


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
    _print(f"{_RECEIVED[result.status]}  {result.transfer_id}  检测项通过 {passed}/{len(CHECKS)}")
    if result.stored or result.already_held:
        _print(f"  本次入库 {len(result.stored)} 件, 此前已有 {len(result.already_held)} 件 (stored / already held)")
    if result.receipt:
        _print(f"  接收回执 (receipt): {result.receipt}")
    if result.report_path:
        _print(f"  检测报告 (check report): {result.report_path}")


@transfer_group.command()
@click.argument("receipt", type=click.Path(path_type=Path))
@AS_JSON
@on_archive
def confirm(arc: Archive, receipt: Path, as_json: bool) -> None:
    """确认接收回执: 核对后将档案标为已移交 (verify a receipt and mark the records transferred)."""
    result = arc.transfers.confirm(receipt)
    if as_json:
        emit_json(result.to_json())
        return
    state = "已确认" if result.status == "confirmed" else "此前已确认, 未做任何改动 (already confirmed)"
    _print(f"{state} {result.transfer_id}: {len(result.items)} 件已移交至 {result.receiver} (transferred)")
    _print(f"  本库副本保留至 {result.keep_copy_until.isoformat()} (sender copies kept until)")


def _day(value: Any) -> date | None:
    return value.date() if value is not None else None
