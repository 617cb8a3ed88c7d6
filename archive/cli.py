"""dangan 命令行: a thin layer over the library. Each command parses, calls one library
function and renders the result as Chinese text or, with ``--json``, as JSON.

Exit codes: 0 all well; 1 some item or check failed; 2 usage error; others per
:class:`archive.errors.ExitCode`.
"""

from __future__ import annotations

import importlib
import json
import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from archive import __version__
from archive.catalogue import Catalogue, ListFilter
from archive.config import (
    DEFAULT_COPIES,
    OCR_ENGINES,
    Fonds,
    Settings,
    StorageConfig,
    init_home,
    load_settings,
    resolve_home,
)
from archive.errors import DanganError, ExitCode, NotFoundError, UsageError
from archive.sqlitefile import is_damage, write_failure

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DanganError into one line on stderr and its exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DanganError as exc:
            err.print(f"[red]错误[/red] {escape(str(exc))}", soft_wrap=True)
            sys.exit(int(exc.exit_code))
        except sqlite3.DatabaseError as exc:
            full = write_failure(exc, "目录数据库", Path(""))
            if full is not None:  # a write outside Catalogue.write (one statement alone): a full disk
                message = full.message
            elif is_damage(exc):
                # damage found after opening: the catalogue is a cache (the index repairs itself)
                message = (
                    f"目录数据库已损坏, 请运行 dangan reindex 从存储重建 (catalogue damaged: run dangan reindex): {exc}"
                )
            else:
                raise
            err.print(f"[red]错误[/red] {escape(message)}", soft_wrap=True)
            sys.exit(int(ExitCode.storage))

    return wrapper


