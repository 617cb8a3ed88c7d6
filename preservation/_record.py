"""The evidence of each fixity check: a PREMIS record beside the copy, then the catalogue's event
and copy rows, entered in batches (see :class:`_Recorder`)."""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from archive.catalogue import Catalogue, Copy
from archive.copycheck import CopyCheck, Problem
from archive.evidence import store_records
from archive.premis import FIXITY_CHECK, Event, default_agent
from archive.storage.base import Location
from preservation._due import _Due

BATCH = 64  # checks whose records are flushed together and entered in one transaction (see _Recorder)
BATCH_SECONDS = 5.0  # ... and at least this often, so a slow location's checks are not kept back for long


def _detail(check: CopyCheck) -> str:
    algs = " + ".join("SM3" if a == "sm3" else "SHA-256" for a in check.algorithms)
    return f"固定性检查 {algs}: {check.files} 个文件, {check.bytes} 字节 (fixity check)"


def _summary(problems: list[Problem]) -> str:
    return "; ".join(f"{p.kind} {p.path or ''} {p.detail}".strip() for p in problems)


class _Recorder:
    """The evidence of each check: a record beside the copy, and the catalogue's event and copy rows.

    Checks are gathered in batches of up to BATCH. A batch's records are stored on the
    I/O thread, each location's share made durable together (one flush for the batch,
    not one per record), while the checks go on; only then does the catalogue take the
    batch, in one transaction. So the catalogue never names a record that storage lacks:
    a crash forgets at most the checks of the batches under way, whose records, where
    already stored, serve ``dangan reindex``. A record that could not be stored is still
    entered, its event saying so.
    """

    def __init__(self, catalogue: Catalogue, io: ThreadPoolExecutor):
        self.catalogue, self.io = catalogue, io
        self.agent = default_agent()  # the same for every event of the run; looked up once
        self.batch: list[tuple[Location, _Due, Event, bool]] = []
        self.storing: deque[tuple[Future[None], list[tuple[Location, _Due, Event, bool]]]] = deque()
        self.opened = time.monotonic()

    def add(self, loc: Location, d: _Due, check: CopyCheck) -> None:
        outcome = "success" if check.ok else "failure"
        summary = _summary(check.problems)
        event = Event(FIXITY_CHECK, _detail(check), outcome, summary, agent=self.agent, location=loc.name)
        self.batch.append((loc, d, event, "sm3" in check.algorithms))
        if len(self.batch) >= BATCH or time.monotonic() - self.opened >= BATCH_SECONDS:
            self._send()
        self._enter(wait=False)

    def flush(self) -> None:
        """Every check so far stored and entered (before a repair, and at the end)."""
        self._send()
        self._enter(wait=True)

    def _send(self) -> None:
        batch, self.batch = self.batch, []
        self.opened = time.monotonic()
        if batch:
            records = [(loc, d.key, d.archival_code, event) for loc, d, event, _sm3 in batch]
            self.storing.append((self.io.submit(store_records, records), batch))

    def _enter(self, *, wait: bool) -> None:
        """Enter the batches whose records are stored, oldest first."""
        while self.storing and (wait or self.storing[0][0].done()):
            stored, batch = self.storing.popleft()
            stored.result()
            with self.catalogue.write():
                for _loc, d, event, sm3 in batch:
                    self.catalogue.add_event(d.archival_code, event)
                    if event.outcome == "success":
                        _set_verified(self.catalogue, d.archival_code, event.location, event.time, sm3)
                    else:
                        _set_failed(self.catalogue, d.archival_code, event.location)


def _mark_verified(catalogue: Catalogue, code: str, location: str, when: str, sm3: bool) -> None:
    with catalogue.write():
        _set_verified(catalogue, code, location, when, sm3)


def _set_verified(catalogue: Catalogue, code: str, location: str, when: str, sm3: bool) -> None:
    """Note a copy proven now (call inside a write transaction)."""
    old = catalogue.copies(code).get(location)
    copy = Copy(location, old.stored_at if old else when, when, when if sm3 else (old.sm3_verified_at if old else ""))
    catalogue.set_copy(code, copy)


def _set_failed(catalogue: Catalogue, code: str, location: str) -> None:
    """Note a copy found damaged (inside a write transaction): no longer proven, so due on every run
    until a check or a repair proves it again (as :func:`archive.evidence.copy_from_events` replays it)."""
    old = catalogue.copies(code).get(location)
    if old is not None:  # a copy never stored (missing where the policy wants one) stays unknown
        catalogue.set_copy(code, Copy(location, old.stored_at, "", ""))
