"""移交与接收 with two real homes: a community home on local disk sends to a town home whose
locations are a directory and a SeaweedFS bucket under Object Lock.

The package is tampered with in transit in every way the checks must catch; each is refused
with its YJ code and nothing reaches the town. The round trip ends with the records listed in
the town under their original 档号, a clean audit there, and the sender's records transferred.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import bagit
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from archive.bag import write_bag
from archive.config import Fonds, StorageConfig
from archive.errors import UsageError
from archive.fixity import hash_file
from archive.model import Verdict
from archive.storage.s3 import S3Location
from dangan.cli import main
from dangan.cli_transfer import transfer_group
from disposition.transfer import (
    HANDOVER_XML,
    LIST_XLSX,
    LIST_XML,
    README_TXT,
    NothingToTransferError,
    PrepareOptions,
    ReceiptError,
    ReceiveOptions,
    SourceCopyError,
    confirm_transfer,
    due_for_transfer,
    prepare_transfer,
    receive_transfer,
    sender_copies_due,
)
from ingest.metadata import ClassDefaults
from ingest.pipeline import Ingestor
from preservation.audit import AuditOptions, audit

from .conftest import Home, make_scan_batch, new_home, rebag_aip

pytest_plugins = ["tests.s3server"]

J012 = Fonds("J012", "振兴社区居民委员会")
J020 = Fonds("J020", "幸福社区居民委员会")
CODES = [f"J012-WS·2019-D30-{n:04d}" for n in (1, 2, 3)]


def scans(year: int, retention: str) -> ClassDefaults:
    return ClassDefaults(category="WS", year=year, retention=retention, carrier="纸质", author="振兴社区居委会",
                         date=f"{year}0301")  # fmt: skip


def make_home(path: Path, fonds: list[Fonds], storage: tuple[StorageConfig, ...] | None = None) -> Home:
    """A home for the given fonds (the first in ``init``, the others added to dangan.toml)."""
    new_home(path, fonds[0], storage=storage).close()
    config = path / "dangan.toml"
    text = config.read_text(encoding="utf-8")
    text += "".join(f'\n[[fonds]]\ncode = "{f.code}"\nname = "{f.name}"\n' for f in fonds[1:])
    config.write_text(text, encoding="utf-8")
    return Home(path)


def community_home(path: Path) -> Home:
    """Three 2019 定期30年 scans (due since 2024) and one 定期10年 scan (never transferred), on local disk."""
    home = make_home(path, [J012])
    ingestor = Ingestor.open(home.settings, home.catalogue)
    assert ingestor.run(make_scan_batch(path.parent / "due", 3), None, scans(2019, "D30")).exit_code == 0
    assert ingestor.run(make_scan_batch(path.parent / "kept", 1, seed=9), None, scans(2019, "D10")).exit_code == 0
    return home


@pytest.fixture
def town(tmp_path, s3_server):
    """The 镇档案馆: a directory and an S3 bucket with Object Lock, holding two fonds."""
    bucket = s3_server.new_bucket(object_lock=True)
    storage = (
        StorageConfig("local", "fs", {"path": "store"}),
        StorageConfig("offsite", "s3", {"endpoint_url": s3_server.endpoint_url, "bucket": bucket}),
    )
    home = make_home(tmp_path / "town", [J012, J020], storage)
    yield home
    home.close()
    if s3_server.process is None:
        s3_server.start()


@pytest.fixture(scope="module")
def sent(tmp_path_factory) -> Path:
    """One package prepared once per module; tests that tamper work on a copy."""
    root = tmp_path_factory.mktemp("sent")
    home = community_home(root / "community")
    try:
        prepare_transfer(home.settings, home.catalogue, root / "package")
    finally:
        home.close()
    return root / "package"


@pytest.fixture
def package(sent, tmp_path) -> Path:
    return Path(shutil.copytree(sent, tmp_path / "package", symlinks=True))


@pytest.fixture
def run_cli():
    main.add_command(transfer_group)  # as dangan/cli.py registers it; adding twice is harmless

    def run(home: Home, *args: str) -> tuple[int, Any]:
        result = CliRunner().invoke(main, ["--home", str(home.path), *args], catch_exceptions=False)
        return result.exit_code, json.loads(result.stdout) if "--json" in args else result.output

    return run


# --- helpers to tamper with a package in transit ------------------------------------------------------


def aip_dir(pkg: Path, code: str) -> Path:
    return pkg / "data" / "电子档案" / "2019" / "WS" / code


def rebag(pkg: Path) -> None:
    """Rewrite the package's manifests over its data/ as it now is: a tamperer who covers their tracks."""
    info = [tuple(line.split(": ", 1)) for line in (pkg / "bag-info.txt").read_text(encoding="utf-8").splitlines()]
    info = [(k, v) for k, v in info if k != "Payload-Oxum"]
    payload, total = {}, 0
    for path in sorted(p for p in (pkg / "data").rglob("*") if p.is_file() and not p.is_symlink()):
        size, digests = hash_file(path)
        payload[path.relative_to(pkg).as_posix()] = digests
        total += size
    write_bag(pkg, payload, total, info, {})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def flip_byte(pkg: Path) -> None:
    page = aip_dir(pkg, CODES[1]) / "data" / "original" / "扫描件002.tif"
    data = bytearray(page.read_bytes())
    data[-1] ^= 1
    page.write_bytes(bytes(data))


def drop_aip(pkg: Path) -> None:
    shutil.rmtree(aip_dir(pkg, CODES[2]))


