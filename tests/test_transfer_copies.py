"""已移交副本: after a confirmed transfer the community keeps its copies for ``keep_copy_years``, then removes
them through the approved destruction path.

The homes are real: a community home on local disk (three locations) transfers a 永久 and two 定期30年
records to a town home, receives the 接收回执 and confirms it; a 定期10年 record stays. Each test works on
a copy of that community home. Before the keep date the copies are refused and nothing is written; from
it they are listed, proposed without a 鉴定, signed by the usual roles, removed everywhere, tombstoned as
"transferred, copy removed" and listed in the 销毁清册 with the receipt; audit and reindex agree after.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from archive.premis import DELETION
from archive.reindex import rebuild
from archive.storage import open_locations
from archive.tombstone import COPY_REMOVED, DESTROYING, TOMBSTONE, destroyed_notice
from dangan.cli import main as cli_main
from dangan.cli_disposal import destroy_group, retention_group
from disposition import disposal
from disposition._home import now
from disposition._ledger import Ledger
from disposition.transfer import confirm_transfer, prepare_transfer, receive_transfer, sender_copies_due
from ingest.metadata import ClassDefaults
from ingest.pipeline import Ingestor
from preservation.audit import AuditOptions, audit
from retention import Role
from retention.appraisal import Action
from retention.errors import InvalidDecisionError, SenderCopyKeptError, TooFewApproversError
from search.indexing import open_search

from .conftest import Home, make_scan_batch, new_home

FOLDERS = ("store", "copy2", "copy3")
SENT = ["J012-WS·2019-D30-0001", "J012-WS·2019-D30-0002", "J012-WS·2019-Y-0001"]
KEPT = "J012-WS·2019-D10-0001"  # 定期10年: never transferred, stays in the archive
PROPOSER = "王档案"
SIGNERS = (("李鉴定", Role.panel), ("赵主任", Role.head), ("钱监销", Role.witness), ("孙监销", Role.witness))


def _new_home(path: Path) -> Home:
    """A home on local disk keeping every record in all three locations."""
    return new_home(path, copies={"default": 3})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The community home after ``transfer prepare``, ``receive`` at the town and ``confirm``."""
    root = tmp_path_factory.mktemp("sender-copies")
    community, town = _new_home(root / "community"), _new_home(root / "town")
    with Ingestor.open(community.settings, community.catalogue) as ingestor:
        for n, (retention, count) in enumerate((("D30", 2), ("Y", 1), ("D10", 1))):
            defaults = ClassDefaults(category="WS", year=2019, retention=retention, carrier="纸质", author="居委会",
                                     date="20190301")  # fmt: skip
            assert ingestor.run(make_scan_batch(root / f"scans{n}", count, seed=n + 3), None, defaults).exit_code == 0
    prepared = prepare_transfer(community.settings, community.catalogue, root / "package")
    assert prepared.items == SENT
    received = receive_transfer(town.settings, town.catalogue, prepared.package)
    assert received.status == "received", received.to_json()
    assert received.receipt is not None
    confirm_transfer(community.settings, community.catalogue, received.receipt)
    community.catalogue.close()
    town.catalogue.close()
    return community.path


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Home:
    path = tmp_path / "community"
    shutil.copytree(template, path)
    with Home(path) as opened:
        yield opened


@pytest.fixture
def dangan(home: Home):
    runner = CliRunner()
    cli_main.add_command(retention_group)  # as dangan/cli.py loads them; adding twice is harmless
    cli_main.add_command(destroy_group)

    def invoke(*args: str) -> tuple[int, str, dict | None]:
        result = runner.invoke(cli_main, ["--home", str(home.path), *args], catch_exceptions=False)
        return result.exit_code, result.output, json.loads(result.stdout) if "--json" in args else None

    return invoke


def keep_date(home: Home) -> date:
    """The day the copies became removable (5 years after the confirm, by default)."""
    [until] = {day for _code, day in sender_copies_due(home.settings, home.catalogue, date.max)}
    return until


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=now().tzinfo)


def held_everywhere(home: Home, code: str) -> bool:
    return all((home.path / f / "J012" / code / "bagit.txt").is_file() for f in FOLDERS)


def signed(home: Home, batch_id: str, day: date) -> None:
    for person, role in SIGNERS:
        disposal.approve(home.settings, batch_id, person, role, at(day, 10))


def sent_record(home: Home) -> dict:
    [record] = (home.path / "registers" / "transfers").glob("*/移交记录.json")
    return json.loads(record.read_text(encoding="utf-8"))


# --- listed from the keep date, refused before it --------------------------------------------------


