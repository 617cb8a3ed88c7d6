"""File names as long as a file system allows (252–255 bytes): every name the archive derives from them
(text derivatives, working folders) stays within 255 bytes, the original is kept byte-exact, and one
long name never stops a batch."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from archive.aip import TEXT_DIR, text_path
from archive.bagcheck import validate_bag
from archive.export import export_dip
from archive.names import NAME_MAX, bounded_name, bounded_path, cut_utf8, sibling_name
from archive.storage import open_locations
from ingest.metadata import ClassDefaults
from ingest.pipeline import Ingestor

from .conftest import make_image, make_scan_batch, staging_leftovers
from .render import save_text_pdf
from .test_ingest import aip_dirs, ingest, row, write_catalog
from .test_transfer import J012, make_home, run_cli, scans, town  # noqa: F401 (town, run_cli: fixtures)

pytest_plugins = ["tests.s3server"]

LONG_252 = "ab" + "档案" * 41 + ".pdf"  # the reported name (a born-digital PDF: its text is a derivative)
LONG_255 = "abcde" + "档案" * 41 + ".txt"
ELECTRONIC = ClassDefaults(category="WS", year=2023, retention="D30", carrier="电子")


def utf8_len(name: str) -> int:
    return len(name.encode("utf-8"))


def test_the_names_are_as_long_as_the_issue_says():
    assert utf8_len(LONG_252) == 252 and utf8_len(LONG_255) == 255


@pytest.mark.parametrize("name", [LONG_252, LONG_255], ids=["252 bytes", "255 bytes"])
def test_a_longest_name_is_archived_searched_and_exported_beside_others(home, tmp_path, cli, name):
    batch = tmp_path / "batch"
    batch.mkdir()
    if name.endswith(".pdf"):
        save_text_pdf("低保名册 长名文件的正文", batch / name)
    else:
        (batch / name).write_text("低保名册 长名文件的正文", encoding="utf-8")
    for other in ("甲.txt", "乙.txt", "丙.txt"):
        (batch / other).write_text(f"普通文件 {other}", encoding="utf-8")
    files = [name, "甲.txt", "乙.txt", "丙.txt"]
    catalog = write_catalog(tmp_path / "目录.csv", [row(f"第{i}件", f, carrier="电子") for i, f in enumerate(files)])

    result = Ingestor.open(home.settings, home.catalogue).run(batch, catalog, ELECTRONIC)

    assert [r.status for r in result.items] == ["archived"] * 4, result.to_json()
    bag = aip_dirs(home)[0]
    assert os.fsencode(name) in os.listdir(os.fsencode(bag / "data/original"))  # the original, byte-exact
    assert f"data/original/{name}".encode() in (bag / "manifest-sha256.txt").read_bytes()
    (derived,) = (bag / TEXT_DIR).iterdir()
    assert utf8_len(derived.name) <= NAME_MAX and derived.name.endswith(".txt")
    assert f"{TEXT_DIR}/{derived.name}" == text_path(name)  # a reader finds it from the original name
    premis = (bag / "metadata/premis.xml").read_text(encoding="utf-8")  # ... and the AIP says which it is
    assert f"{TEXT_DIR}/{derived.name} ← data/original/{name}" in premis
    assert "已缩短" not in (aip_dirs(home)[1] / "metadata/premis.xml").read_text(encoding="utf-8")
    assert validate_bag(bag).valid
    code = result.items[0].archival_code
    assert [h["archival_code"] for h in cli("search", "长名文件", "--json")[2]["hits"]] == [code]
    dip = tmp_path / "dip"
    export_dip(home.catalogue, open_locations(home.settings), code, dip)
    assert (dip / "文件" / name).read_bytes() == (batch / name).read_bytes()
    assert cli("reindex")[0] == 0
    assert [h["archival_code"] for h in cli("search", "长名文件", "--json")[2]["hits"]] == [code]


def test_a_name_too_long_once_stored_as_utf8_is_refused_and_the_batch_goes_on(home, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    gbk = ("档案" * 61 + "ab.txt").encode("gb18030")  # 250 bytes on disk, 374 once decoded to UTF-8
    assert len(gbk) <= NAME_MAX < len(gbk.decode("gb18030").encode("utf-8"))
    (Path(os.fsdecode(bytes(batch) + b"/" + gbk))).write_bytes(b"text")
    (batch / "甲.txt").write_text("普通文件", encoding="utf-8")
    catalog = write_catalog(
        tmp_path / "目录.csv", [row("长", gbk.decode("gb18030"), carrier="电子"), row("甲", "甲.txt", carrier="电子")]
    )
    result = Ingestor.open(home.settings, home.catalogue).run(batch, catalog, ELECTRONIC)
    refused, archived = result.items
    assert refused.status == "rejected" and [f.code for f in refused.errors] == ["GD-4-7"], refused
    assert "255" in refused.errors[0].message
    assert archived.status == "archived"


@pytest.mark.parametrize(
    ("err", "status", "code"),
    [
        (errno.ENAMETOOLONG, "rejected", "GD-4-7"),
        (errno.EILSEQ, "rejected", "GD-4-7"),
        (errno.ENOSPC, "failed", "BC-4-8"),
    ],
)
def test_a_write_error_of_one_item_is_its_finding_and_only_a_location_wide_one_stops_the_batch(
    home, tmp_path, monkeypatch, err, status, code
):
    import archive.bag

    calls = []
    real = archive.bag.write_tree

    def first_write_fails(root, files):
        calls.append(root)
        if len(calls) == 1:
            raise OSError(err, os.strerror(err), str(root / "metadata"))
        return real(root, files)

    monkeypatch.setattr(archive.bag, "write_tree", first_write_fails)
    result = ingest(home, make_scan_batch(tmp_path / "batch", 3))
    first, *rest = result.items
    assert first.status == status and [f.code for f in first.errors] == [code], first
    assert errno.errorcode[err] in first.errors[0].message
    if status == "rejected":  # a name the location refuses: the item's, the batch goes on
        assert [r.status for r in rest] == ["archived", "archived"] and result.exit_code == 1
    else:  # a full disk: every later item would fail alike, so the batch stops and says so
        assert [r.status for r in rest] == ["not_attempted", "not_attempted"] and result.exit_code == 4
    assert staging_leftovers(home.store) == []


# --- the rule itself ---------------------------------------------------------------


def test_a_name_that_fits_is_unchanged():
    assert bounded_name("扫描件001.tif", ".txt") == "扫描件001.tif.txt"
    assert text_path("子文件夹/扫描件001.tif") == "metadata/text/子文件夹/扫描件001.tif.txt"


@pytest.mark.parametrize("name", [LONG_252, LONG_255, "档" * 85, "x" * 255, "档" * 84 + "." + "y" * 40])
def test_a_derived_name_is_bounded_deterministic_and_whole_characters(name):
    derived = bounded_name(name, ".txt")
    assert utf8_len(derived) <= NAME_MAX
    assert derived == bounded_name(name, ".txt") and derived.endswith(".txt")
    assert derived.encode("utf-8").decode("utf-8") == derived
    assert derived[: len(derived) // 2] in name  # recognisable: the name's start is kept


def test_two_long_names_that_share_their_start_get_different_derived_names():
    first, second = "档案" * 42 + "甲.txt", "档案" * 42 + "乙.txt"
    assert bounded_name(first, ".txt") != bounded_name(second, ".txt")


def test_only_the_last_component_of_a_path_is_bounded():
    folder = "文件夹" * 20
    derived = bounded_path(f"{folder}/{LONG_255}", ".txt")
    assert derived.startswith(f"{folder}/") and utf8_len(derived.rpartition("/")[2]) <= NAME_MAX


def test_working_names_beside_a_long_destination_are_bounded():
    assert utf8_len(sibling_name("利" * 85, ".未完成-partial-0123456789ab")) <= NAME_MAX
    assert sibling_name("dip", ".part") == ".dip.part"


def test_cut_never_splits_a_character():
    assert cut_utf8("档案", 5) == "档" and cut_utf8("档案", 6) == "档案" and cut_utf8("档案", 0) == ""


def test_a_longest_name_goes_through_transfer_prepare_and_receive(tmp_path, request):
    receiver, cli_run = request.getfixturevalue("town"), request.getfixturevalue("run_cli")
    community = make_home(tmp_path / "community", [J012])
    batch = tmp_path / "due"
    make_image(batch / ("abcde" + "档案" * 41 + ".tif"), seed=3)  # 255 bytes
    assert Ingestor.open(community.settings, community.catalogue).run(batch, None, scans(2019, "D30")).exit_code == 0
    pkg = tmp_path / ("移交包" * 28)  # a destination of 252 bytes: its working folder beside it is bounded
    code, prepared = cli_run(community, "transfer", "prepare", "--to", str(pkg), "--json")
    assert code == 0, prepared
    code, received = cli_run(receiver, "transfer", "receive", str(pkg), "--json")
    assert code == 0 and received["stored"] == prepared["items"], received["findings"]
    community.close()
