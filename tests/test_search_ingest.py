"""Search end to end: scans are OCR'd at ingest, their text kept in the AIP, found by `dangan search`.

The index is a cache: reindex rebuilds it from storage, and an index that missed an item
(a crash between store and index) is repaired by the next run.
"""

from __future__ import annotations

import pytest

from archive.premis import EXTRACTION
from ingest.metadata import ClassDefaults

from .render import render_page, save_scan, save_text_pdf
from .test_ingest import ingest

NOTICE = (
    "# 关于做好2023年度低保复核工作的通知\n\n各居民小组：\n\n"
    "请于三月底前完成最低生活保障家庭的入户复核。\n\n> 振兴社区居委会"
)
REPORT = "# 社区档案管理制度\n\n档案室应当做好防火防潮工作，定期检查档案。"


@pytest.fixture
def ocr_home(home):
    config = home.path / "dangan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('ocr = "off"', 'ocr = "auto"'), encoding="utf-8")
    from archive.config import load_settings

    home.settings = load_settings(home.path)
    return home


def test_scan_is_ocrd_kept_in_the_aip_and_found(ocr_home, tmp_path, cli):
    home = ocr_home
    batch = tmp_path / "batch"
    batch.mkdir()
    save_scan(render_page(NOTICE, dpi=300, size_mm=(148, 105), seed=1), batch / "低保通知.tif", dpi=300)
    save_text_pdf(REPORT, batch / "制度.pdf")
    result = ingest(
        home,
        batch,
        defaults=ClassDefaults(
            category="WS", year=2023, retention="D30", carrier="纸质", author="居委会", date="20230301"
        ),
    )
    codes = {r.source: r.archival_code for r in result.items}
    assert result.exit_code == 0, result.to_json()
    notice = codes["低保通知.tif"]
    text_file = home.store / "J012" / notice / "metadata/text/低保通知.tif.txt"
    assert "低保" in text_file.read_text(encoding="utf-8")
    ocr_events = [e for e in home.catalogue.events(notice) if e.type == EXTRACTION]
    assert ocr_events and "rapidocr" in ocr_events[0].detail.lower()
    assert ocr_events[0].outcome_detail == "1 个文件; rapidocr 识别 1 页"
    assert "rapidocr 识别 1 页" in cli("show", notice)[1]  # `show` lists each event's outcome too

    code, _, found = cli("search", "低保", "--json")
    assert code == 0
    assert [h["archival_code"] for h in found["hits"]][:1] == [notice]
    # the synonym list: 最低生活保障 finds the notice too; traditional characters fold
    assert notice in [h["archival_code"] for h in cli("search", "最低生活保障", "--json")[2]["hits"]]
    assert codes["制度.pdf"] in [h["archival_code"] for h in cli("search", "檔案", "--json")[2]["hits"]]
    assert cli("search", "--json", "--year", "2023")[2]["total"] == 2
    assert cli("search", '"')[0] in (0, 2)  # a bare quote: results or a clear message, never a crash

    # a crash between store and index: the next run puts the item back
    from search.indexing import open_search

    with open_search(home.settings) as index:
        index.delete([notice])
    assert cli("search", "低保", "--json")[2]["total"] == 0
    from ingest.pipeline import Ingestor

    Ingestor.open(home.settings, home.catalogue).recover()  # what every ingest run does first
    assert cli("search", "低保", "--json")[2]["total"] >= 1

    # reindex rebuilds catalogue and index from storage alone
    for suffix in ("", "-wal", "-shm"):
        (home.path / f"search.sqlite{suffix}").unlink(missing_ok=True)
    code, text, _ = cli("reindex")
    assert code == 0 and "检索索引" in text
    assert notice in [h["archival_code"] for h in cli("search", "低保", "--json")[2]["hits"]]


def test_born_digital_image_is_described_not_ocrd(ocr_home, tmp_path):
    """A photograph or screenshot (载体 电子) is archived with its metadata; only scans (纸质) are OCR'd."""
    batch = tmp_path / "batch"
    batch.mkdir()
    save_scan(render_page(NOTICE, dpi=300, size_mm=(148, 105), seed=1), batch / "截图.tif", dpi=300)
    born_digital = ClassDefaults(
        category="WS", year=2023, retention="D30", carrier="电子", author="居委会", date="20230301"
    )
    result = ingest(ocr_home, batch, defaults=born_digital)
    assert result.exit_code == 0, result.to_json()
    code = result.items[0].archival_code
    assert not (ocr_home.store / "J012" / code / "metadata/text").exists()
    assert [e for e in ocr_home.catalogue.events(code) if e.type == EXTRACTION] == []


