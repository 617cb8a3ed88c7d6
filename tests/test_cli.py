"""The CLI as archivists use it: exit codes, --json shapes, Chinese messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.config import Fonds, init_home, load_settings
from archive.errors import UsageError
from dangan.backends import OCR_CHOICES
from dangan.cli import main
from ingest.ocr import ENGINES

from .conftest import CORPORA, make_image, make_scan_batch, rebag_aip

CLASS = (
    "--category",
    "WS",
    "--year",
    "2023",
    "--retention",
    "D30",
    "--carrier",
    "纸质",
    "--author",
    "社区",
    "--date",
    "20230301",
)


def test_init_creates_home_and_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    home = tmp_path / "h"
    r = runner.invoke(main, ["--home", str(home), "init", "--fonds-code", "J013", "--fonds-name", "幸福社区居民委员会"])
    assert r.exit_code == 0, r.output
    assert 'code = "J013"' in (home / "dangan.toml").read_text(encoding="utf-8")
    again = runner.invoke(main, ["--home", str(home), "init", "--fonds-code", "J013", "--fonds-name", "x"])
    assert again.exit_code == 2 and "已存在" in again.output


def test_init_ocr_choice_is_written_and_a_bad_value_in_the_file_is_refused(tmp_path):
    runner = CliRunner()
    home = tmp_path / "h"
    args = ["--home", str(home), "init", "--fonds-code", "J013", "--fonds-name", "幸福社区居民委员会"]
    assert runner.invoke(main, [*args, "--ocr", "ocr-x"]).exit_code == 2
    assert not home.exists()
    r = runner.invoke(main, [*args, "--ocr", "rapidocr"])
    assert r.exit_code == 0, r.output
    config = home / "dangan.toml"
    assert load_settings(home).ingest["ocr"] == "rapidocr"
    config.write_text(config.read_text(encoding="utf-8").replace('"rapidocr"', '"rapid"'), encoding="utf-8")
    r = runner.invoke(main, ["--home", str(home), "list"])
    assert r.exit_code != 0 and "[ingest] ocr" in r.output and "rapid" in r.output


def test_init_keeps_quotes_and_backslashes_and_refuses_a_bad_fonds(tmp_path):
    runner = CliRunner()
    name = '测试"社区\\居委会'
    home = tmp_path / "h"
    r = runner.invoke(main, ["--home", str(home), "init", "--fonds-code", "J012", "--fonds-name", name])
    assert r.exit_code == 0, r.output
    assert load_settings(home).fonds[0].name == name
    for code, fonds_name in (("J/../x", "幸福社区居民委员会"), ("J013", "")):
        bad = tmp_path / code.replace("/", "_")
        r = runner.invoke(main, ["--home", str(bad), "init", "--fonds-code", code, "--fonds-name", fonds_name])
        assert r.exit_code == 2 and "dangan.toml fonds" in r.output, r.output
        assert not (bad / "dangan.toml").exists()
    r = runner.invoke(main, ["--home", str(tmp_path / "s"), "init", "--fonds-code", "J013", "--fonds-name", "x",
                             "--storage", "local=a\x7fb"])  # fmt: skip
    assert r.exit_code == 2 and "dangan.toml 无法保存" in r.output and not (tmp_path / "s" / "dangan.toml").exists()


def test_every_ocr_choice_is_an_engine_or_off():
    assert set(OCR_CHOICES) == {*ENGINES, "off"}


def test_new_home_settings_and_copy_policy_can_be_set(tmp_path):
    init_home(tmp_path / "h", Fonds("J013", "幸福社区居民委员会"), ingest={"workers": 3}, copies={"default": 3})
    settings = load_settings(tmp_path / "h")
    assert settings.ingest["workers"] == 3 and settings.ingest["ocr"] == "auto"
    assert settings.copies["default"] == 3 and settings.copies["Y"] == 3
    with pytest.raises(UsageError, match="worker"):
        init_home(tmp_path / "h2", Fonds("J013", "幸福社区居民委员会"), ingest={"worker": 3})


def test_names_with_brackets_are_printed_as_they_are(cli, tmp_path):
    # rich would take "[扫描]" or "[red]" for markup and drop it from the line the archivist reads
    batch = tmp_path / "batch"
    make_image(batch / "[扫描] 第1页.tif", dpi=100, seed=5)
    make_image(batch / "[red]第2页.tif", dpi=300, seed=6)
    code, output, _ = cli("ingest", str(batch), *CLASS)
    assert code == 1
    assert "[扫描] 第1页.tif" in output and "GD-3-5" in output
    assert "[red]第2页.tif" in output
    code, output, _ = cli("show", "J012-WS·2023-D30-0001")
    assert code == 0 and "[red]第2页.tif" in output


def test_commands_without_home_say_so(tmp_path):
    r = CliRunner().invoke(main, ["--home", str(tmp_path / "none"), "list"])
    assert r.exit_code == 2 and "dangan init" in r.output


def test_ingest_json_shape_and_exit_codes(cli, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 2)
    code, _, data = cli("ingest", str(batch), *CLASS, "--json")
    assert code == 0
    assert data["archived"] == 2 and data["rejected"] == 0
    item = data["items"][0]
    assert set(item) >= {"source", "status", "archival_code", "errors"}
    assert item["status"] == "archived" and item["archival_code"] == "J012-WS·2023-D30-0001"
    make_image(batch / "低分辨率.tif", dpi=100, seed=99)
    code, _, data = cli("ingest", str(batch), *CLASS, "--json")
    assert code == 1
    rejected = [i for i in data["items"] if i["status"] == "rejected"]
    assert rejected[0]["errors"][0]["code"] == "GD-3-5"
    assert "dpi" in rejected[0]["errors"][0]["message"]
    assert data["rejected"] == 1 and [i["status"] for i in data["items"]].count("duplicate") == 2


def test_usage_errors_exit_2(cli, tmp_path):
    code, out, _ = cli("ingest", str(tmp_path / "missing"))
    assert code == 2
    code, out, _ = cli("list", "--year", "二〇二三")
    assert code == 2 and "年度" in out


def test_show_list_export_catalog_reindex(cli, tmp_path):
    cli("ingest", str(make_scan_batch(tmp_path / "batch", 2)), *CLASS)
    code, out, _ = cli("show", "J012-WS·2023-D30-0002")
    assert code == 0 and "题名: 扫描件002" in out and "ingestion" in out
    code, _, data = cli("show", "J012-WS·2023-D30-0001", "--json")
    assert data["item"]["retention"] == "D30" and any(e["type"] == "ingestion" for e in data["events"])
    code, _, data = cli("list", "--year", "2020-2023", "--category", "WS", "--json")
    assert data["total"] == 2
    code, _, data = cli("list", "--retention", "Y", "--json")
    assert data["total"] == 0
    code, out, _ = cli("show", "J012-WS·2023-D30-0099")
    assert code == 2 and "没有档号" in out
    code, _, _ = cli("export", "J012-WS·2023-D30-0001", str(tmp_path / "dip"))
    assert code == 0 and (tmp_path / "dip/文件/扫描件001.tif").is_file()
    code, _, _ = cli("catalog", "--out", str(tmp_path / "目录.xlsx"))
    assert code == 0 and (tmp_path / "目录.xlsx").is_file()
    code, out, _ = cli("reindex")
    assert code == 0 and "2 件" in out


def test_validate_archived_record_and_damaged_copy(cli, home, tmp_path):
    cli("ingest", str(make_scan_batch(tmp_path / "batch", 1)), *CLASS)
    code, _, data = cli("validate", "J012-WS·2023-D30-0001", "--json")
    assert code == 0 and data["valid"] == 1
    stored = home.store / "J012/J012-WS·2023-D30-0001/data/original/扫描件001.tif"
    data_bytes = bytearray(stored.read_bytes())
    data_bytes[100] ^= 0x01
    stored.write_bytes(bytes(data_bytes))
    code, _, data = cli("validate", str(stored.parents[2]), "--json")
    assert code == 1 and any(e["kind"] == "corrupt" for e in data["bags"][0]["errors"])


def test_validate_refuses_a_bag_whose_metadata_digests_differ_from_its_manifests(cli, home, tmp_path):
    """A page changed and the bag's manifests rewritten over it: valid as a bag, yet item.xml disagrees."""
    cli("ingest", str(make_scan_batch(tmp_path / "batch", 1)), *CLASS)
    bag = home.store / "J012/J012-WS·2023-D30-0001"
    page = bag / "data/original/扫描件001.tif"
    page.write_bytes(page.read_bytes()[:-1] + bytes([page.read_bytes()[-1] ^ 1]))
    rebag_aip(bag, "data/original/扫描件001.tif")
    code, _, data = cli("validate", str(bag), "--json")
    errors = data["bags"][0]["errors"]
    assert code == 1 and [e["kind"] for e in errors] == ["metadata", "metadata"]  # SHA-256 and SM3
    assert all("扫描件001.tif" in e["message"] and "item.xml" in e["message"] for e in errors)


