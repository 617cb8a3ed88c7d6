"""鉴定与销毁 wired into the archive: due lists, decisions, holds, approvals, destruction and its evidence.

Destroying records is irreversible, so most tests here are refusals: each asserts the
error *and* that every copy is still in every location. The archive is built once per
module (five scans, three locations each) and copied for every test.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from archive.catalogue import Catalogue
from archive.config import Fonds, init_home, load_settings
from archive.errors import LockedError, NotFoundError, UsageError
from archive.premis import DELETION
from archive.reindex import rebuild
from archive.storage import open_locations, prepare_locations
from archive.storage.base import ObjectLock
from archive.tombstone import DESTROYING, TOMBSTONE, destroyed_notice
from dangan.cli import main as cli_main
from dangan.cli_disposal import destroy_group, retention_group
from disposition import disposal
from disposition._home import now
from disposition._ledger import Ledger
from ingest.metadata import ClassDefaults
from ingest.pipeline import Ingestor
from preservation.replicas import complete_copies
from retention import Approval, Role, load_schedule
from retention.errors import (
    InvalidBatchError,
    InvalidDecisionError,
    InvalidHoldError,
    ItemHeldError,
    RoleConflictError,
    SelfApprovalError,
    TooFewApproversError,
)
from search.indexing import open_search

from .conftest import Home, make_image, make_scan_batch

FOLDERS = ("store", "copy2", "copy3")
OLD = [f"J012-WS·2010-D10-{n:04d}" for n in (1, 2, 3)]  # due for appraisal on 2021-01-01
LATER = "J012-WS·2011-D10-0001"  # due on 2022-01-01
RECENT = "J012-WS·2023-D30-0001"  # due on 2054-01-01
PROPOSER = "王档案"
SIGNERS = (("李鉴定", Role.panel), ("赵主任", Role.head), ("钱监销", Role.witness), ("孙监销", Role.witness))
REASON = "保管期限已满，经鉴定无继续保存价值"


def scans(year: int, retention: str) -> ClassDefaults:
    return ClassDefaults(
        category="WS", year=year, retention=retention, carrier="纸质", author="居委会", date=f"{year}0301"
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive home where every AIP is kept in all three locations."""
    root = tmp_path_factory.mktemp("disposal")
    path = root / "home"
    init_home(path, Fonds("J012", "振兴社区居民委员会"), ingest={"ocr": "off"}, copies={"default": 3})
    settings = load_settings(path)
    prepare_locations(settings)
    # Load the PRONOM signatures here once: the ingest workers are forked from this process.
    from ingest.formats import inspect_file

    inspect_file(make_image(root / "warm.tif"), "warm.tif")
    catalogue = Catalogue(settings.catalogue_path)
    with Ingestor.open(settings, catalogue) as ingestor:
        for n, (year, retention) in enumerate(((2010, "D10"), (2011, "D10"), (2023, "D30"))):
            batch = make_scan_batch(root / f"batch{n}", 3 if year == 2010 else 1, seed=n + 1)
            assert ingestor.run(batch, None, scans(year, retention)).exit_code == 0
    catalogue.close()
    return path


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Home:
    path = tmp_path / "home"
    shutil.copytree(template, path)
    with Home(path) as opened:
        yield opened


def aip(home: Home, folder: str, code: str) -> Path:
    return home.path / folder / "J012" / code


def records(home: Home, folder: str, code: str) -> Path:
    return home.path / folder / ".records" / "J012" / code


def held_everywhere(home: Home, code: str) -> bool:
    return all((aip(home, f, code) / "bagit.txt").is_file() for f in FOLDERS)


def status(home: Home, code: str) -> str:
    return home.catalogue.get(code).status


def decide(home: Home, *codes: str, action: str = "destroy", **kw: str) -> list:
    return disposal.decide(home.settings, home.catalogue, codes, action, kw.pop("reason", REASON), "李鉴定", **kw)


def proposed(home: Home, *codes: str) -> str:
    decide(home, *codes)
    return disposal.propose(home.settings, home.catalogue, codes, PROPOSER).batch_id


def approved(home: Home, *codes: str) -> str:
    batch_id = proposed(home, *codes)
    for person, role in SIGNERS:
        disposal.approve(home.settings, batch_id, person, role)
    return batch_id


def run(home: Home, batch_id: str, locations=None):
    return disposal.run_batch(home.settings, home.catalogue, batch_id, locations)


