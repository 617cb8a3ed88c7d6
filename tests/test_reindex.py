"""Rebuilding the catalogue takes each AIP from a copy that agrees with its own tag manifests.

A copy whose tag files were damaged or edited (a manifest digit, a title in item.xml, a line
dropped from the tag manifests) must not become the record that later audits trust: an
audit repairing from such a record would spread the damage over the good copies.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from archive.aip import ITEM_XML, PREMIS_XML
from archive.bagcheck import validate_bag
from archive.reindex import rebuild

from .conftest import rebag_aip
from .test_audit import REPAIR_ALL, archived, copy_dir, run  # noqa: F401  (archived: a fixture)

CODE = "J012-WS·2023-D30-0001"


def rebuilt(home):
    problems = []
    count = rebuild(home.settings, home.catalogue, problems)
    return count, problems


def edit(path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


@pytest.mark.usefixtures("archived")
def test_a_copy_with_a_wrong_tag_manifest_is_passed_over_and_repaired_from_the_good_one(home):
    manifest = copy_dir(home, "local") / "tagmanifest-sha256.txt"
    line = next(x for x in manifest.read_text(encoding="utf-8").splitlines() if x.endswith(ITEM_XML))
    digit = "0" if line[0] != "0" else "1"
    edit(manifest, line.encode(), (digit + line[1:]).encode())
    count, problems = rebuilt(home)
    assert count == 3
    assert [(p.key.endswith(CODE), p.left_out) for p in problems] == [(True, False)]
    assert "metadata/item.xml" in problems[0].message and "copy2" in problems[0].message
    report = run(home, REPAIR_ALL)
    assert [(p.location, p.path, p.repaired) for p in report.problems] == [("local", "tagmanifest-sha256.txt", True)]
    assert validate_bag(copy_dir(home, "local")).valid and validate_bag(copy_dir(home, "copy2")).valid


@pytest.mark.usefixtures("archived")
def test_an_edited_title_never_becomes_the_record(home):
    title = home.catalogue.get(CODE).title
    edit(copy_dir(home, "local") / ITEM_XML, title.encode(), "改过的题名".encode())
    _, problems = rebuilt(home)
    assert home.catalogue.get(CODE).title == title
    assert problems and not problems[0].left_out


@pytest.mark.usefixtures("archived")
def test_a_copy_whose_metadata_digests_differ_from_its_manifests_is_passed_over(home):
    """A page changed and every manifest of the bag rewritten over it: only item.xml still records the page
    as ingested, so the copy disagrees with itself and the catalogue is taken from the other copy."""
    bag = copy_dir(home, "local")
    page = bag / "data" / "original" / "扫描件001.tif"
    data = bytearray(page.read_bytes())
    data[-1] ^= 1
    page.write_bytes(bytes(data))
    rebag_aip(bag, "data/original/扫描件001.tif")
    recorded = {f.path: f.sha256 for f in home.catalogue.files(CODE)}
    count, problems = rebuilt(home)
    assert count == 3
    assert [(p.key.endswith(CODE), p.left_out) for p in problems] == [(True, False)]
    assert "扫描件001.tif" in problems[0].message and "local" in problems[0].message
    assert {f.path: f.sha256 for f in home.catalogue.files(CODE)} == recorded


@pytest.mark.usefixtures("archived")
def test_a_copy_whose_bag_info_names_another_item_number_is_passed_over(home):
    """bag-info.txt rewritten to another 件号 and the tag manifests over it: the bag is whole, yet it names
    another record than its item.xml, so it is not taken."""
    bag = copy_dir(home, "local")
    edit(bag / "bag-info.txt", b"DA-Item-Number: 1\n", b"DA-Item-Number: 7\n")
    rebag_aip(bag, "data/original/扫描件001.tif")
    count, problems = rebuilt(home)
    assert count == 3
    assert [(p.key.endswith(CODE), p.left_out) for p in problems] == [(True, False)]
    assert "DA-Item-Number" in problems[0].message


@pytest.mark.usefixtures("archived")
def test_tag_manifests_that_drop_a_tag_file_are_not_trusted(home):
    for name in ("tagmanifest-sha256.txt", "tagmanifest-sm3.txt"):
        path = copy_dir(home, "local") / name
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(rf"(?m)^.*{re.escape(PREMIS_XML)}\n", "", text), encoding="utf-8")
    sha_only = copy_dir(home, "copy2") / "tagmanifest-sha256.txt"  # the two manifests disagree: not trusted either
    sha_only.write_text(re.sub(r"(?m)^.*bag-info.txt\n", "", sha_only.read_text(encoding="utf-8")), encoding="utf-8")
    count, problems = rebuilt(home)
    assert count == 2 and home.catalogue.get(CODE) is None
    (left,) = [p for p in problems if p.left_out]
    assert CODE in left.key and PREMIS_XML in left.message and "bag-info.txt" in left.message
    assert (copy_dir(home, "local") / PREMIS_XML).is_file()  # nothing was touched


@pytest.mark.usefixtures("archived")
def test_cli_reindex_says_what_it_left_out_and_exits_4(home, cli):
    for location in ("local", "copy2"):
        edit(copy_dir(home, location) / ITEM_XML, b"<", b"< ")
    code, output, _ = cli("reindex")
    assert code == 4
    assert "未编入目录" in output and CODE in output


@pytest.mark.usefixtures("archived")
def test_a_copy_found_damaged_stays_due_and_reindex_agrees(home):
    from preservation.audit import AuditOptions

    time.sleep(1.1)  # event times are to the second: the failure must come after the copy was stored
    page = copy_dir(home, "copy2") / "data/original/扫描件001.tif"
    page.write_bytes(page.read_bytes()[:-10])
    assert [p.kind for p in run(home).problems] == ["truncated"]
    assert home.catalogue.copies(CODE)["copy2"].verified_at == ""
    again = run(home, AuditOptions())  # a plain scheduled run: the damaged copy is due at once
    assert [(p.location, p.archival_code) for p in again.problems] == [("copy2", CODE)]
    before = home.catalogue.dump()
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.dump() == before
    fixed = run(home, AuditOptions(repair=True))
    assert [p.repaired for p in fixed.problems] == [True]
    assert home.catalogue.copies(CODE)["copy2"].verified_at != ""
    assert run(home, AuditOptions()).checked_copies == 0  # proven again: not due until its cycle comes round


@pytest.mark.usefixtures("archived")
def test_a_lost_or_damaged_catalogue_is_reported_and_rebuilt(home, cli):
    path = home.settings.catalogue_path
    home.catalogue.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    code, output, _ = cli("audit", "--all")
    assert code == 4 and "dangan reindex" in output and not path.exists()  # never an empty catalogue that passes
    path.write_bytes(b"not a database" * 100)
    code, output, _ = cli("list")
    assert code == 4 and "已损坏" in output
    code, output, _ = cli("reindex")
    assert code == 0, output
    assert [p.name for p in path.parent.glob(f"{path.name}.damaged-*")]  # kept for a person to look at
    code, _, listed = cli("list", "--json")
    assert code == 0 and len(listed["items"]) == 3


@pytest.mark.usefixtures("archived")
def test_the_number_of_an_aip_left_out_is_never_given_again(home, tmp_path):
    from ingest.metadata import ClassDefaults

    from .conftest import make_scan_batch
    from .test_ingest import ingest

    last = "J012-WS·2023-D30-0002"
    for location in ("local", "copy2"):
        edit(copy_dir(home, location, last) / ITEM_XML, b"<", b"< ")
    _, problems = rebuilt(home)
    assert [p.left_out for p in problems] == [True]
    d30 = ClassDefaults(category="WS", year=2023, retention="D30", carrier="纸质", author="居委会", date="20230301")
    (item,) = ingest(home, make_scan_batch(tmp_path / "later", 1, seed=9), defaults=d30).items
    assert item.status == "archived" and item.archival_code == "J012-WS·2023-D30-0003"
    assert (copy_dir(home, "local", last) / ITEM_XML).read_bytes().startswith(b"< ")  # left as it was


@pytest.mark.usefixtures("archived")
def test_a_copy_holding_a_tag_file_the_archive_never_writes_is_passed_over(home):
    """A file slipped in beside the metadata and listed in the tag manifests: the bag is whole and
    its metadata agrees, yet nothing of the archive wrote it, so the copy is not taken."""
    bag = copy_dir(home, "local")
    rebag_aip(bag, "data/original/扫描件001.tif", {"metadata/extra.xml": b"<x/>"})
    count, problems = rebuilt(home)
    assert count == 3
    assert [(p.key.endswith(CODE), p.left_out) for p in problems] == [(True, False)]
    assert "metadata/extra.xml" in problems[0].message