def _suite_bags() -> list[tuple[Path, bool]]:
    suite = CORPORA / "bagit"
    if not suite.is_dir():
        return []
    bags = []
    for bag in sorted(p for p in suite.glob("v*/*/*") if p.is_dir()):
        category = bag.parent.name
        # warning/ bags are valid unless the file really is missing on Linux (see docs/bag-validation.md)
        valid = category == "valid" or (category == "warning" and bag.name in {
            "made-with-md5sum-tools", "relative-path", "same-filename-listed-twice-with-the-same-hash"})  # fmt: skip
        bags.append((bag, valid))
    return bags


@pytest.mark.skipif(not (CORPORA / "bagit").is_dir(), reason="../shared/corpora/bagit is not beside the checkout")
def test_validate_conformance_suite_through_the_cli(cli):
    bags = _suite_bags()
    assert len(bags) == 60
    for bag, valid in bags:
        code, _, data = cli("validate", str(bag), "--json")
        assert (code == 0) == valid, (bag, data["bags"][0]["errors"])


def test_validate_rejects_manifest_escaping_to_sibling(cli, tmp_path):
    bag = tmp_path / "bag"
    (bag / "data").mkdir(parents=True)
    (tmp_path / "bag-evil").mkdir()
    (tmp_path / "bag-evil/x").write_bytes(b"evil")
    (bag / "data/a.txt").write_bytes(b"a")
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    lines = [f"{hashlib.sha256(b'a').hexdigest()}  data/a.txt", f"{hashlib.sha256(b'evil').hexdigest()}  ../bag-evil/x"]
    (bag / "manifest-sha256.txt").write_text("\n".join(lines) + "\n")
    code, _, data = cli("validate", str(bag), "--json")
    assert code == 1 and any(e["kind"] == "unsafe_path" for e in data["bags"][0]["errors"])