# --- dates, the due list, decisions ------------------------------------------------------------


def test_record_dates_for_show_follow_the_schedule_and_decisions(home):
    row = home.catalogue.get(OLD[0])
    dates = disposal.record_dates(home.settings, row)
    assert dates["appraisal_due"] == "2021-01-01" and dates["transfer_due"] is None
    assert dates["opening"] == "2036-01-01"  # 25 years after 年度 ends
    recent = disposal.record_dates(load_schedule(), home.catalogue.get(RECENT))
    assert recent["appraisal_due"] == "2054-01-01" and recent["transfer_due"] == "2028-01-01"
    decide(home, OLD[0], action="extend", period="D30")
    assert disposal.record_dates(home.settings, row)["appraisal_due"] == "2041-01-01"
    # the home's own [retention] table layers over the bundled schedule, as the settings loaded it
    with open(home.path / "dangan.toml", "a", encoding="utf-8") as f:
        f.write("\n[retention.schedule]\ntransfer_after_years = 3\n")
    settings = load_settings(home.path)
    assert disposal.record_dates(settings, home.catalogue.get(RECENT))["transfer_due"] == "2026-01-01"


def test_due_lists_expired_records_as_of_a_date(home):
    def codes(day: date) -> list[str]:
        return [d.meta.archival_code for d in disposal.due(home.settings, home.catalogue, day).items]

    assert codes(date(2020, 12, 31)) == []
    assert codes(date(2021, 1, 1)) == OLD
    assert codes(date(2030, 1, 1)) == [*OLD, LATER]  # the D30 record of 2023 is not due until 2054


def test_decision_needs_a_reason_and_a_named_person(home):
    with pytest.raises(InvalidDecisionError, match="鉴定理由"):
        decide(home, OLD[0], reason=" ")
    with pytest.raises(InvalidDecisionError, match="鉴定人"):
        disposal.decide(home.settings, home.catalogue, [OLD[0]], "destroy", REASON, "")
    with pytest.raises(InvalidDecisionError, match="保管期限未满"):
        decide(home, RECENT)
    with pytest.raises(NotFoundError):
        decide(home, "J012-WS·2010-D10-0099")
    assert Ledger(home.path).decisions() == []

    [made] = decide(home, OLD[0], action="extend", period="D30", reason="涉及未结案件，延长保管")
    assert made.decided_by == "李鉴定" and made.new_period == "D30"
    appraisal = [e for e in home.catalogue.events(OLD[0]) if e.type == disposal.APPRAISAL]
    assert sorted(e.location for e in appraisal) == ["copy2", "copy3", "local"]
    assert all("涉及未结案件" in e.detail and e.agent == "李鉴定" for e in appraisal)
    local = next(e.id for e in appraisal if e.location == "local")
    assert any(p.name.endswith(f"-appraisal-{local}.xml") for p in records(home, "store", OLD[0]).iterdir())
    # extended: no longer due, and not destroyable at its old date
    assert OLD[0] not in [d.meta.archival_code for d in disposal.due(home.settings, home.catalogue).items]
    with pytest.raises(InvalidDecisionError, match="保管期限未满"):
        decide(home, OLD[0])


def test_ledger_survives_a_torn_append(tmp_path):
    """A crash mid-append leaves a last line without its newline: ignored, and cut before the next append."""
    ledger = Ledger(tmp_path)
    ledger.add_hold(disposal.Hold("DJ1", "诉讼", "周主任", now(), fonds_code="J012"))
    with open(ledger.root / "holds.jsonl", "a", encoding="utf-8") as f:
        f.write('{"hold_id": "DJ2", "reas')
    assert [h.hold_id for h in ledger.holds()] == ["DJ1"]
    ledger.add_hold(disposal.Hold("DJ3", "审计", "周主任", now(), fonds_code="J012"))
    assert [h.hold_id for h in ledger.holds()] == ["DJ1", "DJ3"]


# --- holds and approvals: refusals delete nothing ---------------------------------------------------


def test_hold_on_one_record_blocks_the_run_until_lifted(home, cjk_font):
    batch_id = approved(home, OLD[0])
    hold = disposal.place_hold(home.settings, home.catalogue, code=OLD[0], reason="诉讼中", by="周主任")
    with pytest.raises(ItemHeldError, match=hold.hold_id):
        run(home, batch_id)
    assert held_everywhere(home, OLD[0]) and status(home, OLD[0]) == "archived"
    assert not (records(home, "store", OLD[0]) / TOMBSTONE).exists()

    disposal.lift_hold(home.settings, hold.hold_id, "周主任")
    assert run(home, batch_id).complete
    assert status(home, OLD[0]) == "destroyed"
    assert [h.active for h in disposal.list_holds(home.settings)] == [False]


