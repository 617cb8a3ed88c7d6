"""利用 (export): a DIP is built only from files that match the catalogue's record, from any good copy,
and appears whole or not at all; a bad destination is a clean error, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

import archive.export as export_module
from archive.aip import ITEM_XML
from archive.errors import MissingDependencyError, StorageError, UsageError
from archive.export import export_dip
from archive.storage import open_locations
from dangan.catalog_list import write_catalog_xlsx
from retention.registers import find_cjk_font

from .conftest import make_scan_batch
from .test_ingest import ingest

CODE = "J012-WS·2023-D30-0001"
PAGE = "data/original/扫描件001.tif"
UNFINISHED = "未完成"  # in the name of a DIP's work folder, so a crash's leftover never passes for a DIP


@pytest.fixture
def archived(home, tmp_path):
    """One D30 item, held by the locations local (store) and copy2; returns its source batch."""
    batch = make_scan_batch(tmp_path / "batch", 1)
    assert ingest(home, batch).exit_code == 0
    assert sorted(home.catalogue.copies(CODE)) == ["copy2", "local"]
    return batch


def stored(home, folder: str, relpath: str) -> Path:
    return home.path / folder / "J012" / CODE / relpath


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_title(path: Path) -> None:
    """What a careless hand in the store does: the 题名 rewritten, the file still well-formed XML."""
    text = path.read_text(encoding="utf-8")
    title = text.split("<题名>", 1)[1].split("</题名>", 1)[0]
    path.write_text(text.replace(f"<题名>{title}</题名>", "<题名>篡改的题名</题名>"), encoding="utf-8")
    assert "篡改的题名" in path.read_text(encoding="utf-8")


def leftovers(parent: Path) -> list[str]:
    """Work folders or partial files an export left beside its destination."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") or UNFINISHED in p.name)


def test_edited_tag_file_is_refused_when_no_other_copy(home, archived, tmp_path):
    edit_title(stored(home, "store", ITEM_XML))
    primary = open_locations(home.settings)[0]
    dest = tmp_path / "dip"
    with pytest.raises(StorageError) as caught:
        export_dip(home.catalogue, [primary], CODE, dest)
    assert ITEM_XML in str(caught.value) and "没有完好的副本" in str(caught.value)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_damaged_payload_with_one_location_leaves_nothing_at_dest(home, archived, tmp_path):
    flip_last_byte(stored(home, "store", PAGE))
    dest = tmp_path / "dip"
    with pytest.raises(StorageError, match="没有完好的副本"):
        export_dip(home.catalogue, open_locations(home.settings)[:1], CODE, dest)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_edited_tag_file_is_served_from_an_intact_copy(home, archived, tmp_path):
    original = stored(home, "copy2", ITEM_XML).read_bytes()
    edit_title(stored(home, "store", ITEM_XML))
    notes: list[str] = []
    export_dip(home.catalogue, open_locations(home.settings), CODE, tmp_path / "dip", notes=notes)
    assert (tmp_path / "dip/元数据.xml").read_bytes() == original
    assert "篡改的题名" not in (tmp_path / "dip/元数据.xml").read_text(encoding="utf-8")
    assert len(notes) == 1 and "local" in notes[0] and ITEM_XML in notes[0]


def test_damaged_payload_in_primary_is_exported_from_copy2(home, archived, tmp_path):
    flip_last_byte(stored(home, "store", PAGE))
    written = export_dip(home.catalogue, open_locations(home.settings), CODE, tmp_path / "dip")
    assert (tmp_path / "dip/文件/扫描件001.tif").read_bytes() == (archived / "扫描件001.tif").read_bytes()
    assert (tmp_path / "dip/元数据.xml").read_bytes() == stored(home, "store", ITEM_XML).read_bytes()
    names = {p.relative_to(tmp_path / "dip").as_posix() for p in written}
    assert names == {"文件/扫描件001.tif", "元数据.xml", "检测报告.xml", "说明.txt"}
    assert all(p.is_file() for p in written)
    assert leftovers(tmp_path) == []


def test_a_copy_missing_from_a_location_is_passed_over(home, archived, tmp_path):
    """copy3 never held this D30 item; listing it first must not stop the export."""
    locations = open_locations(home.settings)
    export_dip(home.catalogue, [locations[2], *locations[:2]], CODE, tmp_path / "dip")
    assert (tmp_path / "dip/文件/扫描件001.tif").read_bytes() == (archived / "扫描件001.tif").read_bytes()


def test_damaged_everywhere_leaves_nothing_at_dest(home, archived, tmp_path):
    flip_last_byte(stored(home, "store", PAGE))
    stored(home, "copy2", PAGE).write_bytes(b"truncated")
    dest = tmp_path / "out" / "dip"
    with pytest.raises(StorageError) as caught:
        export_dip(home.catalogue, open_locations(home.settings), CODE, dest)
    message = str(caught.value)
    assert PAGE in message and "没有完好的副本" in message and "local" in message and "copy2" in message
    assert not dest.exists() and leftovers(dest.parent) == []


