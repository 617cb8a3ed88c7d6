"""接收 (receiving a transfer): check the package, then refuse it, recognise it, or store it.

What each outcome leaves on file is :mod:`disposition._receive_records`'s; the checks are
:mod:`disposition._receive`'s, storing is :mod:`disposition._store`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive.catalogue import Catalogue
from archive.config import Settings
from archive.errors import DanganError, UsageError
from archive.fixity import require_algorithms
from archive.i18n import _
from archive.model import CheckReport, Finding, Verdict
from archive.storage import Location, open_locations
from search.indexing import open_search
from search.indexing import sync as sync_search

from ._package import CheckedPackage, fail
from ._receive import check_package
from ._receive_records import (
    RECEIPTS_DIR,
    _claim_transfer_id,
    _complete_report,
    _earlier_package,
    _interrupted,
    _receipt_complete,
    _write_receipt,
    _write_report,
)
from ._results import ReceiveResult
from ._sender_copies import REGISTERS_DIR
from ._store import store_package


@dataclass(frozen=True)
class ReceiveOptions:
    """Who receives: 接收单位 (the name in the 交接登记表 when empty) and 接收人 (the OS user)."""

    receiver: str = ""
    received_by: str = ""
    #: 包摘要 the sender gave outside the package (on the signed 交接登记表, by another channel):
    #: algorithm name as ``transfer prepare`` prints it (SHA-256, SM3) → hex digest
    expected: dict[str, str] = field(default_factory=dict)


# The operators' log names the public module, as before the steps had modules of their own.
log = logging.getLogger("disposition.transfer")


def receive_transfer(
    settings: Settings,
    catalogue: Catalogue,
    package: Path,
    options: ReceiveOptions = ReceiveOptions(),
    on_stage: Callable[[str], None] | None = None,
) -> ReceiveResult:
    """Check a package and, when every check passes, store its AIPs in this home (see :mod:`disposition.transfer`).

    Args:
        on_stage: Called with ``"check"`` and ``"store"`` as each phase begins (progress, benchmarks).

    Raises:
        UsageError: ``package`` is not a directory, or ``options.receiver`` is not the 接收单位
            its 交接登记表 names (nothing is stored).
        StorageError: The primary location cannot be read while checking.
    """
    require_algorithms()
    package = package.absolute()
    if not package.is_dir():
        raise UsageError(_("移交包须为目录: {path}").format(path=package))
    note = on_stage or (lambda _stage: None)
    # Every receive leaves its report, one stopped by an error too (the error still reaches the caller).
    checked = CheckedPackage(package, CheckReport("移交与接收"))  # until the checks have run
    try:
        locations = open_locations(settings)
        note("check")
        checked = check_package(settings, catalogue, locations[0], package, int(settings.ingest["workers"]))
        result = _decide_and_store(settings, catalogue, locations, checked, options, note)
        failed = [f.code for f in checked.report.findings if f.failed]
        log.log(logging.INFO if not failed else logging.WARNING, "receive %s (%s): %s %s", package,
                checked.transfer_id, result.status, " ".join(failed))  # fmt: skip
        return result
    except Exception as exc:
        log.error("receive %s stopped: %s", package, exc)
        try:
            _write_report(settings.home, checked, [_interrupted(exc)])
        except Exception:  # the error that stopped the receive is the one to raise
            pass
        raise


def _origin(checked: CheckedPackage, options: ReceiveOptions) -> Finding:
    """YJ-1-7: the package is the one the sender made, by the digest they gave outside it.

    Everything inside a package can be rewritten consistently by whoever carries it (AIPs, their
    metadata, the registers, every manifest): only a digest that travels another way, written on
    the signed 交接登记表 or read out by the sender, tells the package the sender made from a forgery.
    """
    if not options.expected:
        return Finding(
            "YJ-1-7", Verdict.warning,
            "未给出移交方另行告知的包摘要, 未能核对包的来源; 请按签署的交接登记表用 --package-sha256 核对 "
            "(no package digest given: the package's origin is not proven)",
        )  # fmt: skip
    for name, want in options.expected.items():
        found = checked.digests.get(name, "")
        if want.strip().lower() != found:
            message = f"包摘要 {name} 与移交方告知的不符, 包不是移交方所制作的那一个 (not the package the sender made)"
            return fail("YJ-1-7", message, None, want, found or "（无）")
    return Finding("YJ-1-7", Verdict.passed, "通过 (passed): " + ", ".join(sorted(options.expected)))


def _decide_and_store(
    settings: Settings,
    catalogue: Catalogue,
    locations: list[Location],
    checked: CheckedPackage,
    options: ReceiveOptions,
    note: Callable[[str], None],
) -> ReceiveResult:
    """The receive once every check has run: refuse, recognise a package received before, or store."""
    package = checked.root
    earlier = _earlier_package(settings.home, checked)
    if earlier is not None:
        checked.report.findings.append(earlier)
    checked.report.findings.append(_origin(checked, options))
    _complete_report(checked.report)
    result = ReceiveResult(package, "rejected", checked.report, checked.transfer_id, checked.digests)
    if not checked.report.ok:
        result.report_path = _write_report(settings.home, checked, [])
        return result
    if options.receiver and options.receiver != checked.receiver:
        # the receipt names the 接收单位 and the sender refuses one that is not whom it sent to
        raise UsageError(
            _(
                "此移交包的接收单位为“{addressed}”，不是 --receiver 所填的“{receiver}”，未接收任何内容；"
                "请核对后不带 --receiver 接收, 或请移交单位重新生成移交包"
            ).format(addressed=checked.receiver, receiver=options.receiver),
            path=str(package), rule="transfer:receiver",
        )  # fmt: skip
    receipt = settings.home / REGISTERS_DIR / RECEIPTS_DIR / f"{checked.digests['SHA-256']}.xml"
    if _receipt_complete(receipt):
        result.status, result.receipt = "already_received", receipt
        result.already_held = [a.row.archival_code for a in checked.aips]
        return result  # nothing written: the same package was received before
    taken = _claim_transfer_id(settings.home, checked)
    if taken is not None:  # another package took the id between the check and now
        report = checked.report
        report.findings = [f for f in report.findings if f.code != "YJ-1-8" or f.failed] + [taken]
        result.report_path = _write_report(settings.home, checked, [])
        return result
    note("store")
    outcome = store_package(settings, catalogue, locations, checked)
    result.stored, result.already_held, result.failures = outcome.stored, outcome.held, outcome.failures
    if outcome.failures:
        result.status = "incomplete"
        result.report_path = _write_report(settings.home, checked, outcome.failures)
        return result
    _sync_search(settings, catalogue, locations)
    result.receipt = _write_receipt(receipt, checked, options)
    result.status = "received"
    result.report_path = _write_report(settings.home, checked, [])
    return result


def _sync_search(settings: Settings, catalogue: Catalogue, locations: list[Location]) -> None:
    """Add the received records to the search index (a cache: a failure here is mended by ``reindex``)."""
    try:
        with open_search(settings) as index:
            sync_search(catalogue, index, locations)
    except DanganError:
        pass
