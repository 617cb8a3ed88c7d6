"""The catalogue owns every SQL statement: only it (and the FTS index) touch SQLite, it hands out
frozen rows whose JSON is what ``dict()`` of an SQLite row gave, it raises the archive's own errors,
and its 件号 allocation keeps its contract with several writer processes on one real file."""

from __future__ import annotations

import ast
import multiprocessing
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.catalogue import Catalogue, EventRow, FileRow, IndexedAIP, ItemRow
from archive.errors import CatalogueDamagedError, ExitCode
from archive.model import FileEntry, Item, ItemMetadata
from archive.premis import Event
from dangan.cli import main as cli_main

from .test_layers import REPO, project_modules

#: the only modules that may import sqlite3: the catalogue, the FTS index, and their shared file helpers
SQLITE_OWNERS = ("archive/catalogue/", "archive/sqlitefile.py", "search/fts.py", "search/fts_")  # fts_*.py: its parts


def sqlite_imports(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(n == "sqlite3" or n.startswith("sqlite3.") for n in names):
            lines.append(node.lineno)
    return lines


def test_only_the_catalogue_and_the_fts_index_import_sqlite3():
    outside = [
        f"{rel}:{line}"
        for path in project_modules()
        if not (rel := path.relative_to(REPO).as_posix()).startswith(SQLITE_OWNERS)
        for line in sqlite_imports(path)
    ]
    assert outside == []
    assert sqlite_imports(REPO / "archive/catalogue/connection.py"), "the walk must see the catalogue's own import"


def test_the_walk_sees_an_import_inside_a_function(tmp_path):
    sneaky = tmp_path / "m.py"
    sneaky.write_text("def f():\n    from sqlite3 import connect\n    import sqlite3 as db\n", encoding="utf-8")
    assert sqlite_imports(sneaky) == [2, 3]


# --- rows ----------------------------------------------------------------------------------


def meta(n: int | None = None, year: int = 2024, title: str = "关于低保的通知") -> ItemMetadata:
    m = ItemMetadata(fonds_code="J012", fonds_name="振兴社区居民委员会", category="WS", year=year, retention="D10",
                     title=title, author="居委会", date=f"{year}0102", page_count=2, carrier="纸质")  # fmt: skip
    return m if n is None else numbered(m, n)


def numbered(m: ItemMetadata, n: int) -> ItemMetadata:
    return replace(m, item_number=n, archival_code=f"{m.fonds_code}-{m.category}·{m.year}-{m.retention}-{n:04d}")


def aip(m: ItemMetadata) -> IndexedAIP:
    digest = f"{m.archival_code}".encode().hex().ljust(64, "0")[:64]
    item = Item(m, [FileEntry("扫描件.tif", 1234, digest, digest, "fmt/353", "TIFF", pages=2)])
    tags = {"bag-info.txt": {"size": 10, "sha256": "a" * 64, "sm3": "b" * 64}}
    events = [Event("ingestion", "接收 (ingested)", "success", time="2024-01-02T03:04:05+00:00")]
    return IndexedAIP(f"J012/{m.archival_code}", item, tags, events, "2024-01-02T03:04:05+00:00")


def test_rows_give_the_json_an_sqlite_row_gave(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    cat = Catalogue(path)
    try:
        cat.index(aip(meta(1)))
        code = "J012-WS·2024-D10-0001"
        item, files, events = cat.get(code), cat.files(code), cat.events(code)
        listed = cat.list()
    finally:
        cat.close()
    raw = sqlite3.connect(path)
    raw.row_factory = sqlite3.Row
    try:
        assert item.to_json() == dict(raw.execute("SELECT * FROM items").fetchone())
        assert list(item.to_json()) == list(dict(raw.execute("SELECT * FROM items").fetchone()))  # key order too
        assert [f.to_json() for f in files] == [dict(r) for r in raw.execute("SELECT * FROM files ORDER BY kind, path")]
        assert [e.to_json() for e in events] == [dict(r) for r in raw.execute("SELECT * FROM events")]
    finally:
        raw.close()
    assert isinstance(item, ItemRow) and all(isinstance(f, FileRow) for f in files)
    assert all(isinstance(e, EventRow) for e in events) and listed == [item]
    assert item.metadata() == meta(1) and files[0].entry().name == "扫描件.tif"
    with pytest.raises(AttributeError):
        item.status = "destroyed"  # type: ignore[misc]  # frozen: a row is an answer, not a handle


# --- errors --------------------------------------------------------------------------------


def damage_items_pages(path: Path) -> None:
    """Overwrite every page but the first (the schema), as a failing disk would."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))


def test_damage_found_after_opening_is_the_catalogues_own_error_and_exit_4(home):
    home.catalogue.index(aip(meta(1)))
    home.catalogue.close()
    damage_items_pages(home.settings.catalogue_path)
    cat = Catalogue(home.settings.catalogue_path, create=False)  # opens: only the schema page is read
    try:
        with pytest.raises(CatalogueDamagedError, match="dangan reindex") as caught:
            cat.list()
        assert caught.value.exit_code == ExitCode.storage
    finally:
        cat.close()
    result = CliRunner().invoke(cli_main, ["--home", str(home.path), "list"])
    assert result.exit_code == 4, result.output
    assert "目录数据库已损坏, 请运行 dangan reindex 从存储重建" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- 件号 allocation -----------------------------------------------------------------------


def allocate_many(path: str, count: int, year: int, start: multiprocessing.synchronize.Event) -> None:
    """One writer process: ``count`` items of one class, each taking its number as ingest does."""
    cat = Catalogue(Path(path))
    start.wait()
    try:
        for i in range(count):
            cat.allocate_and_commit(
                meta(year=year, title=f"进程 {os.getpid()} 第 {i} 件"), lambda n: aip(numbered(meta(year=year), n))
            )
    finally:
        cat.close()


def test_writer_processes_take_unique_gap_free_numbers_per_class(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    Catalogue(path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    # four writers on one class, two on another: each class must run 1..N on its own
    plan = [(2024, 15)] * 4 + [(2023, 10)] * 2
    procs = [ctx.Process(target=allocate_many, args=(str(path), n, year, start)) for year, n in plan]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    cat = Catalogue(path)
    try:
        rows = cat.list()
    finally:
        cat.close()
    for year, total in ((2024, 60), (2023, 20)):
        numbers = [r.item_number for r in rows if r.year == year]
        assert numbers == list(range(1, total + 1))  # 档号 order: unique and no gap


def die_while_allocating(path: str) -> None:
    """A writer killed after taking a number and writing, before the catalogue commits."""
    cat = Catalogue(Path(path))
    cat.allocate_and_commit(meta(), lambda n: os._exit(9))


def test_a_crash_between_allocation_and_commit_takes_no_number(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    cat = Catalogue(path)
    try:
        cat.allocate_and_commit(meta(), lambda n: aip(numbered(meta(), n)))
        proc = multiprocessing.get_context("spawn").Process(target=die_while_allocating, args=(str(path),))
        proc.start()
        proc.join(60)
        assert proc.exitcode == 9
        taken: list[int] = []
        cat.allocate_and_commit(meta(), lambda n: taken.append(n) or aip(numbered(meta(), n)))
        assert taken == [2]  # the killed writer's number 2 was never taken
    finally:
        cat.close()


def test_an_aip_left_in_storage_under_a_number_is_catalogued_and_the_next_number_taken(tmp_path):
    """``commit`` returning None: storage already holds that number's AIP (a crash left it); the
    caller catalogues it inside the same transaction and the allocation moves on, with no gap."""
    cat = Catalogue(tmp_path / "catalogue.sqlite")
    left_behind = aip(numbered(meta(title="崩溃前已写入"), 1))
    tried: list[int] = []

    def commit(n: int) -> IndexedAIP | None:
        tried.append(n)
        if n == 1:
            cat.index_in_transaction(left_behind)
            return None
        return aip(numbered(meta(), n))

    try:
        done = cat.allocate_and_commit(meta(), commit)
        assert tried == [1, 2] and done.item.metadata.item_number == 2
        assert [(r.item_number, r.title) for r in cat.list()] == [(1, "崩溃前已写入"), (2, "关于低保的通知")]
    finally:
        cat.close()


def test_first_events_take_each_items_earliest_success_without_sqlites_bare_column(tmp_path):
    cat = Catalogue(tmp_path / "catalogue.sqlite")
    try:
        for n in (1, 2):
            cat.index(aip(meta(n)))
        code1, code2 = "J012-WS·2024-D10-0001", "J012-WS·2024-D10-0002"
        with cat.write():
            for code, when, outcome, transfer_id in [
                (code1, "2025-03-01T00:00:00+00:00", "success", "YJ-2"),
                (code1, "2025-01-01T00:00:00+00:00", "failure", "YJ-0"),  # earlier, but failed
                (code1, "2025-02-01T00:00:00+00:00", "success", "YJ-1"),
                (code2, "2025-04-01T00:00:00+00:00", "success", "YJ-3"),
            ]:
                cat.add_event(code, Event("transfer", "移交", outcome, transfer_id, time=when))
        first = cat.first_events("transfer")
    finally:
        cat.close()
    assert [(e.archival_code, e.outcome_detail) for e in first] == [(code1, "YJ-1"), (code2, "YJ-3")]