def test_dip_appears_whole_and_its_work_folder_never_looks_like_one(home, archived, tmp_path, monkeypatch):
    """While the DIP is being built, DEST does not exist and the work folder is hidden and marked unfinished."""
    seen: list[list[str]] = []
    real = export_module.make_tree_durable

    def look(work: Path) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        real(work)

    monkeypatch.setattr(export_module, "make_tree_durable", look)
    export_dip(home.catalogue, open_locations(home.settings), CODE, tmp_path / "dip")
    (during,) = seen
    assert "dip" not in during
    (work,) = [n for n in during if UNFINISHED in n]
    assert work.startswith(".dip.")
    assert "dip" in os.listdir(tmp_path) and leftovers(tmp_path) == []


def test_failure_while_building_removes_the_work_folder(home, archived, tmp_path, monkeypatch):
    def crash(work: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "make_tree_durable", crash)
    with pytest.raises(KeyboardInterrupt):
        export_dip(home.catalogue, open_locations(home.settings), CODE, tmp_path / "dip")
    assert not (tmp_path / "dip").exists() and leftovers(tmp_path) == []


def test_empty_dest_is_filled_and_non_empty_dest_is_refused_untouched(home, archived, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    export_dip(home.catalogue, open_locations(home.settings), CODE, empty)
    assert (empty / "文件/扫描件001.tif").is_file()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "别人的文件.txt").write_text("留着", encoding="utf-8")
    with pytest.raises(UsageError, match="不为空"):
        export_dip(home.catalogue, open_locations(home.settings), CODE, busy)
    assert os.listdir(busy) == ["别人的文件.txt"] and leftovers(tmp_path) == []


def test_dest_that_is_a_file_is_a_usage_error_through_the_cli(cli, home, archived, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("不是目录", encoding="utf-8")
    code, output, _ = cli("export", CODE, str(afile))
    assert code == 2, output
    assert str(afile) in output and "不是目录" in output and "Traceback" not in output
    assert afile.read_text(encoding="utf-8") == "不是目录"
    code, output, _ = cli("export", CODE, str(afile / "sub"))
    assert code == 2 and str(afile / "sub") in output, output


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_dest_that_cannot_be_created_is_a_usage_error_through_the_cli(cli, archived):
    code, output, _ = cli("export", CODE, "/proc/dangan-export-test")
    assert code == 2, output
    assert "/proc/dangan-export-test" in output and "无法写入目标" in output


def test_catalog_into_a_missing_folder_is_a_usage_error(cli, home, archived, tmp_path):
    out = tmp_path / "nonexist" / "dir" / "x.xlsx"
    code, output, _ = cli("catalog", "--out", str(out))
    assert code == 2, output
    assert "输出目录不存在" in output and str(out.parent) in output
    assert not out.parent.exists()
    with pytest.raises(UsageError):
        write_catalog_xlsx(home.catalogue.list(), out)


def test_catalog_write_failure_leaves_no_partial_file(home, archived, tmp_path, monkeypatch):
    def refuse(self, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(UsageError, match="无法写入目标"):
        write_catalog_xlsx(home.catalogue.list(), tmp_path / "目录.xlsx")
    assert not any(p.name.endswith(".part") or p.name == "目录.xlsx" for p in tmp_path.iterdir())


@pytest.mark.parametrize("name", ["目录.pdf", "目录.PDF"])
def test_catalog_out_pdf_writes_a_pdf(cli, archived, tmp_path, name):
    try:
        find_cjk_font()
    except MissingDependencyError:
        pytest.skip("no CJK font: install the Debian package fonts-noto-cjk")
    out = tmp_path / name
    code, output, _ = cli("catalog", "--out", str(out))
    assert code == 0, output
    assert out.read_bytes().startswith(b"%PDF-")  # not an XLSX (a zip) under a .pdf name
    page = pdfium.PdfDocument(out)[0]
    text = page.get_textpage().get_text_range()
    assert "归档文件目录" in text and CODE in text.replace("\r", "").replace("\n", "")


@pytest.mark.parametrize("name", ["目录.csv", "目录", "目录.xls", "目录.xlsx.txt", "目录.docx"])
def test_catalog_out_in_a_format_it_does_not_write_is_refused_writing_nothing(cli, archived, tmp_path, name):
    out = tmp_path / "out" / name
    out.parent.mkdir()
    code, output, _ = cli("catalog", "--out", str(out))
    assert code == 2, output
    assert "不支持的目录格式" in output and ".xlsx 或 .pdf" in output
    assert list(out.parent.iterdir()) == []


def test_catalog_out_xlsx_in_any_case_is_an_xlsx(cli, archived, tmp_path):
    out = tmp_path / "目录.XLSX"
    code, output, _ = cli("catalog", "--out", str(out))
    assert code == 0, output
    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    assert rows[2][1] == CODE