def test_auto_ocr_reads_a_traditional_scan_with_tesseract(ocr_home, tmp_path):
    """The default engine hands a traditional page to Tesseract chi_tra, and PREMIS says which pages it read."""
    batch = tmp_path / "batch"
    batch.mkdir()
    page = render_page(
        "# 社區檔案管理制度\n\n檔案室應當做好防火防潮工作，定期檢查，發現問題及時報告居民委員會討論。",
        dpi=300,
        size_mm=(148, 70),
        seed=3,
        region="TC",
    )
    save_scan(page, batch / "制度.tif", dpi=300)
    scans = ClassDefaults(category="WS", year=2023, retention="D30", carrier="纸质", author="居委会", date="20230301")
    result = ingest(ocr_home, batch, defaults=scans)
    assert result.exit_code == 0, result.to_json()
    code = result.items[0].archival_code
    text = (ocr_home.store / "J012" / code / "metadata/text/制度.tif.txt").read_text(encoding="utf-8")
    assert "檔案" in text and "討論" in text  # RapidOCR's model cannot write 討 or 論
    events = [e for e in ocr_home.catalogue.events(code) if e.type == EXTRACTION]
    assert [e.outcome_detail for e in events] == ["1 个文件; tesseract chi_tra 识别 1 页"]


def test_tesseract_languages_come_from_the_settings(home, tmp_path):
    """An archive of traditional documents sets chi_tra; the OCR event names what was used."""
    config = home.path / "dangan.toml"
    text = config.read_text(encoding="utf-8").replace('ocr = "off"', 'ocr = "tesseract"')
    config.write_text(text.replace('tesseract_languages = "chi_sim"', 'tesseract_languages = "chi_tra"'), "utf-8")
    from archive.config import load_settings

    home.settings = load_settings(home.path)
    batch = tmp_path / "batch"
    batch.mkdir()
    page = render_page("# 社區檔案管理制度\n\n檔案室應當做好防火防潮工作。", dpi=300, size_mm=(148, 60), seed=2)
    save_scan(page, batch / "制度.tif", dpi=300)
    scans = ClassDefaults(category="WS", year=2023, retention="D30", carrier="纸质", author="居委会", date="20230301")
    result = ingest(home, batch, defaults=scans)
    assert result.exit_code == 0, result.to_json()
    code = result.items[0].archival_code
    details = [e.detail for e in home.catalogue.events(code) if e.type == EXTRACTION]
    assert details and '"languages": "chi_tra"' in details[0]
    assert "檔案" in (home.store / "J012" / code / "metadata/text/制度.tif.txt").read_text(encoding="utf-8")


def test_bad_queries_give_messages_not_tracebacks(home, cli):
    for query in ("", "！？。", 'NEAR("a" b)', "a AND OR", "*", "档" * 10_000):
        code, text, _ = cli("search", query)
        assert code in (0, 2), (query[:20], text)
        assert "Traceback" not in text


def test_search_sees_only_this_homes_fonds(home, cli):
    code, text, _ = cli("search", "--fonds", "J999", "x")
    assert code in (0, 2)
    if code == 0:
        assert "共 0 件" in text


def _archive_report(home, tmp_path):
    """One born-digital 件: a PDF with a text layer (REPORT)."""
    batch = tmp_path / "batch"
    batch.mkdir()
    save_text_pdf(REPORT, batch / "制度.pdf")
    defaults = ClassDefaults(
        category="WS", year=2023, retention="D30", carrier="电子", author="居委会", date="20230301"
    )
    (item,) = ingest(home, batch, defaults=defaults).items
    return item


def test_an_index_of_an_older_layout_is_rebuilt_by_the_next_run(home, tmp_path, cli):
    import sqlite3

    from ingest.pipeline import Ingestor

    item = _archive_report(home, tmp_path)
    with sqlite3.connect(home.path / "search.sqlite") as con:  # as a release with another table layout left it
        con.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    code, text, _ = cli("search", "档案")
    assert code != 0 and "旧版结构" in text
    Ingestor.open(home.settings, home.catalogue).recover()  # what every ingest run does first
    assert [h["archival_code"] for h in cli("search", "档案", "--json")[2]["hits"]] == [item.archival_code]


def test_a_lost_or_damaged_index_is_filled_again_by_the_next_search(home, tmp_path, cli):
    item = _archive_report(home, tmp_path)
    index = home.path / "search.sqlite"
    for damage in ("lost", "garbage"):
        for suffix in ("", "-wal", "-shm"):
            (home.path / f"search.sqlite{suffix}").unlink(missing_ok=True)
        if damage == "garbage":
            index.write_bytes(b"not an index" * 50)
        code, text, data = cli("search", "档案", "--json")
        assert code == 0 and [h["archival_code"] for h in data["hits"]] == [item.archival_code], damage
    assert list(home.path.glob("search.sqlite.damaged-*"))  # the damaged file is kept aside