def test_list_and_search_filters_are_normalised_or_refused(cli, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 2)
    assert cli("ingest", str(batch), *CLASS)[0] == 0
    for args in (("--year", "2023-"), ("--year", "-2023"), ("--year", "２０２３"), ("--retention", "定期30年"),
                 ("--retention", "d30"), ("--category", "ws"), ("--fonds", "j012")):  # fmt: skip
        code, _, data = cli("list", *args, "--json")
        assert code == 0 and data["total"] == 2, args
    for args, says in ((("--year", "99999999999999999999"), "年度"), (("--year", "2024-2023"), "晚于"),
                       (("--retention", "Q"), "保管期限"), (("--category", "XX"), "门类"),
                       (("--fonds", "J999"), "全宗")):  # fmt: skip
        code, output, _ = cli("list", *args)
        assert code == 2 and says in output, (args, output)
        code, output, _ = cli("search", "扫描", *args)
        assert code == 2 and says in output, (args, output)
    assert cli("search", "", "--year", "2023", "--date", "20230301-", "--json")[2]["total"] == 2
    assert cli("search", "", "--year", "2023", "--date", "20230302-", "--json")[2]["total"] == 0
    assert cli("search", "", "--year", "2023", "--date", "-20230301", "--json")[2]["total"] == 2
    code, output, _ = cli("search", "扫描", "--page", "0")
    assert code == 2 and "页码" in output


def test_list_never_cuts_the_code_and_speaks_chinese(cli, tmp_path, monkeypatch):
    from dangan import _cli_base as cli_module

    monkeypatch.setattr(cli_module.out, "width", 80)  # a plain terminal, or output piped on
    batch = tmp_path / "batch"
    make_image(batch / ("关于社区居民委员会换届选举工作安排及选民登记情况的报告" * 3 + ".tif"), seed=3)
    assert cli("ingest", str(batch), *CLASS)[0] == 0
    code, output, _ = cli("list")
    assert code == 0 and "J012-WS·2023-D30-0001" in output and "在档" in output and "archived" not in output
    code, output, _ = cli("show", "J012-WS·2023-D30-0001")
    assert code == 0 and "状态: 在档" in output


def test_validate_refuses_an_aip_holding_a_tag_file_the_archive_never_writes(cli, home, tmp_path):
    """A file slipped in beside the metadata and listed in the tag manifests: a whole bag, not one of ours."""
    cli("ingest", str(make_scan_batch(tmp_path / "batch", 1)), *CLASS)
    bag = home.store / "J012/J012-WS·2023-D30-0001"
    rebag_aip(bag, "data/original/扫描件001.tif", {"metadata/extra.xml": b"<x/>"})
    code, _, data = cli("validate", str(bag), "--json")
    errors = data["bags"][0]["errors"]
    assert code == 1 and [e["kind"] for e in errors] == ["metadata"]
    assert "metadata/extra.xml" in errors[0]["message"]
    assert cli("validate", "J012-WS·2023-D30-0001", "--json")[0] == 1  # the same copy, by its 档号