def test_hold_on_a_class_blocks_proposal_and_run(home):
    batch_id = approved(home, OLD[0], OLD[1])
    disposal.place_hold(home.settings, home.catalogue, fonds="J012", category="WS", year_from=2010, year_to=2010,
                        reason="审计", by="周主任")  # fmt: skip
    with pytest.raises(ItemHeldError) as refused:
        run(home, batch_id)
    assert {p.path for p in refused.value.details} == {OLD[0], OLD[1]}
    assert all(held_everywhere(home, c) and status(home, c) == "archived" for c in OLD)
    decide(home, OLD[2])
    with pytest.raises(ItemHeldError):
        disposal.propose(home.settings, home.catalogue, [OLD[2]], PROPOSER)


def _sign(home: Home, batch_id: str, *pairs: tuple[str, Role]) -> None:
    """Signatures written straight into the ledger, past approve()'s own checks: run must re-check."""
    ledger = Ledger(home.path)
    _batch, digest = ledger.read_batch(batch_id)
    for person, role in pairs:
        ledger.add_approval(batch_id, Approval(person, role, now()), digest)


def _edit_batch(home: Home, batch_id: str) -> None:
    path = Ledger(home.path).batch_path(batch_id)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["decisions"][0]["reason"] = "（签署后改动的理由）"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("proposer alone", TooFewApproversError),
        ("one approver", TooFewApproversError),
        ("same person twice", RoleConflictError),
        ("edited batch", disposal.BatchChangedError),
    ],
)
def test_refused_batches_delete_nothing(home, case, error):
    batch_id = proposed(home, OLD[0])
    if case == "proposer alone":
        with pytest.raises(SelfApprovalError):
            disposal.approve(home.settings, batch_id, PROPOSER, Role.head)
    elif case == "one approver":
        disposal.approve(home.settings, batch_id, "李鉴定", Role.panel)
    elif case == "same person twice":
        disposal.approve(home.settings, batch_id, "李鉴定", Role.panel)
        with pytest.raises(RoleConflictError):
            disposal.approve(home.settings, batch_id, "李鉴定", Role.witness)
        with pytest.raises(InvalidBatchError):
            disposal.approve(home.settings, batch_id, "李 鉴定", Role.panel)  # the same name, spaced
        _sign(home, batch_id, ("赵主任", Role.head), ("李鉴定", Role.witness), ("钱监销", Role.witness))
    else:
        for person, role in SIGNERS:
            disposal.approve(home.settings, batch_id, person, role)
        _edit_batch(home, batch_id)
        with pytest.raises(disposal.BatchChangedError):
            disposal.approve(home.settings, batch_id, "吴监销", Role.witness)
    with pytest.raises(error):
        run(home, batch_id)
    assert held_everywhere(home, OLD[0]) and status(home, OLD[0]) == "archived"
    assert sorted(home.catalogue.copies(OLD[0])) == ["copy2", "copy3", "local"]
    assert not any((records(home, f, OLD[0]) / TOMBSTONE).exists() for f in FOLDERS)


def test_a_newer_decision_voids_the_signed_batch(home):
    batch_id = approved(home, OLD[0])
    decide(home, OLD[0], action="extend", period="D30", reason="重新鉴定：延长")
    with pytest.raises(disposal.BatchChangedError, match="新的鉴定意见"):
        run(home, batch_id)
    assert held_everywhere(home, OLD[0])


# --- destruction ----------------------------------------------------------------------------------


