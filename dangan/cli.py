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


@main.command(help=_("创建档案库 (含 dangan.toml)"))
@click.option("--fonds-code", required=True, help=_("全宗号, 如 J012"))
@click.option("--fonds-name", required=True, help=_("立档单位名称, 如 振兴社区居民委员会"))
@click.option(
    "--rule",
    default="dat22",
    type=click.Choice(["dat22", "dat13"]),
    help=_("档号规则: dat22 = DA/T 22-2015, dat13 = DA/T 13-2022"),
)
@click.option(
    "--storage",
    "storage",
    multiple=True,
    metavar="NAME=PATH|NAME=s3:URL/BUCKET[/PREFIX]",
    help=_("存储位置, 可重复, 第一个为主位置; 默认为档案库内的三个目录"),
)
@click.option(
    "--ocr",
    default=None,
    type=click.Choice(OCR_CHOICES),
    help=_("扫描件文字识别引擎, 默认 auto; 没有 Tesseract chi_tra 时用 rapidocr"),
)
@on_archive
def init(arc: Archive, fonds_code: str, fonds_name: str, rule: str, storage: tuple[str, ...], ocr: str | None) -> None:
    """Create an archive home with its dangan.toml."""
    entries = tuple(parse_spec(spec) for spec in storage) or None
    created = Archive.init(
        arc.home, fonds_code=fonds_code, fonds_name=fonds_name, rule=rule, storage=entries,
        ingest={"ocr": ocr} if ocr else {},
    )  # fmt: skip
    with created:
        for loc in created.storage_state():
            note = _lock_note(loc.lock_mode or loc.object_lock)
            out.print(
                _("存储位置: {location} {note}").format(location=escape(loc.description), note=note).rstrip(),
                soft_wrap=True,
            )
        for retention, (kept, default) in created.copy_shortfall().items():
            shortfall = _("注意: 复制策略 {retention} 只能保存 {kept} 份 (默认 {default} 份), 请增加存储位置")
            err.print(f"[yellow]{escape(shortfall.format(retention=retention, kept=kept, default=default))}[/yellow]")
        out.print(_("已创建档案库: {path}").format(path=created.home / CONFIG_NAME), markup=False)


def _lock_note(mode: str | None) -> str:
    """What a location's Object Lock means for its copies, as rich markup ('' when it has nothing to say)."""
    if mode == "GOVERNANCE":
        return escape(
            _(
                "对象锁定已启用, GOVERNANCE 模式: 有 BypassGovernanceRetention 权限的管理员仍可提前删除; "
                "要任何人在到期前都不能删除, 请在首次归档前于 dangan.toml 该 [[storage]] 中写 "
                'lock_mode = "COMPLIANCE"'
            )
        )
    if mode == "COMPLIANCE":
        return escape(_("对象锁定已启用, COMPLIANCE 模式: 到期前任何人都不能删除或缩短"))
    if mode == "unsupported":
        return f"[yellow]{escape(_('不支持对象锁定, 副本可被删除'))}[/yellow]"
    return ""


@main.command(help=_("归档: 把一批文件 (或单个文件) 检测后封装为 AIP"))
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=_("归档文件目录 (XLSX 或 CSV)"),
)
@click.option("--fonds", help=_("全宗号 (默认为档案库的第一个全宗)"))
@click.option("--category", help=_("门类代码, 如 WS, ZY·DB"))
@click.option("--year", type=int, help=_("年度"))
@click.option("--retention", help=_("保管期限: Y / D30 / D10"))
@click.option("--carrier", type=click.Choice(["纸质", "电子"]), help=_("载体: 纸质 (扫描件) 或 电子 (原生电子文件)"))
@click.option("--org", "org_code", help=_("机构(问题)代码"))
@click.option("--author", help=_("责任者, 用于目录中未填写的件"))
@click.option("--date", help=_("日期 YYYYMMDD, 用于目录中未填写的件"))
@AS_JSON
@on_archive
def ingest(arc: Archive, source: Path, catalog: Path | None, as_json: bool, **class_fields: Any) -> None:
    """Ingest a folder of records, or one file."""
    show_bar = not as_json and sys.stderr.isatty()
    with Progress(
        TextColumn(_("归档")), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
        disable=not show_bar,
    ) as bar:  # fmt: skip
        task = bar.add_task("ingest", total=None)
        result = arc.ingest(
            source, catalog, on_item=lambda _r, n, total: bar.update(task, completed=n, total=total), **class_fields
        )
    finish(result, as_json, _print_ingest)


