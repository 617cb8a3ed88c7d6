"""登记簿 (ledger): the durable record of appraisal decisions, holds and destruction batches.

The catalogue is a cache rebuilt from storage, so nothing decided by people may live
only there. Everything here is a file under the archive home's ``registers/``:

- ``decisions.jsonl``: one 鉴定意见 per line, appended; the latest per 档号 is in force.
- ``holds.jsonl``: one line per placed or lifted 冻结; the latest line per hold id is its state.
- ``batches/<id>.json``: a 销毁批次 as proposed, written once, never rewritten.
- ``batches/<id>.approvals.jsonl``: one signature per line, each naming the SHA-256 of the
  batch content it approved, so a signature cannot be carried over to an edited batch.
- ``batches/<id>.run.json``: progress of the destruction run (write-new-then-rename).

Appends are fsync'ed under an exclusive lock on ``registers/.lock``; a line torn by a
crash is the last one and is ignored on reading.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from archive.errors import DanganError, ExitCode, NotFoundError
from archive.fixity import fsync_dir, write_durably
from archive.i18n import _
from retention.appraisal import Action, Decision, Hold
from retention.destruction import Approval, DestructionBatch, Role

REGISTERS = "registers"
BATCH_FORMAT = "dangan-destruction-batch/1"


class LedgerError(DanganError):
    """登记簿损坏: a file under ``registers/`` cannot be read; it is evidence, so nothing guesses."""

    exit_code = ExitCode.storage


@dataclass(frozen=True)
class SignedApproval:
    """One approval as stored: the signature and the digest of the batch content it approved."""

    approval: Approval
    batch_digest: str


# --- (de)serialising the domain objects ---------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def decision_to_dict(d: Decision) -> dict[str, Any]:
    return {
        "archival_code": d.archival_code,
        "action": d.action.value,
        "reason": d.reason,
        "decided_by": d.decided_by,
        "time": _time(d.time),
        "new_period": d.new_period,
    }


def decision_from_dict(data: dict[str, Any]) -> Decision:
    return Decision(
        archival_code=data["archival_code"],
        action=Action(data["action"]),
        reason=data["reason"],
        decided_by=data["decided_by"],
        time=_parse_time(data["time"]),
        new_period=data.get("new_period"),
    )


HOLD_FIELDS = ("hold_id", "reason", "placed_by", "archival_code", "fonds_code", "category", "retention")


def hold_to_dict(h: Hold) -> dict[str, Any]:
    data: dict[str, Any] = {k: getattr(h, k) for k in HOLD_FIELDS}
    data.update(year_from=h.year_from, year_to=h.year_to, lifted_by=h.lifted_by)
    data.update(placed_at=_time(h.placed_at), lifted_at=_time(h.lifted_at))
    return data


def hold_from_dict(data: dict[str, Any]) -> Hold:
    return Hold(
        **{k: data.get(k) for k in HOLD_FIELDS},
        placed_at=_parse_time(data["placed_at"]),
        year_from=data.get("year_from"),
        year_to=data.get("year_to"),
        lifted_by=data.get("lifted_by"),
        lifted_at=_parse_time(data.get("lifted_at")),
    )


def approval_to_dict(a: Approval) -> dict[str, Any]:
    return {"person": a.person, "role": a.role.value, "time": _time(a.time)}


def batch_content(batch: DestructionBatch) -> dict[str, Any]:
    """What the approvers sign: id, proposer, time and every decision (codes, actions, reasons)."""
    return {
        "batch_id": batch.batch_id,
        "proposer": batch.proposer,
        "proposed_at": _time(batch.proposed_at),
        "decisions": [decision_to_dict(d) for d in batch.decisions],
    }


def batch_digest(batch: DestructionBatch) -> str:
    """SHA-256 of the batch's canonical JSON: sorted keys, no insignificant whitespace."""
    canonical = json.dumps(batch_content(batch), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- files ------------------------------------------------------------------------------


class Ledger:
    """The ``registers/`` folder of one archive home."""

    def __init__(self, home: Path):
        self.root = home / REGISTERS
        self.batches = self.root / "batches"
        self._held: set[str] = set()

    @contextmanager
    def locked(self, name: str = ".lock") -> Iterator[None]:
        """Exclusive across processes: appends, id allocation, and (per batch) a destruction run.

        Re-entrant within one Ledger: flock is per open file, so a nested open would wait on itself.
        """
        if name in self._held:
            yield
            return
        self.batches.mkdir(parents=True, exist_ok=True)
        with open(self.root / name, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._held.add(name)
            try:
                yield
            finally:
                self._held.discard(name)

    def _append(self, name: str, records: list[dict[str, Any]]) -> None:
        path = self.root / name
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
        with self.locked():
            _drop_torn_tail(path)
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(path.parent)

    def _read(self, path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        lines = path.read_text(encoding="utf-8").split("\n")
        out = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                if n == len(lines):  # the last line, without its newline: an append torn by a crash
                    break
                raise LedgerError(_("第 {line} 行无法解析").format(line=n), path=str(path)) from None
        return out

    def _write_new(self, path: Path, data: dict[str, Any], *, replace: bool) -> bool:
        """Write ``data`` to ``path`` whole; without ``replace``, only if it is not there (False then)."""
        text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
        return write_durably(path, text.encode("utf-8"), replace=replace)

    # --- decisions and holds --------------------------------------------------------------

    def add_decisions(self, decisions: list[Decision]) -> None:
        self._append("decisions.jsonl", [decision_to_dict(d) for d in decisions])

    def decisions(self) -> list[Decision]:
        return [decision_from_dict(r) for r in self._read(self.root / "decisions.jsonl")]

    def add_hold(self, hold: Hold) -> None:
        self._append("holds.jsonl", [hold_to_dict(hold)])

    def holds(self) -> list[Hold]:
        """Every hold ever placed, in its latest state (lifted or in force)."""
        latest: dict[str, Hold] = {}
        for r in self._read(self.root / "holds.jsonl"):
            latest[r["hold_id"]] = hold_from_dict(r)
        return list(latest.values())

    def next_hold_id(self, day: date) -> str:
        """冻结编号 DJ<date>-<n>: unique while the caller holds :meth:`locked`."""
        prefix = f"DJ{day:%Y%m%d}-"
        taken = {h.hold_id for h in self.holds()}
        n = 1
        while f"{prefix}{n:02d}" in taken:
            n += 1
        return f"{prefix}{n:02d}"

    # --- batches ----------------------------------------------------------------------------

    def batch_path(self, batch_id: str, suffix: str = ".json") -> Path:
        if not batch_id or "/" in batch_id or batch_id.startswith("."):
            raise NotFoundError(_("批次号无效: {batch_id}").format(batch_id=repr(batch_id)))
        return self.batches / f"{batch_id}{suffix}"

    def create_batch(self, make: Callable[[str], DestructionBatch], day: date) -> DestructionBatch:
        """Allocate 批次号 XH<date>-<n> and store ``make(batch_id)`` under it, once."""
        prefix = f"XH{day:%Y%m%d}-"
        n = 1
        while True:
            batch = make(f"{prefix}{n:02d}")
            data = {"format": BATCH_FORMAT, **batch_content(batch), "digest": batch_digest(batch)}
            if self._write_new(self.batch_path(batch.batch_id), data, replace=False):
                return batch
            n += 1

    def read_batch(self, batch_id: str) -> tuple[DestructionBatch, str]:
        """The batch as stored now (without approvals) and the digest stored at proposal."""
        path = self.batch_path(batch_id)
        if not path.is_file():
            raise NotFoundError(_("没有批次 {batch_id}").format(batch_id=batch_id), path=str(path))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            batch = DestructionBatch(
                batch_id=data["batch_id"],
                proposer=data["proposer"],
                proposed_at=_parse_time(data["proposed_at"]),
                decisions=tuple(decision_from_dict(d) for d in data["decisions"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise LedgerError(_("批次文件无法读取: {error}").format(error=exc), path=str(path)) from None
        return batch, str(data.get("digest", ""))

    def add_approval(self, batch_id: str, approval: Approval, digest: str) -> None:
        name = self.batch_path(batch_id, ".approvals.jsonl").relative_to(self.root).as_posix()
        self._append(name, [{**approval_to_dict(approval), "batch_digest": digest}])

    def approvals(self, batch_id: str) -> list[SignedApproval]:
        """Every signature of the batch; one the rules refuse now (a name with an invisible
        character, written before they did) refuses the batch, naming where it is recorded."""
        path = self.batch_path(batch_id, ".approvals.jsonl")
        signed = []
        for n, r in enumerate(self._read(path), 1):
            try:
                approval = Approval(r["person"], Role(r["role"]), _parse_time(r["time"]))
            except DanganError as exc:
                where = _("（{path} 第 {n} 条签署）").format(path=path.relative_to(self.root).as_posix(), n=n)
                raise type(exc)(exc.message + where, path=batch_id, rule=exc.rule) from None
            signed.append(SignedApproval(approval, r["batch_digest"]))
        return signed

    def run_state(self, batch_id: str) -> dict[str, Any]:
        path = self.batch_path(batch_id, ".run.json")
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def save_run_state(self, batch_id: str, state: dict[str, Any]) -> None:
        self._write_new(self.batch_path(batch_id, ".run.json"), state, replace=True)


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line a crash left without its newline: it was never acknowledged to anyone,
    and appending after it would weld it to the next record."""
    if not path.is_file():
        return
    with open(path, "r+b") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())
