"""The library face: :class:`dangan.Archive` driven directly, and its ``to_json()`` the very
JSON that the CLI's ``--json`` prints for the same call."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archive.errors import NotFoundError, UsageError
from dangan import Archive
from dangan.cli import main

from .conftest import make_image, make_scan_batch

CLASS = {"category": "WS", "year": 2023, "retention": "D30", "carrier": "纸质", "author": "社区", "date": "20230301"}
CLASS_ARGS = ("--category", "WS", "--year", "2023", "--retention", "D30", "--carrier", "纸质", "--author", "社区",
              "--date", "20230301")  # fmt: skip


@pytest.fixture
def arc(tmp_path):
    with Archive.init(
        tmp_path / "home", fonds_code="J012", fonds_name="振兴社区居民委员会", ingest={"ocr": "off"}
    ) as archive:
        yield archive


def cli_json(arc: Archive, *args: str):
    result = CliRunner().invoke(main, ["--home", str(arc.home), *args, "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_init_open_and_ingest_through_the_api(arc, tmp_path):
    result = arc.ingest(make_scan_batch(tmp_path / "batch", 3), **CLASS)
    assert [r.status for r in result.items] == ["archived"] * 3 and result.exit_code == 0
    with Archive.open(arc.home) as again:
        codes = [r["archival_code"] for r in again.list().items]
    assert codes == [f"J012-WS·2023-D30-{n:04d}" for n in (1, 2, 3)]
    with pytest.raises(UsageError, match="已存在"):
        Archive.init(arc.home, fonds_code="J012", fonds_name="振兴社区居民委员会")


def test_every_read_is_what_the_cli_prints(arc, tmp_path):
    arc.ingest(make_scan_batch(tmp_path / "batch", 2), **CLASS)
    code = "J012-WS·2023-D30-0001"
    assert cli_json(arc, "list", "--year", "2023") == (0, arc.list(year="2023").to_json())
    assert cli_json(arc, "show", code) == (0, arc.show(code).to_json())
    assert cli_json(arc, "search", "", "--year", "2020-") == (0, arc.search("", year="2020-").to_json())
    validation = arc.validate(code)
    assert cli_json(arc, "validate", code) == (validation.exit_code, validation.to_json())
    assert validation.to_json()["valid"] == 1
    assert cli_json(arc, "retention", "holds") == (0, arc.disposal.holds().to_json())
    due = arc.transfers.due()
    assert cli_json(arc, "transfer", "due")[1] == due.to_json()


def test_show_export_catalog_reindex_and_audit(arc, tmp_path):
    arc.ingest(make_scan_batch(tmp_path / "batch", 2), **CLASS)
    code = "J012-WS·2023-D30-0002"
    view = arc.show(code)
    assert view.item["archival_code"] == code and view.copies and any(e["type"] == "ingestion" for e in view.events)
    exported = arc.export(code, tmp_path / "dip")
    assert exported.written and all(p.exists() for p in exported.written) and not exported.passed_over
    written = arc.catalog(tmp_path / "目录.xlsx", retention="D30")
    assert written.count == 2 and written.path.stat().st_size > 0
    rebuilt = arc.reindex()
    assert (rebuilt.records, rebuilt.indexed, rebuilt.exit_code) == (2, 2, 0)
    report = arc.audit(check_all=True)
    assert report.checked_aips == 2 and report.exit_code == 0 and not report.problems


def test_disposal_and_transfer_facades(arc, tmp_path):
    arc.ingest(make_scan_batch(tmp_path / "batch", 1), **CLASS)
    placed = arc.disposal.hold(reason="审计", by="张三", year="2023")
    assert placed.to_json()["fonds_code"] == "J012" and placed.hold.active
    assert [h["hold_id"] for h in arc.disposal.holds().to_json()["holds"]] == [placed.hold.hold_id]
    assert arc.disposal.due().to_json()["total"] == 0
    assert arc.transfers.due().to_json()["total"] == 0


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda a: a.show("J012-WS·2023-D30-9999"), NotFoundError, "没有档号"),
        (lambda a: a.list(year="20x3"), UsageError, "年度应为"),
        (lambda a: a.list(year="2023-2015"), UsageError, "起始年度晚于结束年度"),
        (lambda a: a.search("档案", page=0), UsageError, "页码从 1 开始"),
        (lambda a: a.audit(max_bytes="lots"), UsageError, "无法识别的大小"),
        (lambda a: a.disposal.hold(reason="审计", by="张三"), UsageError, "--code 或类别"),
        (lambda a: a.validate("no-such-thing"), NotFoundError, "既不是目录也不是已归档的档号"),
    ],
)
def test_bad_input_is_a_typed_error_naming_the_rule(arc, call, error, words):
    with pytest.raises(error, match=words):
        call(arc)


def test_open_a_home_that_does_not_exist(tmp_path):
    with pytest.raises(UsageError):
        Archive.open(tmp_path / "nowhere").list()


def test_operator_log_on_stderr_and_in_a_file(arc, tmp_path):
    log_file = tmp_path / "dangan.log"
    batch = make_scan_batch(tmp_path / "batch", 1)
    args = ["--home", str(arc.home), "-v", "--log-file", str(log_file), "ingest", str(batch), *CLASS_ARGS]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert "INFO dangan.api: ingest of" in result.stderr and "1 archived" in result.stderr
    assert "INFO ingest.pipeline: archived J012-WS·2023-D30-0001" in result.stderr  # each item, for the operator
    assert "1 archived" in log_file.read_text(encoding="utf-8")
    quiet = CliRunner().invoke(main, ["--home", str(arc.home), "list"], catch_exceptions=False)
    assert quiet.exit_code == 0 and "INFO" not in quiet.stderr


def test_a_log_file_that_cannot_be_written_is_a_usage_error(arc, tmp_path):
    result = CliRunner().invoke(main, ["--home", str(arc.home), "--log-file", str(tmp_path / "no" / "x.log"), "list"])
    assert result.exit_code == 2 and "无法写入日志文件" in result.stderr


def test_times_are_shown_in_the_homes_zone_and_kept_in_utc(arc, tmp_path):
    from dangan.clock import shown

    arc.ingest(make_scan_batch(tmp_path / "batch", 1), **CLASS)
    code = "J012-WS·2023-D30-0001"
    stored = arc.show(code).item["ingested_at"]
    assert stored.endswith("+00:00")  # the record keeps UTC
    assert shown("2026-12-07T19:40:54+00:00", "Asia/Shanghai") == "2026-12-08 03:40:54 北京时间"
    assert shown("2026-12-07T19:40:54+00:00", "Asia/Tokyo") == "2026-12-08 04:40:54 +0900 Asia/Tokyo"
    assert shown("not a time", "Asia/Shanghai") == "not a time" and shown(None, "UTC") == ""
    result = CliRunner().invoke(main, ["--home", str(arc.home), "show", code], catch_exceptions=False)
    assert f"归档时间: {shown(stored, 'Asia/Shanghai')}" in result.stdout and "北京时间" in result.stdout
    assert cli_json(arc, "show", code)[1]["item"]["ingested_at"] == stored


def test_an_unknown_time_zone_in_the_settings_is_refused(arc):
    config = arc.home / "dangan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('"Asia/Shanghai"', '"Mars/Olympus"'), encoding="utf-8")
    with pytest.raises(UsageError, match="timezone"):
        Archive.open(arc.home).settings  # noqa: B018 (loading is the point)


def test_a_single_file_is_ingested_as_one_item(arc, tmp_path):
    photo = make_image(tmp_path / "来源" / "重阳节活动.tif", seed=3)
    result = arc.ingest(photo, **CLASS)
    assert [(r.source, r.status) for r in result.items] == [("重阳节活动.tif", "archived")]
    record = arc.show(result.items[0].archival_code)
    assert record.item["title"] == "重阳节活动" and "data/original/重阳节活动.tif" in [f["path"] for f in record.files]
    code, data = cli_json(arc, "ingest", str(make_image(tmp_path / "第二件.tif", seed=4)), *CLASS_ARGS)
    assert code == 0 and [(i["source"], i["status"]) for i in data["items"]] == [("第二件.tif", "archived")]


def test_missing_class_options_are_named_once_for_the_batch(arc, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 3)
    with pytest.raises(UsageError) as caught:
        arc.ingest(batch, category="WS", year=2023)
    message = caught.value.message
    assert message.startswith("缺少 --retention (保管期限)、--author (责任者)、--date (日期):")
    assert "--year" not in message and "--category" not in message
    assert arc.list().items == []  # refused before any item was read
    result = CliRunner().invoke(main, ["--home", str(arc.home), "ingest", str(batch), "--category", "WS"])
    assert result.exit_code == 2
    assert result.output.count("--retention (保管期限)") == 1 and "--year (年度)" in result.output
    assert "GD-2-4" not in result.output


def test_a_date_option_gives_the_year_and_a_list_gives_the_rest(arc, tmp_path):
    batch = make_scan_batch(tmp_path / "batch", 1)
    result = arc.ingest(batch, category="WS", retention="D30", carrier="纸质", author="社区", date="20230301")
    assert [r.status for r in result.items] == ["archived"]
    (batch / "目录.csv").write_text("题名,责任者,日期,保管期限,页数,文件\n通知,社区,20230302,D30,1,扫描件001.tif\n")
    result = arc.ingest(batch, batch / "目录.csv", category="WS")  # no options needed: the list has the fields
    assert [r.status for r in result.items] == ["duplicate"]