def test_destruction_removes_every_copy_and_keeps_tombstones_events_and_register(home, cjk_font):
    batch_id = approved(home, OLD[0], OLD[2])
    result = run(home, batch_id)
    assert result.complete and result.exit_code == 0, result.to_json()
    for code in (OLD[0], OLD[2]):
        assert not any(aip(home, f, code).exists() for f in FOLDERS)
        for f in FOLDERS:
            tomb = json.loads((records(home, f, code) / TOMBSTONE).read_text(encoding="utf-8"))
            assert tomb["batch_id"] == batch_id and tomb["decision"]["reason"] == REASON
            assert {a["person"] for a in tomb["approvals"]} == {p for p, _ in SIGNERS}
            assert any(x["path"].startswith("data/original/扫描件") and x["sha256"] for x in tomb["files"])
            assert "<" in tomb["item_xml"] and code in tomb["item_xml"]
        row = home.catalogue.get(code)
        assert row.status == "destroyed" and row.title and home.catalogue.files(code)
        assert home.catalogue.copies(code) == {}
        deletions = [e for e in home.catalogue.events(code) if e.type == DELETION]
        assert sorted((e.location, e.outcome) for e in deletions) == [
            ("copy2", "success"), ("copy3", "success"), ("local", "success"),
        ]  # fmt: skip
    assert held_everywhere(home, OLD[1]) and status(home, OLD[1]) == "archived"
    with open_search(home.settings) as index:
        assert OLD[0] not in index.codes() and OLD[1] in index.codes()  # no text of a destroyed record stays

    # the 销毁清册, in registers/ and archived as a 永久 record
    xlsx, pdf = (Path(p) for p in result.register_files)
    assert xlsx.suffix == ".xlsx" and pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    cells = [c for row in load_workbook(xlsx).active.iter_rows(values_only=True) for c in row if c]
    assert OLD[0] in cells and OLD[2] in cells and "已保管期限" in cells
    register = home.catalogue.get(result.register_code)
    assert (register.category, register.retention, register.status) == ("WS", "Y", "archived")
    assert batch_id in register.title
    assert {f.path for f in home.catalogue.files(result.register_code) if f.kind == "payload"} == {
        "data/original/销毁清册.xlsx", "data/original/销毁清册.pdf",
    }  # fmt: skip
    assert len(home.catalogue.copies(result.register_code)) == 3

    # running it again changes nothing
    again = run(home, batch_id)
    assert again.complete and again.register_code == result.register_code
    assert len(home.catalogue.list()) == 6


def test_reindex_rebuilds_destroyed_items_and_their_codes_are_never_reused(home, cjk_font, tmp_path):
    result = run(home, approved(home, OLD[2]))  # the highest 件号 of its class
    assert result.complete
    before = home.catalogue.dump()
    rebuild(home.settings, home.catalogue)
    assert home.catalogue.dump() == before
    assert status(home, OLD[2]) == "destroyed"

    with Ingestor.open(home.settings, home.catalogue) as ingestor:
        again = ingestor.run(make_scan_batch(tmp_path / "new", 1, seed=77), None, scans(2010, "D10"))
    assert [r.archival_code for r in again.items] == ["J012-WS·2010-D10-0004"]


def test_run_killed_half_way_leaves_nothing_restorable_and_a_second_run_finishes(home, cjk_font, monkeypatch):
    batch_id = approved(home, OLD[0])
    locations = open_locations(home.settings)

    def crash(key: str) -> None:
        monkeypatch.undo()  # fails once: the process "dies" after the first location's delete
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(locations[1], "delete", crash)
    with pytest.raises(RuntimeError):
        run(home, batch_id, locations)
    assert status(home, OLD[0]) == DESTROYING
    assert not aip(home, "store", OLD[0]).exists() and aip(home, "copy2", OLD[0]).exists()
    assert all((records(home, f, OLD[0]) / TOMBSTONE).exists() for f in FOLDERS)
    assert not [e for e in home.catalogue.events(OLD[0]) if e.type == DELETION]
    # neither the copy policy nor a rebuilt catalogue brings the deleted copy back
    assert complete_copies(home.catalogue, open_locations(home.settings), home.settings.required_copies) == []
    assert not aip(home, "store", OLD[0]).exists()
    rebuild(home.settings, home.catalogue)
    assert status(home, OLD[0]) == DESTROYING

    result = run(home, batch_id)
    assert result.complete, result.to_json()
    assert status(home, OLD[0]) == "destroyed"
    assert not any(aip(home, f, OLD[0]).exists() for f in FOLDERS)
    assert len([e for e in home.catalogue.events(OLD[0]) if e.type == DELETION]) == 3