def _status(status: str) -> str:
    """An ingested item's outcome, coloured."""
    colour, label = {
        "archived": ("green", _("已归档")),
        "rejected": ("red", _("拒收")),
        "duplicate": ("yellow", _("重复")),
        "incomplete": ("red", _("副本未齐")),
        "failed": ("red", _("存储失败")),
        "not_attempted": ("yellow", _("未处理")),
    }[status]
    return f"[{colour}]{label}[/{colour}]"


def _finding(f: Any) -> str:
    """A finding's file and message, as text (a file name may hold brackets rich would read as markup);
    the file is named once, also where the message names it itself."""
    return escape(f"{f.path}: {f.message}" if f.path and f.path not in f.message else f.message)


def _print_ingest(result: Any) -> None:
    for r in result.items:
        out.print(f"{_status(r.status)}  {r.archival_code or '-'}  {escape(r.source)}")
        for f in r.errors:
            out.print(f"    [red]{f.code}[/red] {_finding(f)}", soft_wrap=True)
        for f in r.warnings:
            out.print(f"    [yellow]{f.code}[/yellow] {_finding(f)}", soft_wrap=True)
    for f in result.warnings:
        out.print(f"[yellow]{_('提示')}[/yellow] {_finding(f)}", soft_wrap=True)
    for f in result.errors:
        out.print(f"[red]{f.code}[/red] {_finding(f)}", soft_wrap=True)
    summary = _("共 {total} 件: 已归档 {archived}, 拒收 {rejected}, 重复 {duplicate}, 副本未齐 {incomplete}")
    if result.stopped:
        summary += _(", 存储失败 {failed}, 未处理 {not_attempted}")
    counts = {
        s: result.count(s) for s in ("archived", "rejected", "duplicate", "incomplete", "failed", "not_attempted")
    }
    out.print(summary.format(total=len(result.items), **counts))


SHOW_FIELDS = (
    ("档号", "archival_code"), ("题名", "title"), ("立档单位", "fonds_name"), ("门类", "category"), ("年度", "year"),
    ("保管期限", "retention"), ("责任者", "author"), ("日期", "date"), ("文号", "doc_number"),
    ("密级", "classification"), ("页数", "page_count"), ("载体", "carrier"), ("备注", "remarks"),
    ("状态", "status"), ("归档时间", "ingested_at"),
)  # fmt: skip


@main.command(help=_("查看一件档案的著录项、文件、副本与保管事件"))
@click.argument("archival_code")
@AS_JSON
@on_archive
def show(arc: Archive, archival_code: str, as_json: bool) -> None:
    """Show one record: its description, files, copies and events."""
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
        out.print(f"[yellow]{escape(_('保管期限: {problem}').format(problem=dates['problem']))}[/yellow]")
    else:
        when = _("到期鉴定日: {appraisal}  移交: {transfer}  开放: {opening}").format(
            appraisal=dates["appraisal_due"] or _("永久, 不鉴定"), transfer=dates["transfer_due"] or "-",
            opening=dates["opening"],
        )  # fmt: skip
        out.print(when, markup=False)
    out.print(_("文件:"))
    for f in view.files:
        if f["kind"] == "payload":
            size = _("{size} 字节").format(size=f["size"])
            out.print(f"  {f['path']}  {size}  {f['puid'] or ''}  sha256:{f['sha256'][:16]}…", markup=False)
    out.print(_("副本:"))
    for c in view.copies:
        sm3 = shown(c["sm3_verified_at"], zone) or _("尚未")
        verified = shown(c["verified_at"], zone) or f"[red]{_('最近一次检测未通过或尚未核验')}[/red]"
        line = _("{location}  存入 {stored}  最近核验 {verified}  SM3 核验 {sm3}")
        out.print(
            "  " + line.format(location=c["location"], stored=shown(c["stored_at"], zone), verified=verified, sm3=sm3)
        )
    out.print(_("保管事件:"))
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
        click.option("--fonds", help=_("全宗号")),
        click.option("--year", help=_("年度, 如 2023 或 2015-2023")),
        click.option("--category", help=_("门类代码")),
        click.option("--retention", help=_("保管期限代码")),
    )):  # fmt: skip
        fn = opt(fn)
    return fn


