"""Fixity audits find every kind of damage on local copies, and repair only from a good copy.

A checker that reports success on damage is the worst failure of this kind of
software: every test here damages a copy and asserts the audit names it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from archive.copycheck import ProblemKind
from archive.fixity import hash_file
from archive.premis import FIXITY_CHECK, REPAIR, REPLICATION
from archive.reindex import rebuild
from archive.storage import open_locations
from ingest.metadata import ClassDefaults
from preservation.audit import AuditOptions, audit

from .conftest import make_scan_batch
from .test_ingest import ingest

PAGE = "data/original/扫描件001.tif"
ALL = AuditOptions(all=True)
REPAIR_ALL = AuditOptions(all=True, repair=True)


@pytest.fixture
def archived(home, tmp_path):
    """Two D30 items (two copies each) and one 永久 item (three copies)."""
    ingest(home, make_scan_batch(tmp_path / "b1", 2))
    forever = ClassDefaults(category="WS", year=2023, retention="Y", carrier="纸质", author="居委会", date="20230301")
    ingest(home, make_scan_batch(tmp_path / "b2", 1, seed=5), defaults=forever)
    return home


def run(home, options=ALL):
    return audit(home.settings, home.catalogue, open_locations(home.settings), options)


def copy_dir(home, location: str, code: str = "J012-WS·2023-D30-0001") -> Path:
    folder = {"local": "store", "copy2": "copy2", "copy3": "copy3"}[location]
    return home.path / folder / "J012" / code


def kinds(report) -> list[tuple[str, str | None, str | None, str]]:
    return sorted((p.location, p.archival_code, p.path, str(p.kind)) for p in report.problems)


def test_copy_policy_puts_two_copies_and_three_for_permanent(archived):
    home = archived
    assert sorted(home.catalogue.copies("J012-WS·2023-D30-0001")) == ["copy2", "local"]
    assert sorted(home.catalogue.copies("J012-WS·2023-Y-0001")) == ["copy2", "copy3", "local"]
    assert not copy_dir(home, "copy3").exists()
    replicated = [e for e in home.catalogue.events("J012-WS·2023-Y-0001") if e.type == REPLICATION]
    assert {e.location for e in replicated} == {"copy2", "copy3"}
    assert all(e.outcome == "success" for e in replicated)


def test_clean_archive_audits_clean_and_records_evidence(archived):
    report = run(archived)
    assert report.problems == [] and report.exit_code == 0
    assert report.checked_aips == 3 and report.checked_copies == 7
    assert report.checked_files == 7 * 10  # one page + 9 tag files per copy
    assert report.checked_bytes > 0
    events = [e for e in archived.catalogue.events("J012-WS·2023-D30-0001") if e.type == FIXITY_CHECK]
    assert {e.location for e in events} == {"local", "copy2"}
    assert all("SM3" in e.detail and e.outcome == "success" for e in events)
    # the evidence is beside the AIP in each location, outside the bag
    records = list((archived.path / "store/.records/J012/J012-WS·2023-D30-0001").iterdir())
    assert any("fixity-check" in r.name for r in records)


@pytest.mark.parametrize(
    ("damage", "kind", "path"),
    [
        ("flip", ProblemKind.corrupt, PAGE),
        ("truncate", ProblemKind.truncated, PAGE),
        ("delete", ProblemKind.missing, PAGE),
        ("add", ProblemKind.extra, "data/original/多余.txt"),
        ("delete_tag", ProblemKind.missing, "metadata/item.xml"),
    ],
)
def test_each_kind_of_damage_is_found_and_repaired(archived, damage, kind, path):
    home = archived
    bag = copy_dir(home, "copy2")
    page = bag / PAGE
    if damage == "flip":
        data = bytearray(page.read_bytes())
        data[len(data) // 2] ^= 0x01
        page.write_bytes(bytes(data))
    elif damage == "truncate":
        page.write_bytes(page.read_bytes()[:-10])
    elif damage == "delete":
        page.unlink()
    elif damage == "add":
        (bag / path).write_text("不属于本件", encoding="utf-8")
    else:
        (bag / path).unlink()

    found = run(home)
    assert kinds(found) == [("copy2", "J012-WS·2023-D30-0001", path, str(kind))]
    assert found.exit_code == 1 and not found.problems[0].repaired

    fixed = run(home, REPAIR_ALL)
    assert [(p.kind, p.repaired) for p in fixed.problems] == [(kind, True)]
    assert fixed.exit_code == 0
    again = run(home)
    assert again.problems == []
    good = hash_file(copy_dir(home, "local") / PAGE)
    assert hash_file(bag / PAGE) == good
    repairs = [e for e in home.catalogue.events("J012-WS·2023-D30-0001") if e.type == REPAIR]
    assert [(e.location, e.outcome) for e in repairs] == [("copy2", "success")]


def test_consistent_rewrite_of_file_and_manifest_is_caught(archived):
    """A forger who swaps a file and fixes both manifests still fails against the independent record."""
    import hashlib

    bag = copy_dir(archived, "local")
    forged = bytearray((bag / PAGE).read_bytes())
    forged[-1] ^= 0xFF  # same size, so even Payload-Oxum agrees
    forged = bytes(forged)
    (bag / PAGE).write_bytes(forged)
    for alg in ("sha256", "sm3"):
        manifest = bag / f"manifest-{alg}.txt"
        lines = [
            f"{hashlib.new(alg, forged).hexdigest()}  {PAGE}" if line.endswith(PAGE) else line
            for line in manifest.read_text(encoding="utf-8").splitlines()
        ]
        manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for alg in ("sha256", "sm3"):  # and the tag manifests, so the bag itself validates
        tagmanifest = bag / f"tagmanifest-{alg}.txt"
        lines = []
        for line in tagmanifest.read_text(encoding="utf-8").splitlines():
            name = line.split(maxsplit=1)[1]
            if name.startswith("manifest-"):
                line = f"{hashlib.new(alg, (bag / name).read_bytes()).hexdigest()}  {name}"
            lines.append(line)
        tagmanifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from archive.bagcheck import validate_bag

    assert validate_bag(bag).valid  # the bag alone looks perfect
    report = run(archived, REPAIR_ALL)
    found = {(p.path, str(p.kind)) for p in report.problems if p.location == "local"}
    assert (PAGE, "corrupt") in found
    assert ("manifest-sha256.txt", "corrupt") in found and ("tagmanifest-sm3.txt", "corrupt") in found
    assert all(p.repaired for p in report.problems)
    assert (bag / PAGE).read_bytes() != forged


def test_missing_copy_is_found_and_rewritten(archived):
    home = archived
    shutil.rmtree(copy_dir(home, "copy3", "J012-WS·2023-Y-0001"))
    report = run(home)
    assert kinds(report) == [("copy3", "J012-WS·2023-Y-0001", None, "missing_copy")]
    fixed = run(home, REPAIR_ALL)
    assert fixed.problems[0].repaired and fixed.exit_code == 0
    assert (copy_dir(home, "copy3", "J012-WS·2023-Y-0001") / PAGE).is_file()


def test_no_good_copy_changes_nothing_and_says_so(archived):
    home = archived
    damaged = []
    for loc in ("local", "copy2"):
        page = copy_dir(home, loc) / PAGE
        page.write_bytes(page.read_bytes()[:-1] + bytes([page.read_bytes()[-1] ^ 0xFF]))
        damaged.append((page, page.read_bytes()))
    report = run(home, REPAIR_ALL)
    assert report.exit_code == 1
    assert sorted(report.no_good_copy) == [f"J012-WS·2023-D30-0001 @ {loc}: {PAGE}" for loc in ("copy2", "local")]
    assert not any(p.repaired for p in report.problems)
    for page, data in damaged:
        assert page.read_bytes() == data  # nothing overwritten, not even with the other bad copy
    assert not [e for e in home.catalogue.events("J012-WS·2023-D30-0001") if e.type == REPAIR]


def test_two_copies_damaged_in_different_places_mend_each_other(archived):
    home = archived
    (copy_dir(home, "copy2") / PAGE).unlink()
    item_xml = copy_dir(home, "local") / "metadata/item.xml"
    good_xml = item_xml.read_bytes()
    item_xml.write_bytes(b"<broken/>")
    report = run(home, REPAIR_ALL)
    assert {(p.location, str(p.kind), p.repaired) for p in report.problems} == {
        ("local", "truncated", True),
        ("copy2", "missing", True),
    }
    assert report.exit_code == 0 and report.no_good_copy == []
    assert item_xml.read_bytes() == good_xml
    assert run(home).problems == []


def test_missing_copy_with_no_intact_source_is_not_written(archived):
    home = archived
    shutil.rmtree(copy_dir(home, "copy2"))
    page = copy_dir(home, "local") / PAGE
    page.write_bytes(page.read_bytes()[:-1] + b"\x00")
    report = run(home, REPAIR_ALL)
    assert not copy_dir(home, "copy2").exists()  # never a partial or bad copy committed
    assert report.exit_code == 1 and report.no_good_copy


def test_bounds_and_least_recently_verified_first(archived):
    home = archived
    first = run(home, AuditOptions(all=True, max_bytes=1))
    assert first.checked_copies == 1 and first.remaining == 6
    checked = {(e.archival_code, e.location) for code in ("J012-WS·2023-D30-0001",)
               for e in home.catalogue.events(code) if e.type == FIXITY_CHECK}  # fmt: skip
    run(home, AuditOptions(all=True, max_bytes=1))
    second_checked = [
        (e.archival_code, e.location)
        for code in ("J012-WS·2023-D30-0001", "J012-WS·2023-D30-0002", "J012-WS·2023-Y-0001")
        for e in home.catalogue.events(code)
        if e.type == FIXITY_CHECK
    ]
    assert len(second_checked) == 2 and len(set(second_checked)) == 2  # a different copy the second time
    assert checked <= set(second_checked)
    # nothing is due right after ingest: a plain run checks SHA-256 only of what is older than the cycle
    held = [c for r in home.catalogue.list() for c in home.catalogue.copies(r.archival_code).values()]
    never_sm3 = sum(1 for c in held if not c.sm3_verified_at)
    assert never_sm3 >= 1
    assert run(home, AuditOptions()).checked_copies == never_sm3  # primaries whose SM3 was never re-read
    assert run(home, AuditOptions()).checked_copies == 0
    assert run(home, AuditOptions(all=True, location="copy3")).checked_copies == 1


def test_unmounted_location_is_unreadable_not_missing(archived):
    """A location whose directory is gone (a disk not mounted) is one problem, not a missing copy per AIP."""
    home = archived
    (home.path / "copy2").rename(home.path / "copy2-away")
    report = run(home)
    assert [(p.location, p.archival_code, str(p.kind)) for p in report.problems] == [("copy2", None, "unreadable")]
    assert report.exit_code == 4
    assert report.remaining == 2  # the other copies there wait for the next run
    (home.path / "copy2-away").rename(home.path / "copy2")
    assert run(home).problems == []


def test_reindex_keeps_audit_evidence(archived):
    home = archived
    run(home)
    before = home.catalogue.dump()
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.dump() == before


def test_cli_audit_json_shape_exit_codes_and_show(archived, cli):
    home = archived
    code, _, clean = cli("audit", "--all", "--json")
    assert code == 0
    assert set(clean) >= {"checked_aips", "checked_files", "checked_bytes", "problems"}
    assert clean["checked_aips"] == 3 and clean["problems"] == []
    (copy_dir(home, "copy2") / PAGE).write_bytes(b"")
    code, _, found = cli("audit", "--all", "--json", "--location", "copy2")
    assert code == 1
    (problem,) = found["problems"]
    assert {k: v for k, v in problem.items() if k != "detail"} == {
        "archival_code": "J012-WS·2023-D30-0001", "location": "copy2", "path": PAGE, "kind": "truncated",
        "code": "BC-2-2", "repaired": False,
    }  # fmt: skip
    assert problem["detail"]  # expected and found, for the person who reads the JSON
    code, text, _ = cli("audit", "--all", "--repair")
    assert code == 0 and "已修复" in text and "BC-2-2" in text
    code, text, _ = cli("show", "J012-WS·2023-D30-0001")
    assert "fixity check" in text and "repair" in text and "副本:" in text
    code, text, _ = cli("audit", "--location", "nowhere")
    assert code == 2 and "nowhere" in text
    for size in ("lots", "1e400G", "9" * 5000):  # not a number, infinite, past int()'s 4,300 digits
        code, text, _ = cli("audit", "--max-bytes", size)
        assert code == 2 and "无法识别的大小" in text


def test_file_replaced_by_a_link_to_an_intact_copy_is_damage(archived, tmp_path):
    """A link is never followed inside an AIP: the bytes it points at are not the copy's own."""
    home = archived
    page = copy_dir(home, "copy2") / PAGE
    outside = tmp_path / "same-bytes.tif"
    outside.write_bytes(page.read_bytes())
    page.unlink()
    page.symlink_to(outside)
    found = run(home)
    assert [(p.location, p.path) for p in found.problems] == [("copy2", PAGE)]
    assert str(found.problems[0].kind) in ("truncated", "unreadable")
    fixed = run(home, REPAIR_ALL)
    assert fixed.exit_code == 0 and not page.is_symlink()
    assert run(home).problems == []