def test_object_lock_refusal_leaves_the_item_whole_and_the_rest_go_on(home, monkeypatch):
    batch_id = approved(home, OLD[0], OLD[1])
    locations = open_locations(home.settings)
    locked = locations[2]
    real_delete = locked.delete

    def refuse(key: str) -> None:
        if key.endswith(OLD[0]):
            raise LockedError("对象锁定期内不得销毁", path=key)
        real_delete(key)

    monkeypatch.setattr(locked, "delete", refuse)
    monkeypatch.setattr(locked, "object_lock", lambda: ObjectLock.enforced)
    result = run(home, batch_id, locations)
    outcome = {i.archival_code: i for i in result.items}
    assert not outcome[OLD[0]].destroyed and "对象锁定" in outcome[OLD[0]].message
    assert outcome[OLD[1]].destroyed
    assert held_everywhere(home, OLD[0])  # the locked location went first: nothing was half-deleted
    assert status(home, OLD[0]) == DESTROYING and status(home, OLD[1]) == "destroyed"
    assert not result.complete and result.exit_code == 4 and result.register_code is None


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def dangan(home):
    """The CLI with the retention and destroy groups registered (idempotent)."""
    cli_main.add_command(retention_group)
    cli_main.add_command(destroy_group)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(cli_main, ["--home", str(home.path), *args], catch_exceptions=False)
        return result.exit_code, result.output, json.loads(result.stdout) if "--json" in args else None

    return invoke


def test_cli_appraisal_and_destruction(home, dangan, cjk_font):
    code, _out, due = dangan("retention", "due", "--as-of", "2021-01-01", "--json")
    assert code == 0 and [i["archival_code"] for i in due["items"]] == OLD
    code, out, _ = dangan("retention", "decide", OLD[0], "--action", "destroy", "--by", "李鉴定")
    assert code == 2 and "--reason" in out
    code, out, _ = dangan("retention", "decide", OLD[0], "--action", "destroy", "--reason", REASON, "--by", "李鉴定")
    assert code == 0 and "销毁" in out
    code, _out, proposal = dangan("destroy", "propose", OLD[0], "--by", PROPOSER, "--json")
    batch_id = proposal["batch_id"]
    code, out, _ = dangan("destroy", "approve", batch_id, "--by", PROPOSER, "--role", "单位负责人")
    assert code == 1 and "提出人" in out
    code, out, _ = dangan("destroy", "run", batch_id)
    assert code == 1 and "审批人" in out and held_everywhere(home, OLD[0])
    for person, role in SIGNERS:
        assert dangan("destroy", "approve", batch_id, "--by", person, "--role", role.value)[0] == 0
    code, out, _ = dangan("destroy", "show", batch_id)
    assert code == 0 and "孙监销" in out and "尚不能执行" not in out
    code, _out, done = dangan("destroy", "run", batch_id, "--json")
    assert code == 0 and done["complete"] and done["destroyed"] == [OLD[0]]
    assert done["register"]["archival_code"] == f"J012-WS·{now().year}-Y-0001"
    code, out, _ = dangan(
        "retention", "hold", "--category", "WS", "--year", "2011", "--reason", "审计", "--by", "周主任"
    )
    assert code == 0 and "J012 WS 2011-2011" in out
    code, _out, listed = dangan("retention", "holds", "--json")
    assert [h["active"] for h in listed["holds"]] == [True]


# --- names, hold codes, and what a destroyed record says -------------------------------------------


def test_the_proposer_under_invisible_disguises_cannot_sign(home):
    """The reviewer's case: 张敏 proposed, then signed as 张<U+200B>敏, 张敏<U+00AD>, 张敏<U+200C>, <U+2060>张敏."""
    decide(home, OLD[0])
    batch_id = disposal.propose(home.settings, home.catalogue, [OLD[0]], "张敏").batch_id
    disguises = zip(("张\u200b敏", "张敏\u00ad", "张敏\u200c", "\u2060张敏"), (r for _, r in SIGNERS), strict=True)
    for name, role in disguises:
        with pytest.raises(InvalidBatchError, match="不可见字符") as refused:
            disposal.approve(home.settings, batch_id, name, role)
        assert refused.value.rule == "appraisal:person-name"
    with pytest.raises(SelfApprovalError):
        disposal.approve(home.settings, batch_id, "张　敏", Role.head)  # an ideographic space: still 张敏
    assert Ledger(home.path).approvals(batch_id) == []
    with pytest.raises(InvalidBatchError, match="提出人"):
        disposal.propose(home.settings, home.catalogue, [OLD[1]], "王\u200b档案")
    with pytest.raises(TooFewApproversError):
        run(home, batch_id)
    # signatures written into the register before these rules (as the reviewer's were) refuse the batch
    ledger = Ledger(home.path)
    _batch, digest = ledger.read_batch(batch_id)
    for name, role in zip(
        ("张\u200b敏", "张敏\u00ad", "张敏\u200c", "\u2060张敏"), (r for _, r in SIGNERS), strict=True
    ):
        line = {"person": name, "role": role.value, "time": now().isoformat(), "batch_digest": digest}
        ledger._append(f"batches/{batch_id}.approvals.jsonl", [line])
    with pytest.raises(InvalidBatchError, match="不可见字符") as refused:
        run(home, batch_id)
    assert f"{batch_id}.approvals.jsonl 第 1 条签署" in refused.value.message
    assert held_everywhere(home, OLD[0]) and status(home, OLD[0]) == "archived"