def add_file(pkg: Path) -> None:
    (pkg / "data" / "其他" / "备忘.txt").write_text("夹带的文件", encoding="utf-8")


def add_file_inside_aip_and_rebag(pkg: Path) -> None:
    (aip_dir(pkg, CODES[0]) / "data" / "original" / "夹带.txt").write_text("x", encoding="utf-8")
    rebag(pkg)


def edit_list(pkg: Path) -> None:
    edit(pkg / LIST_XML, "<题名>", "<题名>改")


def edited_and_rebagged(name: str, rel: str, old: str, new: str) -> Callable[[Path], None]:
    """A tampering that edits one file of the package and rebuilds its manifests, so only the
    receiving checks (not the package's own fixity) can catch it."""

    def tamper(pkg: Path) -> None:
        edit(pkg / rel, old, new)
        rebag(pkg)

    tamper.__name__ = name
    return tamper


edit_count_and_rebag = edited_and_rebagged(
    "edit_count_and_rebag", HANDOVER_XML, '<数量 单位="件">3</数量>', '<数量 单位="件">4</数量>'
)
edit_title_and_rebag = edited_and_rebagged("edit_title_and_rebag", LIST_XML, "<题名>", "<题名>改")
edit_readme_and_rebag = edited_and_rebagged(
    "edit_readme_and_rebag", README_TXT, "移交单位：振兴社区居民委员会", "移交单位：幸福社区居民委员会"
)
edit_handover_sender_and_rebag = edited_and_rebagged(
    "edit_handover_sender_and_rebag", HANDOVER_XML, "<移交单位>振兴社区居民委员会<", "<移交单位>幸福社区居民委员会<"
)
edit_gigabytes_and_rebag = edited_and_rebagged(
    "edit_gigabytes_and_rebag", HANDOVER_XML, '<数据量 单位="GB">0.', '<数据量 单位="GB">9.'
)


def edit_xlsx_title_and_rebag(pkg: Path) -> None:
    """The reviewer's case: the printed 移交清册 says another 题名 than 文件目录.XML."""
    path = pkg / LIST_XLSX
    book = load_workbook(path)
    sheet = book.active
    header = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 1).value == "顺序号")
    sheet.cell(header + 1, 4).value = "改过的题名"
    book.save(path)
    rebag(pkg)


def swap_aip_file_consistently(pkg: Path) -> None:
    """Change a page and every manifest above it, the AIP's and the package's: only the register still disagrees."""
    bag = aip_dir(pkg, CODES[0])
    page = bag / "data" / "original" / "扫描件001.tif"
    page.write_bytes(page.read_bytes() + b"\0")
    rebag_aip(bag, "data/original/扫描件001.tif")
    rebag(pkg)


def forge_aip_and_register(pkg: Path) -> None:
    """The forger's case: a byte of a page flipped (it still decodes), the AIP's manifests, Payload-Oxum and
    tag manifests rewritten, its new digests written into the 交接登记表, the package rebagged. Only the
    digests the AIP's own metadata/item.xml records for the page still tell the truth."""
    bag = aip_dir(pkg, CODES[1])
    page = bag / "data" / "original" / "扫描件002.tif"
    data = bytearray(page.read_bytes())
    data[-1] ^= 1
    page.write_bytes(bytes(data))
    rebag_aip(bag, "data/original/扫描件002.tif")
    register_anew(pkg, CODES[1])


def forge_aip_bag_info_and_register(pkg: Path) -> None:
    """The same forger gives an AIP's bag-info.txt another 件号: item.xml still names the record's own."""
    bag = aip_dir(pkg, CODES[1])
    edit(bag / "bag-info.txt", "DA-Item-Number: 2\n", "DA-Item-Number: 9\n")
    rebag_aip(bag, "data/original/扫描件002.tif")
    register_anew(pkg, CODES[1])


def add_tag_file_inside_aip_and_register(pkg: Path) -> None:
    """A file slipped in beside an AIP's metadata, listed in its tag manifests, registered anew: a whole
    bag whose metadata agrees with it, yet holding what the archive never writes."""
    bag = aip_dir(pkg, CODES[0])
    rebag_aip(bag, "data/original/扫描件001.tif", {"metadata/extra.xml": b"<x/>"})
    register_anew(pkg, CODES[0])


def forge_everything(pkg: Path) -> None:
    """The forger who also rewrites the digests item.xml records: inside the package all agrees, and only
    the digest the sender gave outside it (YJ-1-7) can tell this package from the one they made."""
    bag = aip_dir(pkg, CODES[1])
    page = bag / "data" / "original" / "扫描件002.tif"
    old = hash_file(page)[1]
    data = bytearray(page.read_bytes())
    data[-1] ^= 1
    page.write_bytes(bytes(data))
    new = hash_file(page)[1]
    item = bag / "metadata" / "item.xml"
    text = item.read_text(encoding="utf-8")
    for algorithm in ("sha256", "sm3"):
        text = text.replace(old[algorithm], new[algorithm])
    item.write_text(text, encoding="utf-8")
    rebag_aip(bag, "data/original/扫描件002.tif")
    register_anew(pkg, CODES[1])


def register_anew(pkg: Path, code: str) -> None:
    """Write an AIP's digests as they now are into the 交接登记表 (its size unchanged), and rebag the package."""
    bag = aip_dir(pkg, code)
    register = (pkg / HANDOVER_XML).read_text(encoding="utf-8")
    for algorithm, name in (("sha256", "SHA-256"), ("sm3", "SM3")):
        entry = register.split(f'档号="{code}"', 1)[1].split(f'算法="{name}">', 1)[1][:64]
        fresh = hash_file(bag / f"tagmanifest-{algorithm}.txt", (algorithm,))[1][algorithm]
        register = register.replace(entry, fresh, 1)
    (pkg / HANDOVER_XML).write_text(register, encoding="utf-8")
    rebag(pkg)