class Home:
    """The archive home a command works on, opened lazily."""

    def __init__(self, path: Path):
        self.path = path
        self._settings: Settings | None = None
        self._catalogue: Catalogue | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.path)
        return self._settings

    def use_catalogue(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = Catalogue(self.settings.catalogue_path, create=False)
        return self._catalogue


pass_home = click.make_pass_decorator(Home)


class _Commands(click.Group):
    """The top-level commands; the retention, destruction and transfer groups are imported when
    named, so that ingest, audit and search do not pay for the spreadsheet and PDF libraries.

    (They import this module for Home, pass_home and the JSON helpers, which also rules out
    importing them at the top.)
    """

    LAZY = {
        "retention": ("retention.commands", "retention_group"),
        "destroy": ("retention.commands", "destroy_group"),
        "transfer": ("retention.transfer_commands", "transfer_group"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            module, attribute = self.LAZY[name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="档案库目录 (archive home; default $DANGAN_HOME or ./dangan-data)",
)
@click.version_option(__version__, prog_name="dangan")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """dangan 档案: 社区电子档案归档、保存与利用 (electronic records archive)."""
    ctx.obj = Home(resolve_home(home))


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
    type=click.Choice(OCR_ENGINES),
    help="扫描件文字识别引擎, 默认 auto; 没有 Tesseract chi_tra 时用 rapidocr (OCR engine; default auto)",
)
@pass_home
@handles_errors
def init(home: Home, fonds_code: str, fonds_name: str, rule: str, storage: tuple[str, ...], ocr: str | None) -> None:
    """创建档案库 (create an archive home with dangan.toml)."""
    entries = tuple(parse_storage_spec(spec) for spec in storage) or None
    config = init_home(home.path, Fonds(fonds_code, fonds_name), rule, entries, ingest={"ocr": ocr} if ocr else {})
    settings = load_settings(home.path)
    Catalogue(settings.catalogue_path).close()
    from archive.storage import prepare_locations

    for loc in prepare_locations(settings):
        note = _LOCK_NOTES.get(str(loc.object_lock()), "")
        out.print(f"存储位置 (storage location): {escape(loc.describe())} {note}".rstrip())
    for retention, n in DEFAULT_COPIES.items():
        if settings.copies[retention] < n:
            err.print(
                f"[yellow]注意: 复制策略 {retention} 只能保存 {settings.copies[retention]} 份 (默认 {n} 份), "
                f"请增加存储位置 (fewer copies than the default policy: add locations)[/yellow]"
            )
    out.print(f"已创建档案库 (archive home created): {config}", markup=False)


_LOCK_NOTES = {
    "enforced": "对象锁定已启用 (Object Lock enforced)",
    "unsupported": "[yellow]不支持对象锁定, 副本可被删除 (no Object Lock: copies can be deleted)[/yellow]",
}


def parse_storage_spec(spec: str) -> StorageConfig:
    """``NAME=PATH`` (a directory) or ``NAME=s3:http://host:port/bucket[/prefix]``."""
    name, sep, where = spec.partition("=")
    if not sep or not name or not where:
        raise UsageError(f"存储位置写法应为 NAME=PATH 或 NAME=s3:URL/BUCKET (bad --storage): {spec}")
    if not where.startswith("s3:"):
        return StorageConfig(name, "fs", {"path": where})
    url = urlsplit(where.removeprefix("s3:"))
    bucket, _, prefix = url.path.lstrip("/").partition("/")
    if not url.scheme or not url.netloc or not bucket:
        raise UsageError(f"S3 位置应为 s3:http://主机:端口/桶[/前缀] (bad s3 location): {spec}")
    options = {"endpoint_url": f"{url.scheme}://{url.netloc}", "bucket": bucket}
    if prefix:
        options["prefix"] = prefix.rstrip("/") + "/"
    return StorageConfig(name, "s3", options)


def _locations(settings: Settings) -> list[Any]:
    from archive.storage import open_locations

    return open_locations(settings)


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
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
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def ingest(home: Home, source: Path, catalog: Path | None, as_json: bool, **class_fields: Any) -> None:
    """归档: 把一批文件检测后封装为 AIP (ingest a folder of records)."""
    from ingest.metadata import ClassDefaults
    from ingest.pipeline import Ingestor

    defaults = ClassDefaults(**class_fields)
    show_bar = not as_json and sys.stderr.isatty()
    with (
        Ingestor.open(home.settings, home.catalogue) as ingestor,
        Progress(
            TextColumn("归档"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not show_bar,
        ) as bar,
    ):
        task = bar.add_task("ingest", total=None)
        result = ingestor.run(
            source, catalog, defaults, on_item=lambda _r, n, total: bar.update(task, completed=n, total=total)
        )
    if as_json:
        _emit_json(result.to_dict())
    else:
        _print_ingest(result)
    sys.exit(result.exit_code)


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


#: catalogue statuses as archivists read them
ITEM_STATES = {"archived": "在档", "destroying": "销毁中", "destroyed": "已销毁", "transferred": "已移交"}


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
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def show(home: Home, archival_code: str, as_json: bool) -> None:
    """查看一件档案的著录项、文件与保管事件 (show one record)."""
    cat = home.catalogue
    row = cat.get(archival_code)
    if row is None:
        raise NotFoundError(f"没有档号为 {archival_code} 的档案 (no record with that code)")
    files = [dict(f) for f in cat.files(archival_code)]
    events = [dict(e) for e in cat.events(archival_code)]
    copies = [vars(c) for c in cat.copies(archival_code).values()]
    from retention.disposal import record_dates

    dates = record_dates(home.settings, row)
    if as_json:
        _emit_json({"item": dict(row), "dates": dates, "files": files, "copies": copies, "events": events})
        return
    for label, key in SHOW_FIELDS:
        value = row[key] if row[key] is not None else ""
        out.print(f"{label}: {ITEM_STATES.get(value, value) if key == 'status' else value}", markup=False)
    if "problem" in dates:
        out.print(f"[yellow]保管期限: {escape(dates['problem'])}[/yellow]")
    else:
        out.print(
            f"到期鉴定日 (appraisal): {dates['appraisal_due'] or '永久, 不鉴定'}  "
            f"移交 (transfer): {dates['transfer_due'] or '-'}  开放 (opening): {dates['opening']}"
        )
    out.print("文件 (files):")
    for f in files:
        if f["kind"] == "payload":
            out.print(f"  {f['path']}  {f['size']} 字节  {f['puid'] or ''}  sha256:{f['sha256'][:16]}…", markup=False)
    out.print("副本 (copies):")
    for c in copies:
        sm3 = c["sm3_verified_at"] or "尚未"
        verified = c["verified_at"] or "[red]最近一次检测未通过或尚未核验 (last check failed, or none yet)[/red]"
        out.print(f"  {c['location']}  存入 {c['stored_at']}  最近核验 {verified}  SM3 核验 {sm3}")
    out.print("保管事件 (PREMIS events):")
    for e in events:
        fields = (e["time"], e["type"], e["outcome"], e["detail"], e["outcome_detail"], e["location"])
        out.print("  " + "  ".join(f for f in fields if f), markup=False)


def _year_range(value: str | None) -> tuple[int | None, int | None]:
    """``2023``, ``2015-2023``, or open-ended ``2015-`` / ``-2023`` (full-width digits too)."""
    if not value:
        return None, None
    first, dash, last = unicodedata.normalize("NFKC", value).strip().partition("-")
    years = (first, last if dash else first)
    if not all(re.fullmatch(r"[0-9]{4}", y) or (dash and not y) for y in years) or years == ("", ""):
        raise UsageError(
            f"年度应为 2023、2015-2023、2015- 或 -2023 (year must be YYYY, YYYY-YYYY or open-ended): {value}"
        )
    low, high = (int(y) if y else None for y in years)
    if low is not None and high is not None and low > high:
        raise UsageError(f"起始年度晚于结束年度 (the range runs backwards): {value}")
    return low, high


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The 全宗/年度/门类/保管期限 filters shared by list and catalog."""
    for opt in reversed((
        click.option("--fonds", help="全宗号"),
        click.option("--year", help="年度, e.g. 2023 or 2015-2023"),
        click.option("--category", help="门类代码"),
        click.option("--retention", help="保管期限代码"),
    )):  # fmt: skip
        fn = opt(fn)
    return fn


def _filter(
    settings: Settings, fonds: str | None, year: str | None, category: str | None, retention: str | None
) -> ListFilter:
    from metadata_profiles import class_codes

    y0, y1 = _year_range(year)
    fonds, category, retention = class_codes(settings, fonds, category, retention)
    return ListFilter(fonds=fonds, year_from=y0, year_to=y1, category=category, retention=retention)


@main.command(name="list")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def list_(home: Home, as_json: bool, **flt: Any) -> None:
    """列出档案 (list records, filtered by 全宗/年度/门类/保管期限)."""
    rows = home.catalogue.list(_filter(home.settings, **flt))
    if as_json:
        _emit_json({"total": len(rows), "items": [dict(r) for r in rows]})
        return
    table = Table("档号", "题名", "年度", "保管期限", "页数", "状态")
    table.columns[0].no_wrap = True  # the code is what gets copied into show and export: never cut
    for r in rows:
        table.add_row(
            escape(r["archival_code"]), escape(r["title"]), str(r["year"]), r["retention"],
            str(r["page_count"] or ""), ITEM_STATES.get(r["status"], r["status"]),
        )  # fmt: skip
    out.print(table)
    out.print(f"共 {len(rows)} 件 (items)")


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def validate(home: Home, paths: tuple[str, ...], as_json: bool) -> None:
    """校验 BagIt 包 (validate bags: a directory, or the 档号 of an archived record)."""
    from archive.validate import validate_target

    reports = [validate_target(p, home.path) for p in paths]
    if as_json:
        _emit_json(
            {
                "bags": [r.to_dict() for r in reports],
                "valid": sum(r.valid for r in reports),
                "invalid": sum(not r.valid for r in reports),
            }
        )
    else:
        for r in reports:
            out.print(f"{'[green]有效[/green]' if r.valid else '[red]无效[/red]'}  {escape(str(r.target))}")
            for line in r.lines():
                out.print(f"    {line}", soft_wrap=True, markup=False)
    sys.exit(0 if all(r.valid for r in reports) else 1)


@main.command()
@click.argument("archival_code")
@click.argument("dest", type=click.Path(path_type=Path))
@pass_home
@handles_errors
def export(home: Home, archival_code: str, dest: Path) -> None:
    """导出利用文件 DIP: 原始文件、元数据与说明 (export a DIP)."""
    from archive.export import export_dip
    from archive.storage import open_locations
    from retention.tombstone import destroyed_notice

    if notice := destroyed_notice(home.catalogue, archival_code):
        raise NotFoundError(notice, path=archival_code)
    passed_over: list[str] = []
    written = export_dip(home.catalogue, open_locations(home.settings), archival_code, dest, notes=passed_over)
    for note in passed_over:
        err.print(
            f"[yellow]注意[/yellow] {escape(note)}; 请运行 dangan audit --repair (run audit --repair)", soft_wrap=True
        )
    out.print(f"已导出 {len(written)} 个文件到 {dest} (exported)", markup=False)


@main.command()
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出 XLSX 文件"
)
@filter_options
@pass_home
@handles_errors
def catalog(home: Home, out_path: Path, **flt: Any) -> None:
    """生成归档文件目录 XLSX (DA/T 22 item list)."""
    from archive.export import write_catalog_xlsx

    rows = home.catalogue.list(_filter(home.settings, **flt))
    write_catalog_xlsx(rows, out_path)
    out.print(f"已写出归档文件目录 {len(rows)} 条: {out_path} (catalogue written)")


@main.command()
@pass_home
@handles_errors
def reindex(home: Home) -> None:
    """从存储中的 AIP 重建目录数据库 (rebuild the catalogue from storage)."""
    from archive.indexing import open_search
    from archive.indexing import rebuild as rebuild_index
    from archive.indexing import sync as sync_index
    from archive.reindex import ReadProblem, rebuild

    problems: list[ReadProblem] = []
    home.use_catalogue(Catalogue(home.settings.catalogue_path, replace_damaged=True))
    count = rebuild(home.settings, home.catalogue, problems)
    for problem in problems:
        err.print(f"[{'red' if problem.left_out else 'yellow'}]注意[/] {escape(str(problem))}", soft_wrap=True)
    out.print(f"已从存储重建目录: {count} 件 (catalogue rebuilt from storage)")
    locations = _locations(home.settings)
    with open_search(home.settings) as index:
        indexed = rebuild_index(home.catalogue, index, locations)
        sync_index(home.catalogue, index, locations)  # what was archived while the index was being rebuilt
    out.print(f"已重建检索索引: {indexed} 件 (search index rebuilt)")
    if any(p.left_out for p in problems):
        sys.exit(ExitCode.storage)


def _size(value: str | None) -> int | None:
    """``500M``, ``10G``, ``1T`` or plain bytes."""
    if value is None:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = value.strip().upper().removesuffix("B")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise UsageError(f"无法识别的大小 (bad size): {value}; 例如 500M, 10G") from None


@main.command()
@click.option("--max-seconds", type=float, help="本次最多检测的秒数 (stop after this many seconds)")
@click.option("--max-bytes", help="本次最多读取的数据量, 如 50G (stop after reading this much)")
@click.option("--all", "check_all", is_flag=True, help="检测全部副本, 含 SM3 (check every copy, both digests)")
@click.option("--location", help="只检测这个存储位置 (only this location)")
@click.option("--repair", is_flag=True, help="用完好副本修复损坏或缺失的副本 (repair from a good copy)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def audit(
    home: Home,
    max_seconds: float | None,
    max_bytes: str | None,
    check_all: bool,
    location: str | None,
    repair: bool,
    as_json: bool,
) -> None:
    """定期检测: 逐份核验各存储位置中的 AIP (fixity audit of every copy)."""
    from archive.audit import AuditOptions
    from archive.audit import audit as run_audit

    options = AuditOptions(max_seconds, _size(max_bytes), check_all, location, repair)
    report = run_audit(home.settings, home.catalogue, _locations(home.settings), options)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_audit(report)
    sys.exit(report.exit_code)


_KIND = {
    "corrupt": "损坏", "truncated": "截短", "missing": "缺失文件", "extra": "多余文件",
    "missing_copy": "缺少副本", "unreadable": "无法读取",
}  # fmt: skip


def _print_audit(report: Any) -> None:
    from archive.audit import NO_GOOD_COPY
    from archive.copycheck import PROBLEM_CODES

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
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@pass_home
@handles_errors
def search(
    home: Home,
    query: str,
    fonds: str | None,
    year: str | None,
    category: str | None,
    retention: str | None,
    dates: str | None,
    limit: int,
    page: int,
    as_json: bool,
) -> None:
    """全文检索 (full-text search over metadata and the text of every record)."""
    from archive.indexing import has_searchable, open_search
    from archive.indexing import sync as sync_index
    from metadata_profiles import class_codes
    from search import Query

    if page < 1:
        raise UsageError(f"页码从 1 开始 (pages start at 1): {page}")
    year_from, year_to = _year_range(year)
    fonds, category, retention = class_codes(home.settings, fonds, category, retention)
    date_from, dash, date_to = unicodedata.normalize("NFKC", dates or "").strip().partition("-")
    if not dash:
        date_to = date_from  # one day
    visible = frozenset(f.code for f in home.settings.fonds)
    q = Query(
        text=query, visible_fonds=visible, fonds=fonds, year_from=year_from, year_to=year_to, category=category,
        retention=retention, date_from=date_from or None, date_to=date_to or None, limit=limit,
        offset=(page - 1) * limit,
    )  # fmt: skip
    with open_search(home.settings) as index:
        result = index.search(q)
        # The index is a cache: one found damaged (set aside) or lost is filled again from the catalogue.
        if index.damaged_copy is not None or (
            result.total == 0 and has_searchable(home.catalogue) and not index.codes()
        ):
            moved = f", 损坏的文件已移到 {index.damaged_copy}" if index.damaged_copy else ""
            err.print(f"检索索引为空或已损坏, 正在从目录重建{escape(moved)} (rebuilding the index)", soft_wrap=True)
            added, _ = sync_index(home.catalogue, index, _locations(home.settings))
            if added:
                result = index.search(q)
    if as_json:
        _emit_json(result.to_dict())
        return
    out.print(f"共 {result.total} 件 (hits), 第 {page} 页")
    for hit in result.hits:
        out.print(f"[bold]{hit.archival_code}[/bold]  {escape(hit.title)}")
        if hit.snippet:
            out.print(f"    {hit.snippet}", soft_wrap=True, markup=False)
    for name, label in (("fonds", "全宗"), ("year", "年度"), ("category", "门类"), ("retention", "保管期限")):
        counts = result.facets.get(name, {})
        if counts:
            out.print(f"{label}: " + "  ".join(f"{k} ({n})" for k, n in counts.items()))