def test_class_hold_codes_are_normalised_and_unknown_codes_refused(home):
    batch_id = approved(home, OLD[0])
    hold = disposal.place_hold(home.settings, home.catalogue, fonds="j012", category="ws", retention="d10",
                               year_from=2010, year_to=2010, reason="审计", by="周主任")  # fmt: skip
    assert (hold.fonds_code, hold.category, hold.retention) == ("J012", "WS", "D10")
    with pytest.raises(ItemHeldError, match=hold.hold_id):
        run(home, batch_id)
    assert held_everywhere(home, OLD[0])
    for scope, message in (
        ({"category": "XX"}, "门类代码“XX”"),
        ({"category": "WS·"}, "门类代码"),
        ({"retention": "Q"}, "保管期限代码“Q”"),
        ({"retention": "D10年"}, "保管期限代码"),
    ):
        with pytest.raises(InvalidHoldError, match=message) as refused:
            disposal.place_hold(home.settings, home.catalogue, fonds="J012", reason="审计", by="周主任", **scope)
        assert refused.value.rule == "hold:scope"
    with pytest.raises(UsageError, match="J099"):
        disposal.place_hold(home.settings, home.catalogue, fonds="J099", reason="审计", by="周主任")
    assert [h.hold_id for h in disposal.list_holds(home.settings)] == [hold.hold_id]


def test_cli_hold_takes_lower_case_codes_and_refuses_unknown_ones(home, dangan):
    code, out, _ = dangan("retention", "hold", "--category", "ws", "--retention", "d10", "--year", "2010",
                          "--reason", "审计", "--by", "周主任")  # fmt: skip
    assert code == 0 and "J012 WS D10 2010-2010" in out
    code, out, _ = dangan(
        "retention", "hold", "--category", "XX", "--year", "2010", "--reason", "审计", "--by", "周主任"
    )
    assert code != 0 and "XX" in out and "代码表" in out
    code, out, _ = dangan("retention", "hold", "--retention", "Q", "--reason", "审计", "--by", "周主任")
    assert code != 0 and "Q" in out
    code, out, _ = dangan("destroy", "approve", "XH20990101-01", "--by", "张\u200b敏", "--role", "监销人")
    assert code != 0 and "不可见字符" in out and "U+200B" in out
    assert len(disposal.list_holds(home.settings)) == 1


def test_destroyed_notice_names_the_batch_and_the_day(home, cjk_font, dangan, tmp_path):
    assert destroyed_notice(home.catalogue, OLD[0]) is None  # archived
    assert destroyed_notice(home.catalogue, "J012-WS·2010-D10-0099") is None  # unknown
    batch_id = approved(home, OLD[0])
    assert run(home, batch_id).complete
    notice = destroyed_notice(home.catalogue, OLD[0])
    assert notice is not None and batch_id in notice and now().date().isoformat() in notice
    assert "销毁" in notice and "墓碑" in notice and "destroyed" not in notice
    for args in (("export", OLD[0], str(tmp_path / "dip")), ("validate", OLD[0])):
        code, out, _ = dangan(*args)
        assert code == 2 and batch_id in out and "墓碑" in out, (args, out)
    assert not (tmp_path / "dip").exists()
    rebuild(home.settings, home.catalogue)  # the catalogue is a cache: the notice comes back from storage
    assert destroyed_notice(home.catalogue, OLD[0]) == notice
    assert destroyed_notice(home.catalogue, OLD[1]) is None
    with home.catalogue.write():
        home.catalogue.set_status(OLD[1], DESTROYING)
    assert "正在销毁" in destroyed_notice(home.catalogue, OLD[1])
