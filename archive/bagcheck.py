"""BagIt 校验: a strict, streaming RFC 8493 validator that reads bags through a small seam.

It sees a bag only through :class:`~archive.bagsource.BagSource`, checks from cheap to costly
(structure, ``bag-info.txt`` and Payload-Oxum, completeness, checksums), reads each file once for
every digest, and collects every finding into one :class:`BagReport`. The design, and the verdicts
that differ from bagit-python and the LoC conformance suite: ``docs/bag-validation.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from archive.bagparse import (
    SUPPORTED_ALGORITHMS,
    BagFinding,
    FetchEntry,
    FindingKind,
    finding,
    hex_length,
    parse_bagit_txt,
    parse_fetch,
    parse_manifest,
    parse_tag_file,
    version_tuple,
)
from archive.bagsource import BagSource, DirectorySource
from archive.errors import BagError, MissingDependencyError, StorageError, UsageError
from archive.i18n import _
from archive.numbers import whole_number

__all__ = [
    "BLOCK_SIZE",
    "SUPPORTED_ALGORITHMS",
    "BagFinding",
    "BagReport",
    "BagSource",
    "DirectorySource",
    "FetchEntry",
    "FindingKind",
    "parse_bagit_txt",
    "parse_fetch",
    "parse_manifest",
    "parse_tag_file",
    "validate_bag",
]

BLOCK_SIZE = 1024 * 1024
#: Files operating systems drop into folders; allowed, but worth a warning.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "ehthumbs.db"})
_OXUM = re.compile(r"([0-9]+)\.([0-9]+)")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


# --- report ----------------------------------------------------------------------------


@dataclass
class BagReport:
    """Everything one validation found, errors and warnings kept apart.

    ``manifests`` and ``tagmanifests`` map algorithm → normalised path → digest.
    """

    path: str
    version: str | None = None
    valid: bool = False
    errors: list[BagFinding] = field(default_factory=list)
    warnings: list[BagFinding] = field(default_factory=list)
    bag_info: list[tuple[str, str]] = field(default_factory=list)
    manifests: dict[str, dict[str, str]] = field(default_factory=dict)
    tagmanifests: dict[str, dict[str, str]] = field(default_factory=dict)
    files_checked: int = 0
    bytes_checked: int = 0

    def kinds(self) -> set[str]:
        """The kinds of all errors, handy for tests and summaries."""
        return {f.kind for f in self.errors}


# --- validation ------------------------------------------------------------------------


def validate_bag(
    source_or_path: BagSource | str | os.PathLike[str],
    *,
    algorithms: Iterable[str] | None = None,
    fast: bool = False,
) -> BagReport:
    """Validate a bag and return every finding.

    Args:
        source_or_path: a :class:`BagSource`, or a local directory.
        algorithms: payload-manifest algorithms the bag must carry (e.g.
            ``("sha256", "sm3")``); a missing one is a ``structure`` error.  All
            manifests present are verified either way.
        fast: skip checksums (structure, Payload-Oxum and completeness only).

    Returns:
        The report; ``report.valid`` is true when there is no error.

    Raises:
        UsageError: a required algorithm is not one the archive supports.
        MissingDependencyError: hashlib cannot compute a required algorithm.
        BagError: a local path that is not a directory.
    """
    required = _required_algorithms(algorithms)
    source = source_or_path if isinstance(source_or_path, BagSource) else DirectorySource(source_or_path)
    run = _Validation(source, required)
    run.check_structure()
    run.check_bag_info()
    run.check_completeness()
    if not fast:
        run.check_checksums()
    return run.finish()


def _required_algorithms(algorithms: Iterable[str] | None) -> tuple[str, ...]:
    names = tuple(name.lower() for name in algorithms or ())
    for name in names:
        if name not in SUPPORTED_ALGORITHMS:
            raise UsageError(_("不支持的校验算法 {name}").format(name=name), rule="RFC 8493 §2.4")
        if hex_length(name) is None:
            raise MissingDependencyError(_("hashlib 无法计算 {name}, 请安装支持它的 OpenSSL").format(name=name))
    return names


class _Validation:
    """State of one validation run; each ``check_*`` method is one stage."""

    def __init__(self, source: BagSource, required: tuple[str, ...]) -> None:
        self.source = source
        self.required = required
        self.report = BagReport(path=source.location)
        self.findings: list[BagFinding] = []
        self.present: dict[str, int] = {}
        self.cache: dict[str, bytes] = {}  # tag files: parsed, then hashed from memory
        self.encoding = "UTF-8"
        self.fetch: list[FetchEntry] = []

    @property
    def version(self) -> str:
        return self.report.version or "1.0"

    def add(self, code: str, path: str | None, **fields: Any) -> None:
        self.findings.append(finding(code, path, **fields))

    def finish(self) -> BagReport:
        self.report.errors = [f for f in self.findings if f.severity == "error"]
        self.report.warnings = [f for f in self.findings if f.severity == "warning"]
        self.report.valid = not self.report.errors
        return self.report

    def _read(self, name: str) -> bytes | None:
        if name not in self.cache:
            try:
                with self.source.open(name) as handle:
                    self.cache[name] = handle.read()
            except (OSError, BagError, StorageError) as exc:
                self.add("unreadable", name, error=exc)
                return None
        return self.cache[name]

    # -- stage 1: structure

    def check_structure(self) -> None:
        self.present = dict(self.source.list_files())
        for path, what in self.source.irregular_entries():
            self.add("symlink" if what == "symlink" else "irregular", path, what=what)
        if "bagit.txt" not in self.present:
            self.add("bagit_missing", "bagit.txt")
        elif (data := self._read("bagit.txt")) is not None:
            version, self.encoding = parse_bagit_txt(data, findings=self.findings)
            self.report.version = version or None
        if not self.source.is_dir("data"):
            self.add("no_data_dir", "data/")
        self._load_manifests()
        if "fetch.txt" in self.present and (data := self._read("fetch.txt")) is not None:
            self.fetch = parse_fetch(data, self.encoding, findings=self.findings)

    def _load_manifests(self) -> None:
        for name in sorted(path for path in self.present if "/" not in path and path.endswith(".txt")):
            if name.startswith("manifest-"):
                self._load_manifest(name, name[len("manifest-") : -4], self.report.manifests)
            elif name.startswith("tagmanifest-"):
                self._load_manifest(name, name[len("tagmanifest-") : -4], self.report.tagmanifests)
        if not self.report.manifests:
            self.add("no_manifest", None)
        for algorithm in self.required:
            if algorithm not in self.report.manifests:
                self.add("required_manifest", f"manifest-{algorithm}.txt", algorithm=algorithm)

    def _load_manifest(self, name: str, algorithm: str, into: dict[str, dict[str, str]]) -> None:
        if hex_length(algorithm) is None:
            self.add("unsupported", name, algorithm=algorithm)
        if (data := self._read(name)) is not None:
            into[algorithm] = parse_manifest(
                data, self.encoding, algorithm, name=name, version=self.version, findings=self.findings
            )

    # -- stage 2: bag-info and Payload-Oxum

    def check_bag_info(self) -> None:
        names = ["bag-info.txt"] + (["package-info.txt"] if version_tuple(self.version) < (0, 96) else [])
        name = next((n for n in names if n in self.present), None)
        if name is None or (data := self._read(name)) is None:
            return
        self.report.bag_info = parse_tag_file(data, self.encoding, name=name, findings=self.findings)
        oxums = {value for label, value in self.report.bag_info if label.lower() == "payload-oxum"}
        if len(oxums) > 1:
            self.add("oxum_conflict", name, found=" | ".join(sorted(oxums)))
        elif oxums:
            self._check_oxum(name, oxums.pop())

    def _check_oxum(self, name: str, declared: str) -> None:
        sizes = [size for path, size in self.present.items() if path.startswith("data/")]
        match = _OXUM.fullmatch(declared)
        shown = declared if len(declared) <= 60 else f"{declared[:40]}… ({len(declared)} 个字符 characters)"
        if match is None:
            self.add("oxum_malformed", name, found=shown)
            return
        try:  # leading zeros are allowed; a longer number than any payload can have is a mismatch, not a crash
            declared_sizes = tuple(whole_number(part.lstrip("0") or "0") for part in match.groups())
        except ValueError:
            declared_sizes = None
        if declared_sizes != (sum(sizes), len(sizes)):
            self.add("oxum_mismatch", "data/", expected=shown, found=f"{sum(sizes)}.{len(sizes)}")

    # -- stage 3: completeness

    def check_completeness(self) -> None:
        payload = {path for path in self.present if path.startswith("data/")}
        for algorithm, entries in self.report.manifests.items():
            name = f"manifest-{algorithm}.txt"
            self._check_listed(entries, name, algorithm, payload_manifest=True)
            for path in sorted(payload - entries.keys()):
                self.add("not_listed", path, algorithm=algorithm, source=name)
        for algorithm, entries in self.report.tagmanifests.items():
            self._check_listed(entries, f"tagmanifest-{algorithm}.txt", algorithm, payload_manifest=False)
        for entry in self.fetch:
            if entry.path not in self.present:
                self.add("fetch_missing", entry.path, expected=entry.url)
            for algorithm in sorted(a for a, entries in self.report.manifests.items() if entry.path not in entries):
                self.add("fetch_unlisted", entry.path, algorithm=algorithm, source=f"manifest-{algorithm}.txt")
        self._check_collisions(payload)
        for path in sorted(p for p in payload if p.rsplit("/", 1)[-1] in JUNK_NAMES):
            self.add("junk_file", path, warn=True)

    def _check_listed(self, entries: dict[str, str], name: str, algorithm: str, *, payload_manifest: bool) -> None:
        for path in sorted(entries):
            in_payload = path.startswith("data/")
            if payload_manifest and not in_payload:
                self.add("outside_data", path, algorithm=algorithm, source=name)
                continue
            if in_payload and not payload_manifest:
                self.add("tag_lists_payload", path, warn=True, algorithm=algorithm, source=name)
            if path not in self.present:
                self.add("listed_missing", path, algorithm=algorithm, source=name)

    def _check_collisions(self, payload: set[str]) -> None:
        """Warn about names that differ only in case or Unicode normalisation (one file on macOS)."""
        groups: dict[str, list[str]] = defaultdict(list)
        for path in sorted(payload.union(*self.report.manifests.values())):
            groups[unicodedata.normalize("NFC", path).casefold()].append(path)
        for variants in (group for group in groups.values() if len(group) > 1):
            self.add("name_collision", variants[-1], warn=True, found=" | ".join(variants))

    # -- stage 4: checksums

    def check_checksums(self) -> None:
        plan = self._checksum_plan()
        for path in sorted(plan):
            self._verify(path, plan[path])

    def _checksum_plan(self) -> dict[str, list[tuple[str, str, str]]]:
        """Path → ``(algorithm, expected digest, manifest name)`` for every verifiable entry."""
        plan: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for prefix, manifests in (("manifest", self.report.manifests), ("tagmanifest", self.report.tagmanifests)):
            for algorithm in (a for a in manifests if hex_length(a) is not None):  # others: unsupported_algorithm
                for path, digest in manifests[algorithm].items():
                    if path in self.present and (prefix == "tagmanifest" or path.startswith("data/")):
                        plan[path].append((algorithm, digest, f"{prefix}-{algorithm}.txt"))
        return plan

    def _verify(self, path: str, expectations: list[tuple[str, str, str]]) -> None:
        hashers = {algorithm: hashlib.new(algorithm) for algorithm, _, _ in expectations}
        size = self._feed(path, list(hashers.values()))
        if size is None:
            return
        self.report.files_checked += 1
        self.report.bytes_checked += size
        for algorithm, expected, name in expectations:
            if (actual := hashers[algorithm].hexdigest()) != expected:
                self.add("checksum", path, algorithm=algorithm, expected=expected, found=actual, source=name)

    def _feed(self, path: str, hashers: list[_Hasher]) -> int | None:
        """Read ``path`` once (tag files from memory) and feed every hasher; None on failure."""
        if path in self.cache:
            return _update(hashers, [self.cache[path]])
        try:
            with self.source.open(path) as handle:
                return _update(hashers, iter(lambda: handle.read(BLOCK_SIZE), b""))
        except (OSError, BagError, StorageError) as exc:
            self.add("unreadable" if isinstance(exc, FileNotFoundError) else "read_failed", path, error=exc)
            return None


def _update(hashers: list[_Hasher], blocks: Iterable[bytes]) -> int:
    """Feed every block to every hasher; return the byte count."""
    size = 0
    for block in blocks:
        size += len(block)
        for hasher in hashers:
            hasher.update(block)
    return size
