"""dangan 命令行: a thin layer over :class:`dangan.Archive`. Each command parses its options,
calls one ``Archive`` method and renders the result as Chinese text or, with ``--json``,
as the result's ``to_json()``.

Exit codes: 0 all well; 1 some item or check failed; 2 usage error; others per
:class:`archive.errors.ExitCode`.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from archive import __version__
from archive.config import CONFIG_NAME, resolve_home
from archive.errors import UsageError
from archive.i18n import _, translate_click
from archive.storage import parse_spec

from ._cli_base import AS_JSON, ITEM_STATES, emit_json, err, error_line, finish, on_archive, out
from ._logging import configure as configure_logging
from .api import Archive
from .backends import OCR_CHOICES
from .clock import shown

translate_click()  # click's own usage errors and headings in the person's language too


class _Commands(click.Group):
    """The top-level commands; the retention, destroy and transfer groups are imported when
    named, so that ingest, audit and search do not pay for the spreadsheet and PDF libraries.
    """

    LAZY = {
        "retention": ("dangan.cli_disposal", "retention_group"),
        "destroy": ("dangan.cli_disposal", "destroy_group"),
        "transfer": ("dangan.cli_transfer", "transfer_group"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute = self.LAZY[name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=_("dangan 档案: 社区电子档案归档、保存与利用。"),
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help=_("档案库目录 (默认 $DANGAN_HOME 或 ./dangan-data)"),
)
@click.option("-v", "--verbose", count=True, help=_("运行日志: -v 进度, -vv 细节"))
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), help=_("把运行日志追加到此文件"))
@click.version_option(__version__, prog_name="dangan")
@click.pass_context
def main(ctx: click.Context, home: Path | None, verbose: int, log_file: Path | None) -> None:
    try:
        configure_logging(verbose, log_file)
    except UsageError as exc:
        error_line(str(exc))
        sys.exit(int(exc.exit_code))
    ctx.obj = Archive(resolve_home(home))


@main.command()
@click.option("--fonds-code", required=True, help="全宗号, e.g. J012")
@click.option("--fonds-name", required=True, help="立档单位名称, e.g. 振兴社区居民委员会")
@click.option(
    "--rule",
    default="dat22",
    type=click.Choice(["dat22", "dat13"]),
    help="档号规则: dat22 = DA/T 22-2015, dat13 = DA/T 13-2022",
)
@click.option(
    "--storage",
    "storage",
    multiple=True,
    metavar="NAME=PATH|NAME=s3:URL/BUCKET[/PREFIX]",
    help="存储位置, 可重复, 第一个为主位置 (storage location; repeat; the first is primary). "
    "Default: three directories inside the home.",
)
@click.option(
    "--ocr",
    default=None,
    type=click.Choice(OCR_CHOICES),
    help="扫描件文字识别引擎, 默认 auto; 没有 Tesseract chi_tra 时用 rapidocr (OCR engine; default auto)",
)
@on_archive
def init(arc: Archive, fonds_code: str, fonds_name: str, rule: str, storage: tuple[str, ...], ocr: str | None) -> None:
    """创建档案库 (create an archive home with dangan.toml)."""
    entries = tuple(parse_spec(spec) for spec in storage) or None
    created = Archive.init(
        arc.home, fonds_code=fonds_code, fonds_name=fonds_name, rule=rule, storage=entries,
        ingest={"ocr": ocr} if ocr else {},
    )  # fmt: skip
    with created:
        for loc in created.storage_state():
            note = _LOCK_NOTES.get(loc.lock_mode or loc.object_lock, "")
            out.print(f"存储位置 (storage location): {escape(loc.description)} {note}".rstrip(), soft_wrap=True)
        for retention, (kept, default) in created.copy_shortfall().items():
            err.print(
                f"[yellow]注意: 复制策略 {retention} 只能保存 {kept} 份 (默认 {default} 份), "
                f"请增加存储位置 (fewer copies than the default policy: add locations)[/yellow]"
            )
        out.print(f"已创建档案库 (archive home created): {created.home / CONFIG_NAME}", markup=False)


_LOCK_NOTES = {
    "GOVERNANCE": "对象锁定已启用, GOVERNANCE 模式: 有 BypassGovernanceRetention 权限的管理员仍可提前删除; "
    '要任何人在到期前都不能删除, 请在首次归档前于 dangan.toml 该 [[storage]] 中写 lock_mode = "COMPLIANCE" '
    "(Object Lock in GOVERNANCE mode: an administrator can bypass it; set lock_mode = COMPLIANCE before the first "
    "ingest so that nobody can)",
    "COMPLIANCE": "对象锁定已启用, COMPLIANCE 模式: 到期前任何人都不能删除或缩短 (Object Lock in COMPLIANCE mode)",
    "unsupported": "[yellow]不支持对象锁定, 副本可被删除 (no Object Lock: copies can be deleted)[/yellow]",
}


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="归档文件目录 (item list, XLSX or CSV)",
)
@click.option("--fonds", help="全宗号 (default: the home's first fonds)")
@click.option("--category", help="门类代码, e.g. WS, ZY·DB")
@click.option("--year", type=int, help="年度")
@click.option("--retention", help="保管期限: Y / D30 / D10")
@click.option("--carrier", type=click.Choice(["纸质", "电子"]), help="载体: 纸质 (scans) or 电子 (born-digital)")
@click.option("--org", "org_code", help="机构(问题)代码")
@click.option("--author", help="责任者, for items whose list gives none")
@click.option("--date", help="日期 YYYYMMDD, for items whose list gives none")
@AS_JSON
@on_archive
def ingest(arc: Archive, source: Path, catalog: Path | None, as_json: bool, **class_fields: Any) -> None:
    """归档: 把一批文件 (或单个文件) 检测后封装为 AIP (ingest a folder of records, or one file)."""
    show_bar = not as_json and sys.stderr.isatty()
    with Progress(
        TextColumn("归档"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
        disable=not show_bar,
    ) as bar:  # fmt: skip
        task = bar.add_task("ingest", total=None)
        result = arc.ingest(
            source, catalog, on_item=lambda _r, n, total: bar.update(task, completed=n, total=total), **class_fields
        )
    finish(result, as_json, _print_ingest)


_STATUS = {
    "archived": "[green]已归档[/green]",
    "rejected": "[red]拒收[/red]",
    "duplicate": "[yellow]重复[/yellow]",
    "incomplete": "[red]副本未齐[/red]",
    "failed": "[red]存储失败[/red]",
    "not_attempted": "[yellow]未处理[/yellow]",
}


def _finding(f: Any) -> str:
    """A finding's file and message, as text (a file name may hold brackets rich would read as markup);
    the file is named once, also where the message names it itself."""
    return escape(f"{f.path}: {f.message}" if f.path and f.path not in f.message else f.message)


def _print_ingest(result: Any) -> None:
    for r in result.items:
        out.print(f"{_STATUS[r.status]}  {r.archival_code or '-'}  {escape(r.source)}")
        for f in r.errors:
            out.print(f"    [red]{f.code}[/red] {_finding(f)}", soft_wrap=True)
        for f in r.warnings:
            out.print(f"    [yellow]{f.code}[/yellow] {_finding(f)}", soft_wrap=True)
    for f in result.warnings:
        out.print(f"[yellow]提示[/yellow] {_finding(f)}", soft_wrap=True)
    for f in result.errors:
        out.print(f"[red]{f.code}[/red] {_finding(f)}", soft_wrap=True)
    out.print(
        f"共 {len(result.items)} 件: 已归档 {result.count('archived')}, 拒收 {result.count('rejected')}, "
        f"重复 {result.count('duplicate')}, 副本未齐 {result.count('incomplete')}"
        + (f", 存储失败 {result.count('failed')}, 未处理 {result.count('not_attempted')}" * result.stopped)
        + " (archived / rejected / duplicate / copies incomplete"
        + (" / storage failed / not attempted" * result.stopped)
        + ")"
    )


SHOW_FIELDS = (
    ("档号", "archival_code"), ("题名", "title"), ("立档单位", "fonds_name"), ("门类", "category"), ("年度", "year"),
    ("保管期限", "retention"), ("责任者", "author"), ("日期", "date"), ("文号", "doc_number"),
    ("密级", "classification"), ("页数", "page_count"), ("载体", "carrier"), ("备注", "remarks"),
    ("状态", "status"), ("归档时间", "ingested_at"),
)  # fmt: skip


@main.command()
@click.argument("archival_code")
@AS_JSON
@on_archive
def show(arc: Archive, archival_code: str, as_json: bool) -> None:
    """查看一件档案的著录项、文件与保管事件 (show one record)."""
    view = arc.show(archival_code)
    if as_json:
        emit_json(view.to_json())
        return
    row, dates, zone = view.item, view.dates, arc.settings.display["timezone"]
    for label, key in SHOW_FIELDS:
        value = row[key] if row[key] is not None else ""
        if key == "status":
            value = ITEM_STATES.get(value, value)
        elif key == "ingested_at":
            value = shown(value, zone)
        out.print(f"{label}: {value}", markup=False)
    if "problem" in dates:
        out.print(f"[yellow]保管期限: {escape(dates['problem'])}[/yellow]")
    else:
        out.print(
            f"到期鉴定日 (appraisal): {dates['appraisal_due'] or '永久, 不鉴定'}  "
            f"移交 (transfer): {dates['transfer_due'] or '-'}  开放 (opening): {dates['opening']}"
        )
    out.print("文件 (files):")
    for f in view.files:
        if f["kind"] == "payload":
            out.print(f"  {f['path']}  {f['size']} 字节  {f['puid'] or ''}  sha256:{f['sha256'][:16]}…", markup=False)
    out.print("副本 (copies):")
    for c in view.copies:
        sm3 = shown(c["sm3_verified_at"], zone) or "尚未"
        verified = (
            shown(c["verified_at"], zone) or "[red]最近一次检测未通过或尚未核验 (last check failed, or none yet)[/red]"
        )
        out.print(f"  {c['location']}  存入 {shown(c['stored_at'], zone)}  最近核验 {verified}  SM3 核验 {sm3}")
    out.print("保管事件 (PREMIS events):")
    for e in view.events:
        fields = (shown(e["time"], zone), e["type"], e["outcome"], _brief(e["detail"]), e["outcome_detail"])
        fields += (e["location"],)
        out.print("  " + "  ".join(f for f in fields if f), markup=False)


def _brief(detail: str) -> str:
    """An event detail without the engine settings it carries as JSON (those are in ``--json``):
    ``OCR 全文识别 (OCR) {"name": "rapidocr", …}`` → ``OCR 全文识别 (OCR) rapidocr 1.4.4``."""
    head, brace, rest = detail.partition(" {")
    if not brace:
        return detail
    try:
        settings = json.loads("{" + rest)
    except ValueError:
        return detail
    if not isinstance(settings, dict):
        return detail
    return " ".join([head, *(str(settings[k]) for k in ("name", "version") if settings.get(k))])


def filter_options(fn: Any) -> Any:
    """The 全宗/年度/门类/保管期限 filters shared by list and catalog."""
    for opt in reversed((
        click.option("--fonds", help="全宗号"),
        click.option("--year", help="年度, e.g. 2023 or 2015-2023"),
        click.option("--category", help="门类代码"),
        click.option("--retention", help="保管期限代码"),
    )):  # fmt: skip
        fn = opt(fn)
    return fn


@main.command(name="list")
@filter_options
@AS_JSON
@on_archive
def list_(arc: Archive, as_json: bool, **flt: Any) -> None:
    """列出档案 (list records, filtered by 全宗/年度/门类/保管期限)."""
    found = arc.list(**flt)
    if as_json:
        emit_json(found.to_json())
        return
    # The code is what gets copied into show and export: never cut. A long 题名 folds onto more
    # lines instead of ending in "…" (Chinese has no spaces to wrap at).
    table = Table(
        Column("档号", no_wrap=True), Column("题名", overflow="fold", ratio=1), Column("年度", no_wrap=True),
        Column("保管期限", no_wrap=True), Column("页数", no_wrap=True), Column("状态", no_wrap=True),
    )  # fmt: skip
    for r in found.items:
        table.add_row(
            escape(r["archival_code"]), escape(r["title"]), str(r["year"]), r["retention"],
            str(r["page_count"] or ""), ITEM_STATES.get(r["status"], r["status"]),
        )  # fmt: skip
    out.print(table)
    out.print(f"共 {len(found.items)} 件 (items)")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@AS_JSON
@on_archive
def validate(arc: Archive, paths: tuple[str, ...], as_json: bool) -> None:
    """校验 BagIt 包 (validate bags: a directory, or the 档号 of an archived record)."""
    finish(arc.validate(*paths), as_json, _print_validation)


def _print_validation(result: Any) -> None:
    for r in result.reports:
        out.print(f"{'[green]有效[/green]' if r.valid else '[red]无效[/red]'}  {escape(str(r.target))}")
        for line in r.lines():
            out.print(f"    {line}", soft_wrap=True, markup=False)


@main.command()
@click.argument("archival_code")
@click.argument("dest", type=click.Path(path_type=Path))
@on_archive
def export(arc: Archive, archival_code: str, dest: Path) -> None:
    """导出利用文件 DIP: 原始文件、元数据与说明 (export a DIP)."""
    done = arc.export(archival_code, dest)
    for note in done.passed_over:
        err.print(
            f"[yellow]注意[/yellow] {escape(note)}; 请运行 dangan audit --repair (run audit --repair)", soft_wrap=True
        )
    out.print(f"已导出 {len(done.written)} 个文件到 {dest} (exported)", markup=False)


@main.command()
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="输出文件, 格式由扩展名决定: .xlsx 或 .pdf (format from the extension)",
)
@filter_options
@on_archive
def catalog(arc: Archive, out_path: Path, **flt: Any) -> None:
    """生成归档文件目录 XLSX 或 PDF (DA/T 22 item list)."""
    written = arc.catalog(out_path, **flt)
    out.print(f"已写出归档文件目录 {written.count} 条: {written.path} (catalogue written)")


@main.command()
@on_archive
def reindex(arc: Archive) -> None:
    """从存储中的 AIP 重建目录数据库 (rebuild the catalogue from storage)."""
    done = arc.reindex()
    for problem in done.problems:
        err.print(f"[{'red' if problem.left_out else 'yellow'}]注意[/] {escape(str(problem))}", soft_wrap=True)
    out.print(f"已从存储重建目录: {done.records} 件 (catalogue rebuilt from storage)")
    out.print(f"已重建检索索引: {done.indexed} 件 (search index rebuilt)")
    sys.exit(done.exit_code)


@main.command()
@click.option("--max-seconds", type=float, help="本次最多检测的秒数 (stop after this many seconds)")
@click.option("--max-bytes", help="本次最多读取的数据量, 如 50G (stop after reading this much)")
@click.option("--all", "check_all", is_flag=True, help="检测全部副本, 含 SM3 (check every copy, both digests)")
@click.option("--location", help="只检测这个存储位置 (only this location)")
@click.option("--repair", is_flag=True, help="用完好副本修复损坏或缺失的副本 (repair from a good copy)")
@AS_JSON
@on_archive
def audit(arc: Archive, as_json: bool, **options: Any) -> None:
    """定期检测: 逐份核验各存储位置中的 AIP (fixity audit of every copy)."""
    finish(arc.audit(**options), as_json, _print_audit)


_KIND = {
    "corrupt": "损坏", "truncated": "截短", "missing": "缺失文件", "extra": "多余文件",
    "missing_copy": "缺少副本", "unreadable": "无法读取",
}  # fmt: skip


def _print_audit(report: Any) -> None:
    from archive.copycheck import PROBLEM_CODES
    from preservation.audit import NO_GOOD_COPY

    for p in report.problems:
        code = PROBLEM_CODES[p.kind][0]
        state = "[green]已修复[/green]" if p.repaired else "[red]未修复[/red]"
        where = escape(f"{p.archival_code or '(整个位置)'} @ {p.location} {p.path or ''} {p.detail}")
        out.print(f"{state} {code} {_KIND[p.kind]} {where}".rstrip(), soft_wrap=True)
    for code in report.no_good_copy:
        err.print(f"[bold red]!! {code}: {NO_GOOD_COPY}[/bold red]")
    for failure in report.repair_failed:
        err.print(f"[red]修复失败 (repair failed)[/red] {escape(failure)}", soft_wrap=True)
    for name, state in report.object_lock.items():
        if state == "unsupported":
            out.print(f"[yellow]提示[/yellow] 存储位置 {name} 不支持对象锁定 (no Object Lock: not write-protected)")
    out.print(
        f"已检测 {report.checked_aips} 件 / {report.checked_copies} 份副本 / {report.checked_files} 个文件 / "
        f"{report.checked_bytes} 字节, 用时 {report.seconds:.1f} 秒; 问题 {len(report.problems)}, "
        f"未修复 {len(report.unrepaired)}; 待下次检测 {report.remaining} 份 (remaining due)"
    )


@main.command()
@click.argument("query", required=False, default="")
@click.option("--fonds", help="全宗号")
@click.option("--year", help="年度, e.g. 2023 or 2020-2023")
@click.option("--category", help="门类代码")
@click.option("--retention", help="保管期限")
@click.option("--date", "dates", help="日期范围 YYYYMMDD-YYYYMMDD")
@click.option("--limit", type=int, default=20, show_default=True, help="每页条数")
@click.option("--page", type=int, default=1, show_default=True, help="第几页")
@AS_JSON
@on_archive
def search(arc: Archive, query: str, as_json: bool, **options: Any) -> None:
    """全文检索 (full-text search over metadata and the text of every record)."""
    found = arc.search(query, **options)
    if found.refilled:
        moved = f", 损坏的文件已移到 {found.damaged_copy}" if found.damaged_copy else ""
        err.print(f"检索索引为空或已损坏, 正在从目录重建{escape(moved)} (rebuilding the index)", soft_wrap=True)
    if as_json:
        emit_json(found.to_json())
        return
    result = found.result
    out.print(f"共 {result.total} 件 (hits), 第 {found.page} 页")
    for hit in result.hits:
        out.print(f"[bold]{hit.archival_code}[/bold]  {escape(hit.title)}")
        if hit.snippet:
            out.print(f"    {hit.snippet}", soft_wrap=True, markup=False)
    for name, label in (("fonds", "全宗"), ("year", "年度"), ("category", "门类"), ("retention", "保管期限")):
        counts = result.facets.get(name, {})
        if counts:
            out.print(f"{label}: " + "  ".join(f"{k} ({n})" for k, n in counts.items()))


__all__ = ["main"]