def escape_in_manifest(pkg: Path) -> None:
    with open(pkg / "manifest-sha256.txt", "a", encoding="utf-8") as f:
        f.write(f"{'0' * 64}  data/../../../etc/passwd\n")


def escape_in_aip_manifest_and_rebag(pkg: Path) -> None:
    with open(aip_dir(pkg, CODES[0]) / "manifest-sha256.txt", "a", encoding="utf-8") as f:
        f.write(f"{'0' * 64}  ../../../../../../etc/passwd\n")
    rebag(pkg)


def symlink_out(pkg: Path) -> None:
    os.symlink("/etc/passwd", pkg / "data" / "其他" / "passwd")


def drop_readme(pkg: Path) -> None:
    (pkg / "data" / "说明文件.TXT").unlink()
    rebag(pkg)


def add_root_file(pkg: Path) -> None:
    (pkg / "fetch.txt").write_text("http://example.org/x 1 data/x\n", encoding="utf-8")


def unsafe_record_name_and_rebag(pkg: Path) -> None:
    edit(pkg / LIST_XML, "<电子档案名称>电子档案/", "<电子档案名称>../../")
    rebag(pkg)


def doctype_and_rebag(pkg: Path) -> None:
    text = (pkg / LIST_XML).read_text(encoding="utf-8")
    head, body = text.split("?>", 1)
    evil = '<!DOCTYPE 文件目录 [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    (pkg / LIST_XML).write_text(f"{head}?>\n{evil}{body.replace('<备注/>', '<备注>&x;</备注>', 1)}", encoding="utf-8")
    rebag(pkg)


def retag(pkg: Path) -> None:
    """Rewrite the package's tag manifests over its tag files as they now are (manifests left alone)."""
    tags = ("bagit.txt", "bag-info.txt", *(f"manifest-{a}.txt" for a in ("sha256", "sm3")))
    for algorithm in ("sha256", "sm3"):
        lines = [f"{hash_file(pkg / t, (algorithm,))[1][algorithm]}  {t}\n" for t in tags]
        (pkg / f"tagmanifest-{algorithm}.txt").write_text("".join(lines), encoding="utf-8")


HUGE = "9" * 5000  # past the 4,300 digits int() converts


def huge_payload_oxum(pkg: Path) -> None:
    text = (pkg / "bag-info.txt").read_text(encoding="utf-8")
    oxum = next(line for line in text.splitlines() if line.startswith("Payload-Oxum: "))
    (pkg / "bag-info.txt").write_text(text.replace(oxum, f"Payload-Oxum: {HUGE}.13"), encoding="utf-8")
    retag(pkg)


def huge_register_size_and_rebag(pkg: Path) -> None:
    text = (pkg / HANDOVER_XML).read_text(encoding="utf-8")
    entry = text.split(f'档号="{CODES[0]}" 字节数="', 1)[1].split('"', 1)[0]
    edit(pkg / HANDOVER_XML, f'档号="{CODES[0]}" 字节数="{entry}"', f'档号="{CODES[0]}" 字节数="{HUGE}"')
    rebag(pkg)


def huge_item_number_in_aip_and_rebag(pkg: Path) -> None:
    """An AIP whose item.xml gives a 5,000-digit 件号 (valid xs:positiveInteger), its bag and the package redone."""
    bag = aip_dir(pkg, CODES[0])
    edit(bag / "metadata" / "item.xml", "<件号>1</件号>", f"<件号>{HUGE}</件号>")
    rebag_aip(bag, "data/original/扫描件001.tif")
    rebag(pkg)


TAMPERING = [
    (flip_byte, "YJ-1-1"),
    (drop_aip, "YJ-2-3"),
    (add_file, "YJ-2-4"),
    (add_file_inside_aip_and_rebag, "YJ-2-4"),
    (edit_list, "YJ-1-1"),
    (edit_count_and_rebag, "YJ-2-1"),
    (edit_title_and_rebag, "YJ-1-4"),
    (swap_aip_file_consistently, "YJ-1-3"),
    (forge_aip_and_register, "YJ-1-2"),
    (forge_aip_bag_info_and_register, "YJ-1-2"),
    (add_tag_file_inside_aip_and_register, "YJ-1-2"),
    (huge_payload_oxum, "YJ-2-2"),
    (huge_register_size_and_rebag, "YJ-3-1"),
    (huge_item_number_in_aip_and_rebag, "YJ-3-1"),
    (escape_in_manifest, "YJ-4-7"),
    (escape_in_aip_manifest_and_rebag, "YJ-4-7"),
    (symlink_out, "YJ-4-7"),
    (doctype_and_rebag, "YJ-3-1"),
    (drop_readme, "YJ-2-3"),
    (add_root_file, "YJ-2-4"),
    (unsafe_record_name_and_rebag, "YJ-3-1"),
    (edit_xlsx_title_and_rebag, "YJ-1-4"),
    (edit_readme_and_rebag, "YJ-1-4"),
    (edit_handover_sender_and_rebag, "YJ-1-4"),
    (edit_gigabytes_and_rebag, "YJ-2-2"),
]


def failed_codes(result) -> set[str]:
    return {f.code for f in result.report.findings if f.failed}