@main.command(name="list", help=_("列出档案, 可按全宗、年度、门类、保管期限筛选"))
@filter_options
@AS_JSON
@on_archive
def list_(arc: Archive, as_json: bool, **flt: Any) -> None:
    """List records, filtered by fonds, year, category or retention period."""
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
    out.print(_("共 {count} 件").format(count=len(found.items)))


@main.command(help=_("校验 BagIt 包: 目录, 或已归档档案的档号"))
@click.argument("paths", nargs=-1, required=True)
@AS_JSON
@on_archive
def validate(arc: Archive, paths: tuple[str, ...], as_json: bool) -> None:
    """Validate bags: a directory, or the 档号 of an archived record."""
    finish(arc.validate(*paths), as_json, _print_validation)


def _print_validation(result: Any) -> None:
    for r in result.reports:
        verdict = f"[green]{_('有效')}[/green]" if r.valid else f"[red]{_('无效')}[/red]"
        out.print(f"{verdict}  {escape(str(r.target))}")
        for line in r.lines():
            out.print(f"    {line}", soft_wrap=True, markup=False)


@main.command(help=_("导出利用文件 DIP: 原始文件、元数据与说明"))
@click.argument("archival_code")
@click.argument("dest", type=click.Path(path_type=Path))
@on_archive
def export(arc: Archive, archival_code: str, dest: Path) -> None:
    """Export a DIP: the originals, metadata and a summary."""
    done = arc.export(archival_code, dest)
    for note in done.passed_over:
        advice = _("{problem}; 请运行 dangan audit --repair").format(problem=note)
        err.print(f"[yellow]{_('注意')}[/yellow] {escape(advice)}", soft_wrap=True)
    out.print(_("已导出 {count} 个文件到 {dest}").format(count=len(done.written), dest=dest), markup=False)


@main.command(help=_("生成归档文件目录 (DA/T 22), XLSX 或 PDF"))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=_("输出文件, 格式由扩展名决定: .xlsx 或 .pdf"),
)
@filter_options
@on_archive
def catalog(arc: Archive, out_path: Path, **flt: Any) -> None:
    """Write the DA/T 22 item list as XLSX or PDF."""
    written = arc.catalog(out_path, **flt)
    out.print(_("已写出归档文件目录 {count} 条: {path}").format(count=written.count, path=written.path), markup=False)


@main.command(help=_("从存储中的 AIP 重建目录数据库"))
@on_archive
def reindex(arc: Archive) -> None:
    """Rebuild the catalogue from the AIPs in storage."""
    done = arc.reindex()
    for problem in done.problems:
        err.print(f"[{'red' if problem.left_out else 'yellow'}]{_('注意')}[/] {escape(str(problem))}", soft_wrap=True)
    out.print(_("已从存储重建目录: {count} 件").format(count=done.records))
    out.print(_("已重建检索索引: {count} 件").format(count=done.indexed))
    sys.exit(done.exit_code)


@main.command(help=_("定期检测: 逐份核验各存储位置中的 AIP"))
@click.option("--max-seconds", type=float, help=_("本次最多检测的秒数"))
@click.option("--max-bytes", help=_("本次最多读取的数据量, 如 50G"))
@click.option("--all", "check_all", is_flag=True, help=_("检测全部副本, 含 SM3"))
@click.option("--location", help=_("只检测这个存储位置"))
@click.option("--repair", is_flag=True, help=_("用完好副本修复损坏或缺失的副本"))
@AS_JSON
@on_archive
def audit(arc: Archive, as_json: bool, **options: Any) -> None:
    """Fixity audit: verify every copy of each AIP in every location."""
    finish(arc.audit(**options), as_json, _print_audit)