def test_copies_are_listed_as_transferred_copies_from_the_keep_date(home, dangan):
    until = keep_date(home)
    assert until.year - date.today().year == 5  # keep_copy_years = 5 by default

    def copies(day: date) -> list[str]:
        return [d.meta.archival_code for d in disposal.due(home.settings, home.catalogue, day).items if d.sender_copy]

    assert copies(until - timedelta(days=1)) == []
    assert copies(until) == SENT
    code, out, _ = dangan("retention", "due", "--as-of", until.isoformat())
    assert code == 0 and "已移交副本" in out and "已移交副本可删除 3 件" in out
    code, _out, data = dangan("retention", "due", "--as-of", until.isoformat(), "--json")
    # one list, each item marked: the D10 record expired on 2030-01-01, the copies became removable later
    assert [(i["archival_code"], i["kind"]) for i in data["items"]] == [
        (KEPT, "expired"), *((c, "transferred_copy") for c in SENT),
    ]  # fmt: skip
    sent = sent_record(home)
    for item in data["items"][1:]:
        assert item["due"] == until.isoformat() and item["decision"] is None
        assert item["transfer"] == {
            "transfer_id": sent["transfer_id"], "receiver": "镇档案馆",
            "receipt_sha256": sent["package_digests"]["SHA-256"], "transferred_on": date.today().isoformat(),
            "removable_on": until.isoformat(),
        }  # fmt: skip


def test_copy_is_refused_before_its_keep_date_and_nothing_is_written(home, dangan, cjk_font):
    until = keep_date(home)
    with pytest.raises(SenderCopyKeptError, match=f"已移交副本保留至 {until.isoformat()}") as refused:
        disposal.propose(home.settings, home.catalogue, SENT, PROPOSER)
    assert refused.value.rule == "destruction:sender-copy-kept" and refused.value.exit_code == 1
    assert {p.path for p in refused.value.details} == set(SENT)
    ledger = Ledger(home.path)
    assert ledger.decisions() == [] and not list((ledger.root / "batches").glob("*.json"))

    code, out, _ = dangan("destroy", "propose", SENT[0], "--by", PROPOSER)
    assert code == 1 and f"已移交副本保留至 {until.isoformat()}" in out
    # a transferred record is not appraised here: the message says what to do instead
    with pytest.raises(InvalidDecisionError, match="destroy propose") as no_decision:
        disposal.decide(home.settings, home.catalogue, [SENT[0]], "destroy", "无保存价值", "李鉴定")
    assert no_decision.value.rule == "appraisal:transferred"

    # proposed and signed for the keep date, a run before it is refused too, and deletes nothing
    batch_id = disposal.propose(home.settings, home.catalogue, SENT, PROPOSER, at(until)).batch_id
    signed(home, batch_id, until)
    with pytest.raises(SenderCopyKeptError):
        disposal.run_batch(home.settings, home.catalogue, batch_id, as_of=until - timedelta(days=1))
    assert all(held_everywhere(home, c) and home.catalogue.get(c).status == "transferred" for c in SENT)
    assert not list((home.path / "store" / ".records").rglob(TOMBSTONE))


# --- removed from the keep date ----------------------------------------------------------------------