def assert_nothing_stored(town: Home) -> None:
    assert town.keys() == {"local": [], "offsite": []}
    assert town.catalogue.list() == []


# --- due ------------------------------------------------------------------------------------------------


def test_y_and_d30_are_due_in_the_fifth_year_after_their_year(tmp_path, run_cli):
    home = community_home(tmp_path / "community")
    try:
        assert due_for_transfer(home.settings, home.catalogue, date(2023, 12, 31)).items == []
        due = due_for_transfer(home.settings, home.catalogue, date(2024, 1, 1)).items
        assert [d.meta.archival_code for d in due] == CODES  # the 定期10年 item is never transferred
        assert {d.due for d in due} == {date(2024, 1, 1)}
        code, out = run_cli(home, "transfer", "due", "--json")
        assert code == 0 and [i["archival_code"] for i in out["items"]] == CODES
        config = home.path / "dangan.toml"  # rules are configuration: ten years instead of five
        config.write_text(config.read_text(encoding="utf-8") + "\n[retention.schedule]\ntransfer_after_years = 10\n")
        code, out = run_cli(home, "transfer", "due", "--json")
        assert code == 0 and out["total"] == 0
        code, _ = run_cli(home, "transfer", "prepare", "--to", str(tmp_path / "pkg"))
        assert code == 2 and not (tmp_path / "pkg").exists()
    finally:
        home.close()


# --- the round trip -------------------------------------------------------------------------------------


def test_round_trip_from_community_disk_to_town_disk_and_s3(tmp_path, town, run_cli):
    community = community_home(tmp_path / "community")
    pkg = tmp_path / "移交包"
    code, prepared = run_cli(community, "transfer", "prepare", "--to", str(pkg), "--json")
    assert code == 0 and prepared["items"] == CODES
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left beside it
    bagit.Bag(str(pkg)).validate()  # the reference implementation accepts the package too (SHA-256)
    for name in ("data/说明文件.TXT", "data/文件目录.XML", "data/其他/交接登记表.XML", "data/其他/移交清册.xlsx"):
        assert (pkg / name).is_file(), name
    assert "移交编号" not in (pkg / LIST_XML).read_text(encoding="utf-8")

    code, received = run_cli(town, "transfer", "receive", str(pkg), "--json")
    assert code == 0, received["findings"]
    assert received["status"] == "received" and received["stored"] == CODES and received["checks"] == 16
    code, listed = run_cli(town, "list", "--json")
    assert [i["archival_code"] for i in listed["items"]] == CODES
    assert {i["fonds_code"] for i in listed["items"]} == {"J012"}
    assert town.keys() == {"local": [f"J012/{c}" for c in CODES], "offsite": [f"J012/{c}" for c in CODES]}
    report = audit(town.settings, town.catalogue, town.locations(), AuditOptions(all=True))
    assert report.problems == [] and report.checked_copies == 6
    events = [e.type for e in town.catalogue.events(CODES[0])]
    assert "ingestion" in events and "replication" in events and "transfer" not in events
    for code in CODES:  # the AIPs arrive unchanged: every file with the digests the sender holds
        assert file_digests(town, code) == file_digests(community, code)

    code, confirmed = run_cli(community, "transfer", "confirm", received["receipt"], "--json")
    assert code == 0 and confirmed["status"] == "confirmed" and confirmed["items"] == CODES
    statuses = {r.archival_code: r.status for r in community.catalogue.list()}
    assert statuses == {**dict.fromkeys(CODES, "transferred"), "J012-WS·2019-D10-0001": "archived"}
    assert "transfer" in [e.type for e in community.catalogue.events(CODES[0])]
    code, again = run_cli(community, "transfer", "confirm", received["receipt"], "--json")
    assert code == 0 and again["status"] == "already_confirmed"
    from archive.reindex import rebuild  # the status is kept in the records beside the AIPs, not only in SQLite

    rebuild(community.settings, community.catalogue)
    assert {r.archival_code: r.status for r in community.catalogue.list()} == statuses
    kept_until = date.fromisoformat(confirmed["keep_copy_until"])
    assert kept_until.year - date.today().year == 5  # 5 years by default
    assert sender_copies_due(community.settings, community.catalogue, kept_until - timedelta(days=1)) == []
    assert sender_copies_due(community.settings, community.catalogue, kept_until) == [(c, kept_until) for c in CODES]
    community.close()


def file_digests(home: Home, code: str) -> dict[str, tuple[str, str]]:
    return {f.path: (f.sha256, f.sm3) for f in home.catalogue.files(code)}


def test_second_receive_changes_nothing(package, town):
    first = receive_transfer(town.settings, town.catalogue, package)
    assert first.status == "received", first.to_json()
    before = snapshot(town)
    second = receive_transfer(town.settings, town.catalogue, package)
    assert second.status == "already_received" and second.exit_code == 0
    assert second.receipt == first.receipt and second.stored == []
    assert snapshot(town) == before


