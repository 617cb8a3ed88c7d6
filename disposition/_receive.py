"""接收检测 (the receive checks): every 移交与接收 check over a package, before anything is written.

:func:`check_package` runs every check (the ``YJ-`` codes of :data:`disposition._package.CHECKS`)
over a package on local disk and returns a :class:`~disposition._package.CheckedPackage` holding
the full report. It opens files only through :class:`archive.bagcheck.DirectorySource` (no
symlink is ever followed) and parses every XML with the hardened parser; storing a package that
passed is :mod:`disposition._store`'s.

Checks run cheap to costly and all of them run, so one report lists every problem:
the package's bag structure, completeness and Payload-Oxum → the registers → each
AIP's own bag, metadata and place in the archive → the registers against each other
and the AIPs (:mod:`retention._register_checks`) → last the costly part, where this
process takes SHA-256 and SM3 of every byte of the package while worker processes
decode every payload file (two cores busy instead of one); each AIP's own manifests
are then held against the digests that run measured (YJ-1-2).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from archive.aip import ITEM_XML, disagreements
from archive.bagcheck import BagReport, DirectorySource, validate_bag
from archive.catalogue import Catalogue
from archive.config import Settings
from archive.errors import ConfigError, DanganError, TransferListError, UnsafeXMLError
from archive.fixity import ALGORITHMS, hash_stream
from archive.itemxml import item_from_xml, validate_item_xml
from archive.model import CheckReport, Finding, Item, ItemMetadata, Verdict
from archive.storage import Location
from ingest.formats import INSPECT_SETTINGS, inspect_file
from metadata_profiles import load_profiles, validate_metadata
from retention.registers import (
    AipDigest,
    Handover,
    TransferRow,
    handover_findings,
    read_handover,
    read_transfer_list,
    readme_findings,
    sheet_findings,
)

from ._package import (
    HANDOVER_XML,
    LIST_XLSX,
    LIST_XML,
    README_TXT,
    REGISTERS,
    ROOT_FILES,
    TRANSFER_ID,
    CheckedPackage,
    PackageAip,
    aip_tag_digests,
    fail,
)

#: checks that need the 移交清册, the 交接登记表, and to open each AIP's files by path
LIST_CHECKS = ("YJ-1-3", "YJ-2-1", "YJ-2-2", "YJ-2-3", "YJ-2-4")
HANDOVER_CHECKS = ("YJ-1-3", "YJ-2-1", "YJ-2-2")
AIP_CHECKS = ("YJ-1-2", "YJ-1-3", "YJ-1-4", "YJ-1-5", "YJ-1-6", "YJ-1-8", "YJ-3-3")
_BAG_CODES = {"oxum": "YJ-2-2", "missing": "YJ-2-3", "extra": "YJ-2-4", "unsafe_path": "YJ-4-7", "symlink": "YJ-4-7"}
_ROW_FIELDS = (
    ("责任者", "author"),
    ("题名", "title"),
    ("日期", "date"),
    ("密级", "classification"),
    ("备注", "remarks"),
)


def check_package(
    settings: Settings, catalogue: Catalogue, primary: Location, root: Path, workers: int = 2
) -> CheckedPackage:
    """Run every 移交与接收 check on the package at ``root``; nothing is written anywhere.

    Raises:
        StorageError: The home's primary location cannot be read (to compare with what it holds).
    """
    checker = _Checker(settings, catalogue, primary, root)
    checker.check_structure()
    checker.read_registers()
    if not checker.rows:
        checker.not_run(LIST_CHECKS + AIP_CHECKS, "移交清册缺失或无法读取 (the transfer list is missing or unreadable)")
    else:
        checker.place_files()
        if checker.handover is None:
            checker.not_run(
                HANDOVER_CHECKS, "交接登记表缺失或无法读取 (the handover register is missing or unreadable)"
            )
        else:
            checker.match_registers()
    if checker.rows and not checker.safe:
        # Inner bags and format tools open files by path; with a symlink or escaping path anywhere, none is opened.
        checker.not_run(AIP_CHECKS, "移交包中有不安全的路径 (the package holds an unsafe path)")
    elif checker.rows:
        for aip in checker.package.aips:
            if "bagit.txt" in aip.files:
                checker.check_aip(aip)
    if checker.rows:
        checker.cross_check_registers()
    checker.check_content(workers)
    return checker.finish()


class _Checker:
    """State of one check run; each ``check_*`` / ``read_*`` method is one stage."""

    def __init__(self, settings: Settings, catalogue: Catalogue, primary: Location, root: Path) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.primary = primary
        self.source = DirectorySource(root)
        self.files = dict(self.source.list_files())
        self.findings: list[Finding] = []
        self.outer: list[Finding] = []  # the package bag's own findings, replaced by the full run's at the end
        self.missing: list[str] = []  # folders of listed AIPs that are not in the package
        self.package = CheckedPackage(root, CheckReport("移交与接收"))
        self.bag = BagReport(str(root))
        self.rows: list[TransferRow] = []
        self.handover: Handover | None = None
        self.declared = (0, 0)  # 数量, 字节数 as the 交接登记表 states them
        self.handover_data = b""
        self.profiles = load_profiles(settings.profiles_dir)

    @property
    def safe(self) -> bool:
        """Whether the package may be opened folder by folder (no unsafe path, no symlink anywhere)."""
        return not any(f.code == "YJ-4-7" and f.failed for f in [*self.outer, *self.findings])

    def finish(self) -> CheckedPackage:
        # A missing AIP gets one finding of its own, not one per file the package manifests list under it.
        outer = [f for f in self.outer if not (f.code == "YJ-2-3" and (f.path or "").startswith(tuple(self.missing)))]
        self.package.report.findings = [*outer, *self.findings]
        return self.package

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def not_run(self, codes: Iterable[str], why: str) -> None:
        """Say which checks could not run, so the report never calls them passed."""
        seen = {f.code for f in self.findings}
        new = [c for c in dict.fromkeys(codes) if c not in seen]
        self.findings += [Finding(c, Verdict.not_applicable, f"未检测 (not run): {why}") for c in new]

    # -- stage 1: the package as one bag

    def check_structure(self) -> None:
        """The package as a bag without its checksums (those come last, in :meth:`check_content`)."""
        self.bag = validate_bag(self.source, algorithms=ALGORITHMS, fast=True)
        self.outer = bag_findings(self.bag, "", "YJ-1-1")
        pkg = self.package
        pkg.sha256 = self.bag.manifests.get("sha256", {})
        pkg.digests = aip_tag_digests(self._tag_digests("sha256"), self._tag_digests("sm3"), "")
        for name in sorted(n for n in self.files if "/" not in n and n not in ROOT_FILES):
            self.add(fail("YJ-2-4", f"移交包根目录有多余的文件 (unexpected file at the package root): {name}", name))
        info = dict(self.bag.bag_info)
        pkg.transfer_id, pkg.sender = info.get("External-Identifier", ""), info.get("Source-Organization", "")
        if not TRANSFER_ID.fullmatch(pkg.transfer_id):
            self.add(fail("YJ-3-2", "bag-info.txt 的 External-Identifier 不是有效的移交编号 (bad transfer id)",
                          "bag-info.txt", "YJ-<全宗号>-<日期>-<编号>", pkg.transfer_id))  # fmt: skip
        if len(pkg.digests) != len(ALGORITHMS):
            self.add(fail("YJ-3-2", "移交包缺少 tagmanifest-sha256.txt 或 tagmanifest-sm3.txt (tag manifests missing)"))

    def _tag_digests(self, algorithm: str) -> dict[str, str]:
        """The digest of the package's own tag manifest, computed here (the bag lists it nowhere)."""
        name = f"tagmanifest-{algorithm}.txt"
        if name not in self.files:
            return {}
        with self.source.open(name) as f:
            return {name: hash_stream(f, (algorithm,))[1][algorithm]}

    # -- stage 2: the registers

    def read_registers(self) -> None:
        for name in REGISTERS:
            if name not in self.files:
                self.add(fail("YJ-2-3", f"缺少交接材料 {name} (register missing)", name))
        list_data, handover_data = self._read(LIST_XML), self._read(HANDOVER_XML)
        self.handover_data = handover_data or b""
        if list_data is not None:
            try:
                self.rows = read_transfer_list(list_data, name=LIST_XML)
            except (UnsafeXMLError, TransferListError) as exc:
                self._xml_failures(exc)
        if handover_data is not None:
            self.package.handover_sha256 = hashlib.sha256(handover_data).hexdigest()
            try:
                self.handover, count, size = read_handover(handover_data, name=HANDOVER_XML)
                self.declared, self.package.receiver = (count, size), self.handover.receiver
            except (UnsafeXMLError, TransferListError) as exc:
                self._xml_failures(exc)

    def _read(self, name: str) -> bytes | None:
        """A file of the package, opened component by component without following any symlink."""
        if name not in self.files:
            return None
        with self.source.open(name) as f:
            return f.read()

    def _xml_failures(self, exc: DanganError) -> None:
        for problem in getattr(exc, "details", ()) or (exc,):
            rule = f" [{problem.rule}]" if problem.rule else ""
            self.add(fail("YJ-3-1", f"{problem.message}{rule}", problem.path))

    # -- stage 3: the package against the 移交清册, then the 交接登记表 against both

    def match_registers(self) -> None:
        assert self.handover is not None
        registered = {a.archival_code: a for a in self.handover.aips}
        listed = {r.archival_code for r in self.rows}
        for code in sorted(registered.keys() - listed):
            self.add(fail("YJ-2-3", f"交接登记表所列信息包未列入移交清册 (registered, not in the list): {code}", code))
        for code in sorted(listed - registered.keys()):
            self.add(fail("YJ-2-4", f"移交清册所列信息包未在交接登记表登记 (listed, not registered): {code}", code))
        present = sum("bagit.txt" in a.files for a in self.package.aips)
        counts = {
            "登记表数量": self.declared[0],
            "登记表条目": len(registered),
            "清册条目": len(self.rows),
            "包内": present,
        }
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{k} {v}" for k, v in counts.items())
            self.add(fail("YJ-2-1", f"件数不符 (counts differ): {shown}", None, str(self.declared[0]), str(present)))
        self._match_bytes(registered)

    def place_files(self) -> None:
        """Give every payload file to the AIP folder the list names for it; anything else under data/ is extra."""
        self.package.aips = [PackageAip(row, f"data/{row.record_name}/") for row in self.rows]
        by_base = {a.base: a for a in self.package.aips}
        for path, size in self.files.items():
            if not path.startswith("data/") or path in REGISTERS:
                continue
            parts = path.split("/")  # the innermost listed folder holding the file owns it
            folders = ("/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1))
            owner = next((by_base[f] for f in folders if f in by_base), None)
            if owner is None:
                self.add(fail("YJ-2-4", f"移交包中有未列入移交清册的文件 (file not in any listed AIP): {path}", path))
            else:
                owner.files[path[len(owner.base) :]] = size
        for aip in self.package.aips:
            if "bagit.txt" not in aip.files:
                self.missing.append(aip.base)
                where = aip.base.rstrip("/")
                self.add(fail("YJ-2-3", f"移交清册所列信息包不在包内 (listed AIP missing): {where}", where))
            aip.digests = aip_tag_digests(
                self.bag.manifests.get("sha256", {}), self.bag.manifests.get("sm3", {}), aip.base
            )

    def _match_bytes(self, registered: dict[str, AipDigest]) -> None:
        actual = sum(a.size for a in self.package.aips)
        sums = {self.declared[1], sum(a.size for a in registered.values()), actual}
        if len(sums) > 1:
            self.add(fail("YJ-2-2", f"数据量不符 (bytes differ): 登记表 {self.declared[1]}, 包内 {actual}",
                          None, str(self.declared[1]), str(actual)))  # fmt: skip
        for aip in self.package.aips:
            entry = registered.get(aip.row.archival_code)
            if entry is not None and "bagit.txt" in aip.files and entry.size != aip.size:
                self.add(fail("YJ-2-2", "信息包字节数与交接登记表不符 (AIP size differs from the register)",
                              aip.row.archival_code, str(entry.size), str(aip.size)))  # fmt: skip
            if entry is not None and "bagit.txt" in aip.files and dict(entry.digests) != aip.digests:
                self.add(fail("YJ-1-3", "信息包摘要与交接登记表不符 (AIP digests differ from the register)",
                              aip.row.archival_code, _show(entry.digests), _show(aip.digests)))  # fmt: skip

    # -- stage 4b, run once stage 4 has read every AIP's metadata: the registers against each other

    def cross_check_registers(self) -> None:
        """移交清册.xlsx, 交接登记表 and 说明文件 against 文件目录.XML, bag-info.txt and the AIPs."""
        info = dict(self.bag.bag_info)
        aips = self.package.aips
        metas = [a.meta for a in aips if a.meta is not None]
        complete = metas if len(metas) == len(aips) else None  # else the missing metadata is reported already
        sheet = self._read(LIST_XLSX)
        if sheet is not None:
            stated = {"移交编号": self.package.transfer_id, "移交单位": info.get("Source-Organization", "")}
            if self.handover is not None:
                stated.update(移交单位=self.handover.sender, 接收单位=self.handover.receiver)
            self.findings += sheet_findings(sheet, LIST_XLSX, self.rows, stated)
        if self.handover is None:
            return
        self.findings += handover_findings(self.handover, self.handover_data, HANDOVER_XML, info, complete)
        readme = self._read(README_TXT)
        if readme is not None and complete is not None:
            self.findings += readme_findings(readme, README_TXT, self.handover, complete)
        elif readme is not None:
            self.not_run(["YJ-1-4"], "有信息包的元数据无法读取, 说明文件未核对 (the readme was not checked)")

    # -- stage 4: each AIP

    def check_aip(self, aip: PackageAip) -> None:
        inner = validate_bag(DirectorySource(self.package.root / aip.base), algorithms=ALGORITHMS, fast=True)
        self.findings += bag_findings(inner, aip.base, "YJ-1-2")
        self._inner_listing(aip, inner)
        aip.payload = sorted(p for p in inner.manifests.get("sha256", {}) if p.startswith("data/"))
        item = self._metadata(aip)
        if item is None:
            return
        aip.meta = meta = item.metadata
        self._agrees_with_itself(aip, item, inner.bag_info)
        self._match_row(aip, meta, dict(inner.bag_info))
        self._check_place(aip, meta)

    def _agrees_with_itself(self, aip: PackageAip, item: Item, info: list[tuple[str, str]]) -> None:
        """YJ-1-2: what item.xml records against the AIP's own manifests, files and bag-info.txt.

        With :meth:`_aip_fixity` (manifests against the bytes) this proves the AIP agrees with
        itself; the register's digests cover only its tag manifests, which a forger rewrites.
        """
        sizes = {p: n for p, n in aip.files.items() if p.startswith("data/")}
        tags = [p for p in aip.files if not p.startswith("data/")]  # only those the archive writes
        for d in disagreements(item, aip.manifests, sizes, info, tags):
            self.add(fail("YJ-1-2", f"{ITEM_XML}: {d.message}", aip.base + d.path, d.expected or None, d.found or None))

    def _inner_listing(self, aip: PackageAip, inner: BagReport) -> None:
        """Keep the AIP's own manifests for :meth:`_aip_fixity`; every file must be in them."""
        listed = {f"tagmanifest-{a}.txt" for a in inner.tagmanifests}
        for algorithm in ALGORITHMS:
            entries = {**inner.manifests.get(algorithm, {}), **inner.tagmanifests.get(algorithm, {})}
            aip.manifests[algorithm] = entries
            listed |= entries.keys()
        for path in sorted(set(aip.files) - listed):
            self.add(fail("YJ-2-4", "信息包中有未列入其清单的文件 (file not in the AIP's manifests)", aip.base + path))
        if not all(f"tagmanifest-{a}.txt" in aip.files for a in ALGORITHMS):
            self.add(fail("YJ-3-2", "信息包缺少 SHA-256 或 SM3 标签清单 (AIP tag manifest missing)", aip.base))

    def _metadata(self, aip: PackageAip) -> Item | None:
        name = aip.base + ITEM_XML
        data = self._read(name)
        if data is None:
            self.add(fail("YJ-3-1", "信息包缺少元数据 metadata/item.xml (metadata missing)", name))
            return None
        problems = validate_item_xml(data, name=name)
        for p in problems:
            self.add(fail("YJ-3-1", f"{p.code}: {p.message}", name))
        if problems:
            return None
        item = item_from_xml(data, name=name)
        meta = item.metadata
        try:
            profile = self.profiles.for_category(meta.category)
        except ConfigError as exc:
            self.add(fail("YJ-1-5", f"门类不在本馆著录方案中 (category unknown here): {exc.message}", name))
            return item
        for f in validate_metadata(meta, profile, self.profiles.codes):
            self.add(replace(f, code="YJ-1-5", message=f"{f.code}: {f.message}", path=f.path or name))
        return item

    def _match_row(self, aip: PackageAip, meta: ItemMetadata, bag_info: dict[str, str]) -> None:
        code = aip.row.archival_code
        names = {"元数据": meta.archival_code, "包内位置": aip.base.rstrip("/").rsplit("/", 1)[-1],
                 "bag-info": bag_info.get("External-Identifier", "")}  # fmt: skip
        for where, value in names.items():
            if value != code:
                self.add(
                    fail("YJ-1-4", f"档号不一致 (archival code differs): 移交清册 vs {where}", aip.base, code, value)
                )
        for label, attr in _ROW_FIELDS:
            listed, described = getattr(aip.row, attr), getattr(meta, attr)
            if listed != described:
                message = f"移交清册的{label}与元数据不符 (the list's {attr} differs from the metadata)"
                self.add(fail("YJ-1-4", message, code, described, listed))

    def _check_place(self, aip: PackageAip, meta: ItemMetadata) -> None:
        """The fonds must be one this archive holds, and nothing here may differ under the same 档号 or 件号."""
        codes = [f.code for f in self.settings.fonds]
        if meta.fonds_code not in codes:
            self.add(fail("YJ-1-6", "全宗不在本馆接收范围 (fonds not listed in dangan.toml [[fonds]])",
                          aip.row.archival_code, "、".join(codes), meta.fonds_code))  # fmt: skip
            return
        home = self.settings.fonds_by_code(meta.fonds_code).name
        if _name_key(meta.fonds_name) != _name_key(home):
            self.add(fail("YJ-1-6", f"立档单位“{meta.fonds_name}”与本馆登记的全宗 {meta.fonds_code}“{home}”不符, "
                          "请核对是否为本馆接收的全宗 (the fonds name differs from dangan.toml [[fonds]])",
                          aip.row.archival_code, home, meta.fonds_name))  # fmt: skip
        self._conflicts(aip, meta)

    def _conflicts(self, aip: PackageAip, meta: ItemMetadata) -> None:
        code, key = aip.row.archival_code, aip.key
        sha = aip.digests.get("SHA-256", "")
        row = self.catalogue.get(code)
        if row is not None:
            held = {f.path: f.sha256 for f in self.catalogue.files(code)}.get("tagmanifest-sha256.txt")
            if row.aip_key != key or held != sha:
                self.add(
                    fail("YJ-1-8", "本馆已有同一档号的不同档案 (a different record holds this 档号)", code, held, sha)
                )
                return
        clash = self.catalogue.holder_of_number(meta, other_than=code)
        if clash is not None:
            self.add(fail("YJ-1-8", f"本馆已有同一件号的档案 (件号 taken by {clash})", code, code, clash))
        if self.primary.exists(key):
            with self.primary.open(key, "tagmanifest-sha256.txt") as f:
                held = hash_stream(f, ("sha256",))[1]["sha256"]
            if held != sha:
                self.add(
                    fail("YJ-1-8", "存储中已有同一档号的不同信息包 (storage holds a different AIP)", code, held, sha)
                )
            aip.held = held == sha

    # -- stage 5: the costly part: every byte's digests here while worker processes decode every payload file

    def check_content(self, workers: int) -> None:
        jobs = [
            (str(self.package.root / a.base / p), a.base + p) for a in self.package.aips if a.meta for p in a.payload
        ]
        limits = {name: self.settings.ingest[name] for name in INSPECT_SETTINGS}
        # The first file here: it loads fido's signatures (seconds), which the forked workers then inherit.
        results = [(jobs[0], _inspect(jobs[0], limits))] if jobs else []
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max(1, workers), mp_context=context) as pool:
            # With fork the first submit starts every worker, before this process does anything else.
            pending = [(job, pool.submit(_inspect, job, limits)) for job in jobs[1:]]
            full = validate_bag(DirectorySource(self.package.root), algorithms=ALGORITHMS)
            results += [(job, future.result()) for job, future in pending]
        self.outer = bag_findings(full, "", "YJ-1-1")
        self.package.files_checked, self.package.bytes_checked = full.files_checked, full.bytes_checked
        self._aip_fixity(full)
        for (_path, name), found in results:
            for f in found:
                self.add(replace(f, code="YJ-3-3", message=f"{f.code}: {f.message}", path=name))

    def _aip_fixity(self, full: BagReport) -> None:
        """YJ-1-2: each AIP's own manifests against the bytes of its files.

        The package run has just read every file the package manifests name: a file's bytes
        have the digest that manifest states unless the run reported otherwise (then the
        finding holds the digest measured). So each AIP's entries are checked against what
        was measured without reading anything twice; a file the run could not measure (not
        in the package manifests, unreadable) fails here too, never passes unread.
        """
        measured: dict[tuple[str, str], str] = {}
        unread: set[str] = set()
        for f in full.errors:
            if f.kind == "corrupt" and f.path is not None:
                if f.algorithm and f.found:
                    measured[(f.algorithm, f.path)] = f.found
                else:
                    unread.add(f.path)
        for aip in self.package.aips:
            for algorithm, entries in aip.manifests.items():
                outer = full.manifests.get(algorithm, {})
                for path, digest in sorted(entries.items()):
                    name = aip.base + path
                    if path not in aip.files:
                        continue  # missing: reported by the AIP's own bag check (YJ-2-3)
                    actual = None if name in unread else measured.get((algorithm, name), outer.get(name))
                    if actual is None:
                        message = (
                            f"信息包文件未能按其 {algorithm} 清单核验 (not verified against the AIP's manifest: "
                            "not in the package manifest, or unreadable)"
                        )
                        self.add(fail("YJ-1-2", message, name))
                    elif actual != digest:
                        message = f"信息包清单与文件不符 (the AIP's {algorithm} manifest differs from the file)"
                        self.add(fail("YJ-1-2", message, name, digest, actual))


def _name_key(name: str) -> str:
    """A unit's name as compared: compatibility forms folded, whitespace dropped."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def _inspect(job: tuple[str, str], limits: dict[str, Any]) -> list[Finding]:
    """Failures and warnings of one payload file (in a worker process), under the [ingest] ceilings."""
    return inspect_file(Path(job[0]), job[1], **limits).findings


def bag_findings(report: BagReport, prefix: str, corrupt_code: str) -> list[Finding]:
    """A bag validator's findings as YJ findings; paths made package-relative with ``prefix``."""
    out = []
    for f in [*report.errors, *report.warnings]:
        code = corrupt_code if f.kind == "corrupt" else "YJ-4-7" if f.code == "irregular" else _BAG_CODES.get(f.kind)
        verdict = Verdict.failed if f.severity == "error" else Verdict.warning
        path = prefix + f.path if f.path is not None else prefix.rstrip("/") or None
        out.append(Finding(code or "YJ-3-2", verdict, f.message, path, f.expected, f.found))
    return out


def _show(digests: object) -> str:
    return ", ".join(f"{k}:{v}" for k, v in sorted(dict(digests).items()))  # type: ignore[call-overload]
