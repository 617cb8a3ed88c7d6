"""Ingest end to end on the embedded defaults: AIPs, 档号, checks, duplicates, reindex, export."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import bagit
import pytest
from openpyxl import load_workbook

from archive.aip import ITEM_XML, PREMIS_XML, REPORT_XML
from archive.bagcheck import validate_bag
from archive.catalogue import ListFilter
from archive.itemxml import item_from_xml
from archive.reindex import rebuild
from archive.storage import open_locations
from archive.xmlsafe import parse_xml
from ingest.metadata import ClassDefaults
from ingest.pipeline import Ingestor

from .conftest import CORPORA, make_image, make_scan_batch, staging_leftovers

WS_2023 = ClassDefaults(
    category="WS", year=2023, retention="D30", carrier="纸质", author="振兴社区居委会", date="20230301"
)


def ingest(home, root: Path, catalog: Path | None = None, defaults: ClassDefaults = WS_2023):
    return Ingestor.open(home.settings, home.catalogue).run(root, catalog, defaults)


def aip_dirs(home) -> list[Path]:
    return sorted(p for p in home.store.glob("*/*") if p.is_dir())


def test_bare_folder_becomes_numbered_aips(home, tmp_path):
    result = ingest(home, make_scan_batch(tmp_path / "batch", 3))
    assert result.exit_code == 0, result.to_json()
    codes = [r.archival_code for r in result.items]
    assert codes == ["J012-WS·2023-D30-0001", "J012-WS·2023-D30-0002", "J012-WS·2023-D30-0003"]
    assert [p.name for p in aip_dirs(home)] == codes


def test_aip_is_a_complete_bag_both_validators_accept(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "batch", 1))
    (bag_dir,) = aip_dirs(home)
    for name in ("manifest-sha256.txt", "manifest-sm3.txt", "tagmanifest-sha256.txt", "tagmanifest-sm3.txt",
                 ITEM_XML, REPORT_XML, PREMIS_XML):  # fmt: skip
        assert (bag_dir / name).is_file(), name
    bagit.Bag(str(bag_dir)).validate()
    report = validate_bag(bag_dir)
    assert report.valid, report.errors
    info = dict(bagit.Bag(str(bag_dir)).info)
    assert info["External-Identifier"] == "J012-WS·2023-D30-0001"
    assert info["Source-Organization"] == "振兴社区居民委员会"
    assert info["Payload-Oxum"].endswith(".1")
    assert info["DA-Retention"] == "D30" and info["DA-Year"] == "2023"
    assert (bag_dir / "data/original/扫描件001.tif").is_file()


def test_a_name_no_manifest_can_list_is_refused_and_the_rest_archived(home, tmp_path):
    batch = tmp_path / "batch"
    make_image(batch / "a\\b.tif", seed=1)  # a legal Linux name; "a/b.tif" once a manifest is read on Windows
    make_image(batch / "第2页.tif", seed=2)
    result = ingest(home, batch)
    rejected, archived = result.items
    assert rejected.status == "rejected" and rejected.errors[0].code == "GD-4-7"
    assert "反斜杠" in rejected.errors[0].message and rejected.errors[0].path == "a\\b.tif"
    assert archived.status == "archived"
    (bag_dir,) = aip_dirs(home)
    assert validate_bag(bag_dir).valid


def test_scans_with_no_carrier_stated_are_checked_as_scans(home, tmp_path):
    batch = tmp_path / "batch"
    make_image(batch / "低分辨率.tif", dpi=100, seed=1)
    make_image(batch / "无分辨率.png", dpi=None, seed=2)
    (batch / "说明.txt").write_text("居委会工作说明", encoding="utf-8")
    unstated = replace(WS_2023, carrier=None)
    low, missing, text = ingest(home, batch, defaults=unstated).items
    for r in (low, missing):
        assert r.status == "rejected" and [e.code for e in r.errors] == ["GD-3-5"], r.to_json()
        assert any(w.code == "GD-2-4" and "载体" in w.message for w in r.warnings)
    assert text.status == "rejected" and [e.code for e in text.errors] == ["GD-2-4"]
    assert "无法从这些文件得出" in text.errors[0].message  # a text file has no pages to count: says where to give them
    born_digital = ingest(home, batch, defaults=replace(WS_2023, carrier="电子")).items
    assert [r.status for r in born_digital[:2]] == ["archived", "archived"]
    assert home.catalogue.get(born_digital[0].archival_code).carrier == "电子"


def test_check_report_and_premis_are_stored(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "batch", 1))
    (bag_dir,) = aip_dirs(home)
    report = parse_xml((bag_dir / REPORT_XML).read_bytes(), name="report")
    verdicts = {el.get("代码"): el.get("结论") for el in report}
    assert verdicts["GD-1-7"] == "通过" and verdicts["GD-3-5"] == "通过" and verdicts["GD-1-1"] == "通过"
    assert report.get("结论") == "通过"
    premis = (bag_dir / PREMIS_XML).read_text(encoding="utf-8")
    for event in ("ingestion", "validation", "message digest calculation", "format identification"):
        assert f"<premis:eventType>{event}</premis:eventType>" in premis
    item = item_from_xml((bag_dir / ITEM_XML).read_bytes(), name="item.xml")
    assert item.files[0].dpi == pytest.approx(300)
    assert item.files[0].puid and item.files[0].puid.startswith("fmt/")


def write_catalog(path: Path, rows: list[dict[str, str]], encoding: str = "gb18030") -> Path:
    cols = ["题名", "责任者", "日期", "文号", "密级", "页数", "保管期限", "备注", "载体", "文件"]
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def row(title: str, files: str, pages: str = "1", retention: str = "永久", carrier: str = "纸质") -> dict[str, str]:
    return {"题名": title, "责任者": "振兴社区居委会", "日期": "20230315", "文号": "", "密级": "", "页数": pages,
            "保管期限": retention, "备注": "", "载体": carrier, "文件": files}  # fmt: skip


def test_catalog_batch_with_rejections_goes_on(home, tmp_path):
    src = tmp_path / "batch"
    make_image(src / "会议记录.tif", pages=2, seed=1)
    make_image(src / "低分辨率.tif", dpi=150, seed=2)
    make_image(src / "无分辨率.png", dpi=None, seed=3)
    make_image(src / "页数不符.tif", seed=4)
    make_image(src / "照片.jpg", dpi=None, mode="RGB", seed=5)
    whole = (src / "照片.jpg").read_bytes()
    (src / "损坏.jpg").write_bytes(whole[: len(whole) * 2 // 3])  # cut short, as a copy interrupted: made here, so
    # the test needs no corpus (../shared may be absent)
    catalog = write_catalog(
        tmp_path / "目录.csv",
        [
            row("居委会换届选举会议记录", "会议记录.tif", pages="2"),
            row("低分辨率扫描件", "低分辨率.tif"),
            row("无分辨率扫描件", "无分辨率.png"),
            row("页数不符的扫描件", "页数不符.tif", pages="3"),
            row("损坏的扫描件", "损坏.jpg"),
            row("社区活动照片", "照片.jpg", carrier="电子"),
        ],
    )
    result = ingest(home, src, catalog, ClassDefaults(category="WS", year=2023))
    by_title = {r.source: r for r in result.items}
    status = [r.status for r in result.items]
    assert status == ["archived", "rejected", "rejected", "rejected", "rejected", "archived"], result.to_json()
    codes = [{e.code for e in r.errors} for r in result.items]
    assert codes[1] == {"GD-3-5"} and codes[2] == {"GD-3-5"} and codes[3] == {"GD-1-10"} and "GD-3-4" in codes[4]
    assert result.exit_code == 1
    assert [r.archival_code for r in result.items if r.archival_code] == ["J012-WS·2023-Y-0001", "J012-WS·2023-Y-0002"]
    assert len(by_title) == 6
    assert len(aip_dirs(home)) == 2


def test_unlisted_and_missing_files_are_reported(home, tmp_path):
    src = tmp_path / "batch"
    make_image(src / "a.tif", seed=1)
    make_image(src / "未列入.tif", seed=2)
    catalog = write_catalog(tmp_path / "目录.csv", [row("甲", "a.tif"), row("乙", "不存在.tif")], encoding="utf-8")
    result = ingest(home, src, catalog, ClassDefaults(category="WS", year=2023))
    errors = {e.code for r in result.items for e in r.errors}
    assert {"GD-2-1", "GD-2-7"} <= errors
    assert result.count("archived") == 1 and result.exit_code == 1


def test_rerun_archives_nothing_twice(home, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 3)
    ingest(home, batch)
    again = ingest(home, batch)
    assert [r.status for r in again.items] == ["duplicate"] * 3
    assert again.exit_code == 0
    assert len(aip_dirs(home)) == 3


def test_reindex_rebuilds_the_same_catalogue(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "b1", 2))
    ingest(
        home,
        make_scan_batch(tmp_path / "b2", 2, seed=1),
        defaults=ClassDefaults(
            category="ZY·DB", year=2022, retention="D10", carrier="纸质", author="社区", date="20220105"
        ),
    )
    before = home.catalogue.dump()
    assert len(before["items"]) == 4
    home.catalogue.close()
    home.settings.catalogue_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(home.settings.catalogue_path) + suffix).unlink(missing_ok=True)
    from archive.catalogue import Catalogue

    home.catalogue = Catalogue(home.settings.catalogue_path)
    assert home.catalogue.dump()["items"] == []
    assert rebuild(home.settings, home.catalogue) == 4
    assert home.catalogue.dump() == before


def test_list_filters(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "b1", 2))
    ingest(
        home,
        make_scan_batch(tmp_path / "b2", 1, seed=2),
        defaults=ClassDefaults(
            category="KU", year=2019, retention="D10", carrier="纸质", author="社区", date="20190105"
        ),
    )
    cat = home.catalogue
    assert len(cat.list()) == 3
    assert [r.archival_code for r in cat.list(ListFilter(category="KU"))] == ["J012-KU·2019-D10-0001"]
    assert len(cat.list(ListFilter(year_from=2020, year_to=2023))) == 2
    assert len(cat.list(ListFilter(retention="D10", fonds="J012"))) == 1


def test_export_dip_checks_and_copies(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "batch", 1))
    from archive.export import export_dip

    loc = open_locations(home.settings)[:1]
    written = export_dip(home.catalogue, loc, "J012-WS·2023-D30-0001", tmp_path / "dip")
    names = {p.relative_to(tmp_path / "dip").as_posix() for p in written}
    assert {"文件/扫描件001.tif", "元数据.xml", "检测报告.xml", "说明.txt"} <= names
    assert "档号: J012-WS·2023-D30-0001" in (tmp_path / "dip/说明.txt").read_text(encoding="utf-8")
    # A damaged stored copy is refused, never handed over.
    stored = home.store / "J012/J012-WS·2023-D30-0001/data/original/扫描件001.tif"
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    from archive.errors import StorageError

    with pytest.raises(StorageError):
        export_dip(home.catalogue, loc, "J012-WS·2023-D30-0001", tmp_path / "dip2")
    assert not (tmp_path / "dip2/文件/扫描件001.tif").exists()


def test_catalog_xlsx_has_dat22_columns(home, tmp_path):
    ingest(home, make_scan_batch(tmp_path / "batch", 2))
    from dangan.catalog_list import CATALOG_COLUMNS, write_catalog_xlsx

    out = tmp_path / "目录.xlsx"
    write_catalog_xlsx(home.catalogue.list(), out)
    ws = load_workbook(out).active
    assert tuple(c.value for c in ws[2]) == CATALOG_COLUMNS
    assert ws["B3"].value == "J012-WS·2023-D30-0001" and ws["A4"].value == 2


def test_corpus_files_archive_or_are_rejected_cleanly(home, tmp_path):
    """Every hostile corpus file is either archived or rejected with a named rule; no partial AIP remains."""
    if not CORPORA.is_dir():
        pytest.skip("../shared/corpora is not beside the checkout")
    src = tmp_path / "batch"
    src.mkdir()
    for folder in ("images", "pdfs"):
        for f in sorted((CORPORA / folder).iterdir()):
            if f.is_file() and f.suffix.lower() in {".jpg", ".png", ".tif", ".tiff", ".gif", ".pdf", ".bin"}:
                shutil.copyfile(f, src / f.name)
    result = ingest(
        home,
        src,
        defaults=ClassDefaults(
            category="WS", year=2023, retention="D10", carrier="电子", author="社区", date="20230105"
        ),
    )
    assert len(result.items) == len(list(src.iterdir()))
    for r in result.items:
        assert r.status in {"archived", "rejected", "duplicate"}
        if r.status == "rejected":
            assert r.errors and all(e.code.startswith("GD-") and e.message for e in r.errors), r.to_json()
    by_name = {r.source: r.status for r in result.items}
    for bad in (
        "truncated_jpeg.jpg",
        "broken.png",
        "decompression_bomb.gif",
        "pikepdf_graph-encrypted.pdf",
        "qpdf_empty.pdf",
        "qpdf_bad1.pdf",
    ):
        assert by_name[bad] == "rejected", bad
    for good in ("hopper.jpg", "hopper.tif", "pikepdf_fourpages.pdf", "multipage.tiff"):
        assert by_name[good] == "archived", good
    assert not staging_leftovers(home.store)
    for bag_dir in aip_dirs(home):
        assert validate_bag(bag_dir).valid, bag_dir


def test_a_period_below_the_schedules_legal_minimum_is_refused_at_ingest(home, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 1)
    vouchers = replace(WS_2023, category="KU·PZ", year=2016, retention="D10", date="20160301")
    (result,) = ingest(home, batch, defaults=vouchers).items
    assert result.status == "rejected" and [e.code for e in result.errors] == ["GD-1-4"]
    assert "定期30年" in result.errors[0].message  # 会计凭证: at least 30 years
    assert aip_dirs(home) == []
    (ok,) = ingest(home, batch, defaults=replace(vouchers, retention="D30")).items
    assert ok.status == "archived" and ok.archival_code == "J012-KU·PZ·2016-D30-0001"


# --- ceilings and active content ([ingest] max_pages, active_content, ocr_time_limit) ---------


def ingest_with(home, root: Path, catalog: Path | None = None, defaults: ClassDefaults = WS_2023, **options):
    settings = replace(home.settings, ingest={**home.settings.ingest, **options})
    return Ingestor.open(settings, home.catalogue).run(root, catalog, defaults)


def test_items_over_max_pages_are_rejected_naming_the_setting(home, tmp_path):
    src = tmp_path / "batch"
    make_image(src / "长卷.tif", pages=4, seed=1)
    make_image(src / "上.tif", pages=2, seed=2)
    make_image(src / "下.tif", pages=2, seed=3)
    make_image(src / "列明.tif", seed=4)
    make_image(src / "三页.tif", pages=3, seed=5)
    rows = [
        row("一个文件超过上限", "长卷.tif", pages="4"),
        row("两个文件合计超过上限", "上.tif;下.tif", pages="4"),
        row("目录所记页数超过上限", "列明.tif", pages="9"),
        row("普通的三页扫描件", "三页.tif", pages="3"),
    ]
    catalog = write_catalog(tmp_path / "目录.csv", rows)
    one, both, listed, ordinary = ingest_with(
        home, src, catalog, ClassDefaults(category="WS", year=2023), max_pages=3
    ).items
    for r in (one, both, listed):
        assert r.status == "rejected" and {e.code for e in r.errors} == {"GD-3-4"}, r.to_json()
        assert any("max_pages = 3" in e.message for e in r.errors)
    assert "GD-1-10" not in {e.code for e in listed.errors}  # refused before its files were even read
    assert ordinary.status == "archived", ordinary.to_json()


def _javascript_pdf(path: Path) -> Path:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    pdf.save(path)
    return path


def test_active_content_is_warned_in_the_report_or_refused_by_setting(home, tmp_path):
    src = tmp_path / "batch"
    src.mkdir()
    _javascript_pdf(src / "带脚本.pdf")
    born_digital = replace(WS_2023, carrier="电子")
    (refused,) = ingest_with(home, src, defaults=born_digital, active_content="refuse").items
    assert refused.status == "rejected" and [e.code for e in refused.errors] == ["GD-3-8"], refused.to_json()
    assert "active_content = refuse" in refused.errors[0].message
    (warned,) = ingest_with(home, src, defaults=born_digital).items
    assert warned.status == "archived" and [w.code for w in warned.warnings] == ["GD-3-8"]
    (bag_dir,) = aip_dirs(home)
    report = parse_xml((bag_dir / REPORT_XML).read_bytes(), name="report")
    assert {el.get("代码"): el.get("结论") for el in report}["GD-3-8"] == "警告"


def test_blank_frames_skipped_by_ocr_are_counted_in_premis(home, tmp_path):
    from PIL import Image

    src = tmp_path / "batch"
    src.mkdir()
    frames = [Image.new("L", (1, 1), 255) for _ in range(5)] + [Image.new("L", (200, 300), 255)]
    frames[0].save(src / "空白.tif", save_all=True, append_images=frames[1:], dpi=(300, 300))
    (result,) = ingest_with(home, src, ocr="tesseract").items
    assert result.status == "archived", result.to_json()
    (bag_dir,) = aip_dirs(home)
    premis = (bag_dir / PREMIS_XML).read_text(encoding="utf-8")
    assert "空白或过小页 6 页未送识别" in premis


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("max_pages", 0, "必须是正数"),
        ("ocr_time_limit", -1, "必须是正数"),
        ("max_pages", "many", "必须是正数"),
        ("active_content", "allow", "只能是 warn / refuse"),
    ],
)
def test_ceiling_settings_are_validated(tmp_path, name, value, said):
    from archive.config import Fonds, init_home, load_settings
    from archive.errors import UsageError

    fonds = Fonds("J012", "振兴社区居民委员会")
    with pytest.raises(UsageError, match=f"{name}.*{said}|{said}.*{name}"):
        init_home(tmp_path / "bad", fonds, ingest={name: value})
    init_home(tmp_path / "good", fonds, ingest={"max_pages": 5, "ocr_time_limit": 0.5, "active_content": "refuse"})
    assert load_settings(tmp_path / "good").ingest["max_pages"] == 5
@pytest.mark.parametrize(
    ("column", "value"), [("页数", "9" * 25), ("页数", "9" * 5000), ("年度", "2" * 25), ("页数", "+1")]
)
def test_a_number_in_the_item_list_is_bounded_before_it_is_converted(home, tmp_path, column, value):
    """Past 18 digits (SQLite's INTEGER) or not plain ASCII digits, a 页数 or 年度 is a GD-1-3 finding on its
    row (int() took "+1" and 25 digits, and refuses 5,000 with a message naming no rule); the batch goes on."""
    src = make_scan_batch(tmp_path / "batch", 2)
    cols = ["题名", "责任者", "日期", "页数", "年度", "文件"]
    catalog = tmp_path / "目录.csv"
    with open(catalog, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for n in (1, 2):
            good = {"题名": f"第{n}件", "责任者": "居委会", "日期": "20230315", "页数": "1", "年度": "2023"}
            w.writerow({**good, **({column: value} if n == 1 else {}), "文件": f"扫描件{n:03d}.tif"})
    result = ingest(home, src, catalog)
    assert [r.status for r in result.items] == ["rejected", "archived"], result.to_json()
    assert "GD-1-3" in {e.code for e in result.items[0].errors}