def snapshot(home: Home) -> dict[str, Any]:
    """Every file of the home (the SQLite files aside), the catalogue's rows and every object version in S3."""
    files = {}
    for path in sorted(home.path.rglob("*")):
        if path.is_file() and ".sqlite" not in path.name:
            files[path.relative_to(home.path).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    s3 = home.locations()[1]
    versions = s3.client.list_object_versions(Bucket=s3.bucket)
    every = versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    objects = sorted((v["Key"], v["VersionId"]) for v in every)
    return {"files": files, "catalogue": home.catalogue.dump(), "s3": objects}


# --- tampering in transit ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tamper", "expected"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
def test_tampered_package_is_refused_and_nothing_stored(package, town, tamper, expected):
    tamper(package)
    result = receive_transfer(town.settings, town.catalogue, package)
    assert result.status == "rejected" and result.exit_code == 1
    assert expected in failed_codes(result), [f.to_json() for f in result.report.failures]
    assert result.receipt is None and result.report_path is not None
    assert '结论="不通过"' in result.report_path.read_text(encoding="utf-8")
    assert_nothing_stored(town)


def test_checks_that_could_not_run_are_not_reported_as_passed(package, town):
    symlink_out(package)
    verdicts = {
        f.code: f.verdict.value for f in receive_transfer(town.settings, town.catalogue, package).report.findings
    }
    assert verdicts["YJ-4-7"] == "不通过"
    assert verdicts["YJ-3-3"] == verdicts["YJ-1-5"] == "不适用"  # no file was opened through the symlinked tree
    assert verdicts["YJ-2-1"] == "通过"  # the registers were still read (component by component, no symlink followed)


def test_refusal_through_the_cli_prints_the_codes_and_exits_1(package, town, run_cli):
    flip_byte(package)
    code, out = run_cli(town, "transfer", "receive", str(package))
    assert code == 1
    assert "YJ-1-1" in out and "拒收" in out and "检测报告" in out
    assert_nothing_stored(town)


def test_fonds_not_held_by_the_town_is_refused(package, tmp_path):
    other = make_home(tmp_path / "other-town", [J020])
    try:
        result = receive_transfer(other.settings, other.catalogue, package)
        assert "YJ-1-6" in failed_codes(result)
        assert other.keys() == {"local": [], "copy2": [], "copy3": []} and other.catalogue.list() == []
    finally:
        other.close()


def test_same_code_with_other_content_is_refused(package, town, tmp_path):
    ingestor = Ingestor.open(town.settings, town.catalogue)  # the town already holds another J012-WS·2019-D30-0001
    assert ingestor.run(make_scan_batch(tmp_path / "own", 1, seed=7), None, scans(2019, "D30")).exit_code == 0
    before = town.keys()
    result = receive_transfer(town.settings, town.catalogue, package)
    assert "YJ-1-8" in failed_codes(result)
    assert town.keys() == before and [r.archival_code for r in town.catalogue.list()] == CODES[:1]


# --- storage failures: nothing when a location is down, resumable when it fails half-way ---------------------


def test_s3_down_before_storing_stores_nothing(package, town, s3_server):
    s3_server.stop()
    result = receive_transfer(town.settings, town.catalogue, package)
    assert result.status == "incomplete" and result.exit_code == 4
    assert result.report.ok and result.receipt is None and result.stored == []
    assert {f.code for f in result.failures} == {"BC-4-8"}
    assert list(town.locations()[0].list_keys()) == [] and town.catalogue.list() == []
    s3_server.start()
    assert receive_transfer(town.settings, town.catalogue, package).status == "received"


def test_failure_half_way_is_completed_by_receiving_again(package, town, s3_server, monkeypatch):
    real, calls = S3Location.commit_from, []

    def outage_at_second_copy(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            s3_server.stop()  # a real outage: the second AIP's copy to S3 fails
        return real(self, *args, **kwargs)

    monkeypatch.setattr(S3Location, "commit_from", outage_at_second_copy)
    first = receive_transfer(town.settings, town.catalogue, package)
    assert first.status == "incomplete" and first.exit_code == 4 and first.receipt is None
    assert first.stored == CODES[:1] and [f.path for f in first.failures] == [CODES[1]]
    assert list(town.locations()[0].list_keys()) == [f"J012/{c}" for c in CODES[:2]]  # whole AIPs only
    s3_server.start()
    second = receive_transfer(town.settings, town.catalogue, package)
    assert second.status == "received", second.to_json()
    assert second.already_held == CODES[:2] and second.stored == CODES[2:]
    assert town.keys() == {"local": [f"J012/{c}" for c in CODES], "offsite": [f"J012/{c}" for c in CODES]}
    assert audit(town.settings, town.catalogue, town.locations(), AuditOptions(all=True)).problems == []
    assert receive_transfer(town.settings, town.catalogue, package).status == "already_received"


# --- the sender's side: damaged source, altered receipts ----------------------------------------------------


def test_damaged_source_copy_writes_no_package(tmp_path):
    home = community_home(tmp_path / "community")
    try:
        page = home.path / "store" / "J012" / CODES[0] / "data" / "original" / "扫描件001.tif"
        page.write_bytes(page.read_bytes()[:-1])
        with pytest.raises(SourceCopyError):
            prepare_transfer(home.settings, home.catalogue, tmp_path / "pkg")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["community", "due", "kept"]
        assert not (home.path / "registers" / "transfers").exists()
        with pytest.raises(NothingToTransferError):
            prepare_transfer(home.settings, home.catalogue, tmp_path / "pkg", _options(fonds="J999"))
    finally:
        home.close()


def _options(**kw: Any) -> PrepareOptions:
    return PrepareOptions(**kw)


def test_altered_or_foreign_receipt_is_refused(tmp_path, town):
    community = community_home(tmp_path / "community")
    try:
        prepare_transfer(community.settings, community.catalogue, tmp_path / "pkg")
        receipt = receive_transfer(town.settings, town.catalogue, tmp_path / "pkg").receipt
        copy = tmp_path / receipt.name
        shutil.copy(receipt, copy)
        for algorithm in ("sha256", "sm3"):
            shutil.copy(f"{receipt}.{algorithm}", f"{copy}.{algorithm}")
        edit(copy, 'SHA-256">', 'SHA-256">0')  # altered: the sidecar digests no longer match
        with pytest.raises(ReceiptError, match="可能已被改动"):
            confirm_transfer(community.settings, community.catalogue, copy)
        resigned = (
            (('字节数="47', '字节数="57'), "接收回执与移交记录不符"),  # re-signed, but not what was sent
            (("<检测结论>通过<", "<检测结论>不通过<"), "检测结论为“不通过”"),  # re-signed, and says the package failed
        )
        for (old, new), refusal in resigned:
            resign(receipt, copy, lambda text, old=old, new=new: text.replace(old, new, 1))
            with pytest.raises(ReceiptError, match=refusal):
                confirm_transfer(community.settings, community.catalogue, copy)
        assert {r.status for r in community.catalogue.list()} == {"archived"}
        assert not list((community.path / "registers" / "transfers").glob(f"*/{copy.name}"))
    finally:
        community.close()


def resign(receipt: Path, copy: Path, change: Callable[[str], str]) -> None:
    """Copy a receipt, change its text and write sidecars that agree: what anyone who can rewrite it can do."""
    text = receipt.read_text(encoding="utf-8")
    changed = change(text)
    assert changed != text, "the tampering changed nothing"
    copy.write_text(changed, encoding="utf-8")
    for algorithm in ("sha256", "sm3"):
        digest = hash_file(copy, (algorithm,))[1][algorithm]
        Path(f"{copy}.{algorithm}").write_text(f"{digest}  {copy.name}\n")


def _sub(pattern: str, new: str, count: int = 1) -> Callable[[str], str]:
    return lambda text: re.sub(pattern, new, text, count=count)


def _other_digit(element: str) -> Callable[[str], str]:
    """The first hex digit of a digest element changed (to 1 where it is 0, else to 0): always a change."""
    return lambda text: re.sub(
        rf"({element}>)(\w)", lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"), text, count=1
    )


RECEIPT_TAMPERINGS = [  # (change, the field named, what was sent, what the receipt says)
    (_sub("<接收单位>镇档案馆<", "<接收单位>别的馆<"), "接收单位", "镇档案馆", "别的馆"),
    (_sub(r"<字节数>\d+<", "<字节数>1<"), "字节数", "AIP_BYTES", "1"),
    (_sub("<数量>3<", "<数量>4<"), "数量", "3", "4"),
    (_sub("<移交单位>振兴", "<移交单位>幸福"), "移交单位", "振兴社区居民委员会", "幸福社区居民委员会"),
    (_other_digit('<交接登记表摘要 算法="SHA-256"'), "交接登记表摘要 SHA-256", "", ""),
    (_other_digit('<包摘要 算法="SM3"'), "包摘要 SM3", "", ""),
    (_sub('全宗号="J012"', '全宗号="J020"'), f"{CODES[0]}: 全宗号", "J012", "J020"),
    (_sub(r'字节数="\d+">', '字节数="1">'), f"{CODES[0]}: 字节数", "", "1"),
    (_sub(r'\s*<数字摘要 算法="SM3">\w+</数字摘要>', ""), f"{CODES[0]}: 数字摘要 SM3", "", "（无）"),
    (_sub(CODES[2], CODES[1]), f"信息包 {CODES[1]}", "一项", "重复"),
    (_sub(CODES[2], CODES[1]), f"信息包 {CODES[2]}", CODES[2], "（未被接收）"),
    (_sub("<接收时间>[^<]+<", "<接收时间>2000-01-01T00:00:00+00:00<"), "接收时间", "", "2000-01-01T00:00:00+00:00"),
    (_sub("<接收时间>[^<]+<", "<接收时间>2999-01-01T00:00:00+00:00<"), "接收时间", "", "2999-01-01T00:00:00+00:00"),
    (_sub(r"<接收时间>([^<]+)\+00:00<", r"<接收时间>\1<"), "接收时间", "", ""),  # no time zone
    (_sub("</接收回执>", "<附注>另有约定</附注></接收回执>"), "附注", "（无）", "（未知字段）"),
    (_sub("<接收人>", "<接收单位>别的馆</接收单位><接收人>"), "接收单位", "一项", "镇档案馆 / 别的馆"),
]


def test_resigned_receipt_differing_in_any_field_is_refused_naming_it(tmp_path, run_cli):
    """A receipt re-signed after any change is refused, naming the field, what was sent and what it says;
    nothing is marked transferred, no event is written and the receipt is not kept."""
    community = community_home(tmp_path / "community")
    town = make_home(tmp_path / "town", [J012, J020])
    try:
        prepared = prepare_transfer(community.settings, community.catalogue, tmp_path / "pkg")
        receipt = receive_transfer(town.settings, town.catalogue, tmp_path / "pkg").receipt
        copy = tmp_path / receipt.name
        for change, name, stated, found in RECEIPT_TAMPERINGS:
            sent = json.loads((prepared.record / "移交记录.json").read_text(encoding="utf-8"))
            aip_bytes = sum(a["size"] for a in sent["aips"])
            expected = str(aip_bytes) if stated == "AIP_BYTES" else stated
            resign(receipt, copy, change)
            with pytest.raises(ReceiptError, match="接收回执与移交记录不符") as refused:
                confirm_transfer(community.settings, community.catalogue, copy)
            named = [m for m in refused.value.mismatches if m.field == name]
            assert named, (name, refused.value.mismatches)
            assert all(m.expected != m.found for m in refused.value.mismatches)
            assert (not expected or named[0].expected.startswith(expected)) and (not found or named[0].found == found)
        resign(receipt, copy, _sub("<接收单位>镇档案馆<", "<接收单位>别的馆<"))
        code, output = run_cli(community, "transfer", "confirm", str(copy))
        assert code == 1 and "接收单位: 应为 镇档案馆, 实为 别的馆" in output and "件已移交至" not in output
        assert {r.status for r in community.catalogue.list()} == {"archived"}
        assert all(e.type != "transfer" for c in CODES for e in community.catalogue.events(c))
        assert not list((community.path / "registers" / "transfers").glob(f"*/{copy.name}*"))
        confirmed = confirm_transfer(community.settings, community.catalogue, receipt)  # the true one still confirms
        assert confirmed.status == "confirmed" and confirmed.receiver == "镇档案馆" and confirmed.items == CODES
    finally:
        community.close()
        town.close()


def test_sent_record_from_before_the_full_comparison_still_confirms(tmp_path):
    """A 移交记录 written without the 交接登记表 digest and the 全宗号 takes them from the 交接登记表
    kept beside it and the catalogue; without that copy the receipt is refused, saying why."""
    community = community_home(tmp_path / "community")
    town = make_home(tmp_path / "town", [J012, J020])
    try:
        prepare_transfer(community.settings, community.catalogue, tmp_path / "pkg")
        receipt = receive_transfer(town.settings, town.catalogue, tmp_path / "pkg").receipt
        [record] = (community.path / "registers" / "transfers").glob("*/移交记录.json")
        data = json.loads(record.read_text(encoding="utf-8"))
        del data["handover_sha256"]
        for aip in data["aips"]:
            del aip["fonds_code"]
        record.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        handover = record.with_name("交接登记表.XML")
        kept = handover.read_bytes()
        handover.unlink()
        with pytest.raises(ReceiptError, match="本库这次移交的记录无法读取或不完整") as refused:
            confirm_transfer(community.settings, community.catalogue, receipt)
        assert refused.value.rule == "transfer:sent-record"
        assert {r.status for r in community.catalogue.list()} == {"archived"}
        handover.write_bytes(kept)
        assert confirm_transfer(community.settings, community.catalogue, receipt).status == "confirmed"
    finally:
        community.close()
        town.close()


def test_receiving_a_package_addressed_to_another_archive_stores_nothing(package, tmp_path):
    """--receiver names the receiving archive; a package whose 交接登记表 names another is not taken,
    since the receipt would name a 接收单位 the sender must refuse."""
    town = make_home(tmp_path / "town", [J012, J020])
    try:
        with pytest.raises(UsageError, match="别的馆") as refused:
            receive_transfer(town.settings, town.catalogue, package, ReceiveOptions(receiver="别的馆"))
        assert refused.value.rule == "transfer:receiver" and "镇档案馆" in refused.value.message
        assert town.catalogue.list() == [] and not any(town.keys().values())
        assert not (town.path / "registers" / "transfer-receipts").exists()
        result = receive_transfer(town.settings, town.catalogue, package, ReceiveOptions(receiver="镇档案馆"))
        assert result.status == "received", result.to_json()
    finally:
        town.close()


# --- the registers agree with each other, the fonds is the town's, one package per 移交编号 -------------------


def test_xlsx_list_differing_from_the_xml_list_is_refused_naming_the_field(package, town):
    edit_xlsx_title_and_rebag(package)
    result = receive_transfer(town.settings, town.catalogue, package)
    [finding] = [f for f in result.report.failures if f.path == LIST_XLSX]
    assert finding.code == "YJ-1-4" and "题名" in finding.message and finding.found == "改过的题名"
    assert result.status == "rejected" and result.receipt is None
    assert_nothing_stored(town)


def test_fonds_under_another_name_in_the_town_is_refused(package, tmp_path):
    other = make_home(tmp_path / "other-town", [Fonds("J012", "另一个村民委员会")])
    try:
        result = receive_transfer(other.settings, other.catalogue, package)
        refused = [f for f in result.report.failures if f.code == "YJ-1-6"]
        assert len(refused) == len(CODES) and result.status == "rejected"
        assert "另一个村民委员会" in refused[0].message and "振兴社区居民委员会" in refused[0].message
        assert other.keys() == {"local": [], "copy2": [], "copy3": []} and other.catalogue.list() == []
    finally:
        other.close()


def test_other_content_under_a_transfer_id_already_received_is_refused(package, town, tmp_path):
    first = receive_transfer(town.settings, town.catalogue, package)
    assert first.status == "received", first.to_json()
    before = snapshot(town)
    second = Path(shutil.copytree(package, tmp_path / "second"))
    edit(second / "bag-info.txt", "Bag-Software-Agent: dangan ", "Bag-Software-Agent: dangan 9.9 (was ")
    rebag(second)  # every check passes on its own; only the 移交编号 is taken, by other content
    result = receive_transfer(town.settings, town.catalogue, second)
    assert result.status == "rejected" and result.exit_code == 1 and result.receipt is None
    [taken] = [f for f in result.report.failures if f.code == "YJ-1-8"]
    assert first.transfer_id in taken.message and taken.expected == first.digests["SHA-256"]
    receipts = sorted((town.path / "registers" / "transfer-receipts").glob("*.xml"))
    assert receipts == [first.receipt]
    after = snapshot(town)
    reports = "registers/transfer-reports/"
    assert {k: v for k, v in after["files"].items() if not k.startswith(reports)} == {
        k: v for k, v in before["files"].items() if not k.startswith(reports)
    }
    assert after["catalogue"] == before["catalogue"] and after["s3"] == before["s3"]
    again = receive_transfer(town.settings, town.catalogue, package)  # the same package is still welcome
    assert again.status == "already_received" and again.receipt == first.receipt


def test_aip_manifest_is_checked_against_the_bytes_not_only_the_package_manifest(package, town):
    """A page changed without touching any manifest: YJ-1-1 fails, and so must YJ-1-2 (the AIP's own)."""
    flip_byte(package)
    result = receive_transfer(town.settings, town.catalogue, package)
    page = f"data/电子档案/2019/WS/{CODES[1]}/data/original/扫描件002.tif"
    own = [f for f in result.report.findings if f.code == "YJ-1-2"]
    assert own and all(f.failed for f in own) and {f.path for f in own} == {page}
    assert {f.expected for f in own} != {f.found for f in own}
    report = result.report_path.read_text(encoding="utf-8")
    assert '代码="YJ-1-2" 结论="不通过"' in report and '代码="YJ-1-2" 结论="通过"' not in report


def test_aip_whose_metadata_digests_differ_from_its_bytes_is_refused_before_any_claim(package, town):
    """Issue 13.1: every manifest and the register rewritten over a changed page; the AIP's own item.xml
    still records the page's original digests, so the AIP disagrees with itself and nothing is taken."""
    forge_aip_and_register(package)
    result = receive_transfer(town.settings, town.catalogue, package)
    page = f"data/电子档案/2019/WS/{CODES[1]}/data/original/扫描件002.tif"
    assert result.status == "rejected" and result.exit_code == 1 and result.receipt is None
    assert failed_codes(result) == {"YJ-1-2"}, [f.to_json() for f in result.report.failures]
    forged = [f for f in result.report.failures if f.path == page]
    assert len(forged) == 2  # SHA-256 and SM3, each as item.xml records it against the manifest
    assert all("item.xml" in f.message and f.expected and f.expected != f.found for f in forged)
    assert_nothing_stored(town)
    assert not (town.path / "registers" / "transfer-ids").exists()


@pytest.mark.parametrize("stage", ["check_package", "store_package"])
def test_receive_stopped_by_an_error_still_writes_its_report(package, town, monkeypatch, stage):
    """README: every failure writes a report under registers/transfer-reports/, an unforeseen error too."""

    def broken(*args, **kwargs):
        raise RuntimeError("模拟故障 simulated fault")

    monkeypatch.setattr(f"disposition._receive_run.{stage}", broken)  # where receive looks it up
    with pytest.raises(RuntimeError):
        receive_transfer(town.settings, town.catalogue, package)
    [report] = (town.path / "registers" / "transfer-reports").glob("*.xml")
    text = report.read_text(encoding="utf-8")
    assert '结论="不通过"' in text and "模拟故障" in text
    assert town.catalogue.list() == []


def test_only_the_digest_given_outside_the_package_tells_a_full_forgery(package, town, tmp_path):
    """Everything inside a package can be rewritten to agree with itself: the 包摘要 the sender wrote on the
    signed 交接登记表 (YJ-1-7) is what tells their package from a forgery. Without it, the report says the
    origin is unproven; with it, a forgery is refused and stores nothing, and the genuine package passes."""
    genuine = hash_file(package / "tagmanifest-sha256.txt", ("sha256",))[1]["sha256"]
    forged = Path(shutil.copytree(package, tmp_path / "forged"))
    forge_everything(forged)
    unproven = receive_transfer(town.settings, town.catalogue, forged, ReceiveOptions())
    origin = [f for f in unproven.report.findings if f.code == "YJ-1-7"]
    assert [f.verdict for f in origin] == [Verdict.warning] and "--package-sha256" in origin[0].message
    assert unproven.status == "received"  # nothing inside it betrays the forgery: hence YJ-1-7

    other = make_home(tmp_path / "town2", [J012])
    try:
        expected = ReceiveOptions(expected={"SHA-256": genuine})
        refused = receive_transfer(other.settings, other.catalogue, forged, expected)
        assert refused.status == "rejected" and failed_codes(refused) == {"YJ-1-7"}
        assert not any(other.keys().values()) and other.catalogue.list() == []
        assert not (other.path / "registers" / "transfer-ids").exists() or not any(
            (other.path / "registers" / "transfer-ids").iterdir()
        )
        passed = receive_transfer(
            other.settings, other.catalogue, package, ReceiveOptions(expected={"SHA-256": genuine.upper()})
        )
        assert passed.status == "received"
        assert [f.verdict for f in passed.report.findings if f.code == "YJ-1-7"] == [Verdict.passed]
    finally:
        other.close()


def test_receive_takes_the_package_digest_on_the_command_line(package, town, run_cli):
    genuine = hash_file(package / "tagmanifest-sha256.txt", ("sha256",))[1]["sha256"]
    code, received = run_cli(town, "transfer", "receive", str(package), "--package-sha256", "0" * 64, "--json")
    assert code == 1 and received["status"] == "rejected"
    assert [f["code"] for f in received["findings"] if f["verdict"] == Verdict.failed.value] == ["YJ-1-7"]
    code, received = run_cli(town, "transfer", "receive", str(package), "--package-sha256", genuine, "--json")
    assert code == 0 and received["status"] == "received"