def _kind(kind: str) -> str:
    """A kind of damage the audit found, as people say it."""
    return {
        "corrupt": _("损坏"), "truncated": _("截短"), "missing": _("缺失文件"), "extra": _("多余文件"),
        "missing_copy": _("缺少副本"), "unreadable": _("无法读取"),
    }[kind]  # fmt: skip


def _print_audit(report: Any) -> None:
    from archive.copycheck import PROBLEM_CODES
    from preservation.audit import NO_GOOD_COPY

    for p in report.problems:
        code = PROBLEM_CODES[p.kind][0]
        state = f"[green]{_('已修复')}[/green]" if p.repaired else f"[red]{_('未修复')}[/red]"
        where = escape(f"{p.archival_code or _('(整个位置)')} @ {p.location} {p.path or ''} {p.detail}")
        out.print(f"{state} {code} {_kind(p.kind)} {where}".rstrip(), soft_wrap=True)
    for code in report.no_good_copy:
        err.print(f"[bold red]!! {code}: {NO_GOOD_COPY}[/bold red]")
    for failure in report.repair_failed:
        err.print(f"[red]{_('修复失败')}[/red] {escape(failure)}", soft_wrap=True)
    for name, state in report.object_lock.items():
        if state == "unsupported":
            unlocked = _("存储位置 {name} 不支持对象锁定, 未受写保护").format(name=name)
            out.print(f"[yellow]{_('提示')}[/yellow] {escape(unlocked)}")
    summary = _(
        "已检测 {aips} 件 / {copies} 份副本 / {files} 个文件 / {bytes} 字节, 用时 {seconds} 秒; "
        "问题 {problems}, 未修复 {unrepaired}; 待下次检测 {remaining} 份"
    )
    out.print(
        summary.format(
            aips=report.checked_aips,
            copies=report.checked_copies,
            files=report.checked_files,
            bytes=report.checked_bytes,
            seconds=f"{report.seconds:.1f}",
            problems=len(report.problems),
            unrepaired=len(report.unrepaired),
            remaining=report.remaining,
        )
    )


@main.command(help=_("全文检索: 著录项与每件档案的全文"))
@click.argument("query", required=False, default="")
@click.option("--fonds", help=_("全宗号"))
@click.option("--year", help=_("年度, 如 2023 或 2015-2023"))
@click.option("--category", help=_("门类代码"))
@click.option("--retention", help=_("保管期限代码"))
@click.option("--date", "dates", help=_("日期范围 YYYYMMDD-YYYYMMDD"))
@click.option("--limit", type=int, default=20, show_default=True, help=_("每页条数"))
@click.option("--page", type=int, default=1, show_default=True, help=_("第几页"))
@AS_JSON
@on_archive
def search(arc: Archive, query: str, as_json: bool, **options: Any) -> None:
    """Full-text search over the description and the text of every record."""
    found = arc.search(query, **options)
    if found.refilled:
        moved = _(", 损坏的文件已移到 {path}").format(path=found.damaged_copy) if found.damaged_copy else ""
        err.print(escape(_("检索索引为空或已损坏, 正在从目录重建{moved}").format(moved=moved)), soft_wrap=True)
    if as_json:
        emit_json(found.to_json())
        return
    result = found.result
    out.print(_("共 {total} 件, 第 {page} 页").format(total=result.total, page=found.page))
    for hit in result.hits:
        out.print(f"[bold]{hit.archival_code}[/bold]  {escape(hit.title)}")
        if hit.snippet:
            out.print(f"    {hit.snippet}", soft_wrap=True, markup=False)
    for name, label in (("fonds", "全宗"), ("year", "年度"), ("category", "门类"), ("retention", "保管期限")):
        counts = result.facets.get(name, {})
        if counts:
            out.print(f"{label}: " + "  ".join(f"{k} ({n})" for k, n in counts.items()))


__all__ = ["main"]