def test_copies_are_removed_through_the_approved_path_and_audit_and_reindex_agree(home, cjk_font):
    until, sent = keep_date(home), sent_record(home)
    receipt = sent["package_digests"]["SHA-256"]
    batch = disposal.propose(home.settings, home.catalogue, SENT, PROPOSER, at(until))
    for d in batch.decisions:  # no 鉴定: the decision names the transfer and the receipt
        assert d.action is Action.remove_copy and d.decided_by == PROPOSER
        assert f"已移交镇档案馆（移交编号 {sent['transfer_id']}，接收回执 {receipt}" in d.reason
    assert Ledger(home.path).decisions() == list(batch.decisions)
    again = disposal.propose(home.settings, home.catalogue, SENT, PROPOSER, at(until, 11))
    assert again.decisions == batch.decisions  # proposing again reuses them: the first batch stays signable

    disposal.approve(home.settings, batch.batch_id, "李鉴定", Role.panel, at(until, 10))
    with pytest.raises(TooFewApproversError):
        disposal.run_batch(home.settings, home.catalogue, batch.batch_id, as_of=until)
    assert all(held_everywhere(home, c) for c in SENT)
    for person, role in SIGNERS[1:]:
        disposal.approve(home.settings, batch.batch_id, person, role, at(until, 10))
    result = disposal.run_batch(home.settings, home.catalogue, batch.batch_id, as_of=until)
    assert result.complete, result.to_json()

    for code in SENT:
        assert home.catalogue.get(code).status == "destroyed" and home.catalogue.copies(code) == {}
        assert not any((home.path / f / "J012" / code).exists() for f in FOLDERS)
        for f in FOLDERS:
            tomb = json.loads((home.path / f / ".records" / "J012" / code / TOMBSTONE).read_text(encoding="utf-8"))
            assert tomb["disposition"] == COPY_REMOVED and tomb["batch_id"] == batch.batch_id
            assert tomb["transfer"]["transfer_id"] == sent["transfer_id"]
            assert tomb["transfer"]["receipt_sha256"] == receipt
        deletions = [e for e in home.catalogue.events(code) if e.type == DELETION]
        assert len(deletions) == 3 and all("删除已移交副本" in e.detail for e in deletions)
    assert held_everywhere(home, KEPT) and home.catalogue.get(KEPT).status == "archived"
    with open_search(home.settings) as index:
        assert not set(SENT) & set(index.codes())

    xlsx = next(Path(p) for p in result.register_files if p.endswith(".xlsx"))
    rows = [r for r in load_workbook(xlsx).active.iter_rows(values_only=True) if r[1] in SENT]
    assert len(rows) == 3
    assert all(receipt in r[7] and sent["transfer_id"] in r[7] and r[8] == "已移交，副本删除" for r in rows)

    # audit finds no missing copy; a rebuilt catalogue is the same one
    report = audit(home.settings, home.catalogue, open_locations(home.settings), AuditOptions(all=True))
    assert report.problems == []
    before = home.catalogue.dump()
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.dump() == before

    # export and validate say where the record went, not that its AIP is missing
    notice = destroyed_notice(home.catalogue, SENT[0])
    assert notice is not None and notice.startswith(f"档号 {SENT[0]} 的档案已移交镇档案馆")
    assert sent["transfer_id"] in notice and batch.batch_id in notice and "副本" in notice and "墓碑" in notice
    assert destroyed_notice(home.catalogue, KEPT) is None


def test_removal_stopped_before_its_deletion_events_is_rebuilt_as_destroying(home, cjk_font, monkeypatch):
    """Every copy gone but no deletion event yet: reindex must not give the record back as transferred."""
    until = keep_date(home)
    batch_id = disposal.propose(home.settings, home.catalogue, SENT[:1], PROPOSER, at(until)).batch_id
    signed(home, batch_id, until)

    def crash(*_args: object) -> None:
        raise RuntimeError("simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr("disposition._destroy_run._record_deletion", crash)
        with pytest.raises(RuntimeError):
            disposal.run_batch(home.settings, home.catalogue, batch_id, as_of=until)
    assert not any((home.path / f / "J012" / SENT[0]).exists() for f in FOLDERS)
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.get(SENT[0]).status == DESTROYING
    assert "正在销毁" in destroyed_notice(home.catalogue, SENT[0])
    report = audit(home.settings, home.catalogue, open_locations(home.settings), AuditOptions(all=True))
    assert report.problems == []  # nothing to restore: no copy is expected of a record on its way out

    assert disposal.run_batch(home.settings, home.catalogue, batch_id, as_of=until).complete
    assert home.catalogue.get(SENT[0]).status == "destroyed"


def test_keep_period_is_configured_per_archive_and_the_cli_takes_the_copies(home, dangan, cjk_font):
    with open(home.path / "dangan.toml", "a", encoding="utf-8") as f:
        f.write("\n[retention.schedule]\nkeep_copy_years = 0\n")
    code, _out, due = dangan("retention", "due", "--json")
    assert code == 0 and [(i["archival_code"], i["kind"]) for i in due["items"]] == [
        (c, "transferred_copy") for c in SENT
    ]
    code, _out, proposal = dangan("destroy", "propose", *SENT, "--by", PROPOSER, "--json")
    assert code == 0, _out
    for person, role in SIGNERS:
        assert dangan("destroy", "approve", proposal["batch_id"], "--by", person, "--role", role.value)[0] == 0
    code, out, _ = dangan("destroy", "show", proposal["batch_id"])
    assert code == 0 and "已移交" in out and "尚不能执行" not in out
    code, _out, done = dangan("destroy", "run", proposal["batch_id"], "--json")
    assert code == 0 and done["complete"] and done["destroyed"] == SENT


def test_removal_stopped_half_way_is_rebuilt_as_destroying(home, cjk_font, monkeypatch):
    until = keep_date(home)
    batch_id = disposal.propose(home.settings, home.catalogue, SENT[:1], PROPOSER, at(until)).batch_id
    signed(home, batch_id, until)
    locations = open_locations(home.settings)

    def crash(key: str) -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(locations[1], "delete", crash)  # dies after the first location's copy is gone
    with pytest.raises(RuntimeError):
        disposal.run_batch(home.settings, home.catalogue, batch_id, locations, as_of=until)
    assert not (home.path / "store" / "J012" / SENT[0]).exists()
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.get(SENT[0]).status == DESTROYING
