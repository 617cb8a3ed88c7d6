"""副本检测: prove one location's copy of an AIP against the independent record.

The record is the catalogue's list of every payload and tag file with its size,
SHA-256 and SM3, taken at ingest. The copy is read from the location itself,
streaming each file once with every digest fed from the same blocks. Because the
record holds the digests of the bag's own manifests and tag manifests too, a bag
rewritten consistently (a file and its manifest lines swapped together) still
fails: the manifest no longer matches what was ingested.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum

from archive.errors import StorageError
from archive.fixity import hash_stream
from archive.storage.base import CopyReader, Location


class ProblemKind(StrEnum):
    """What can be wrong with a copy (the ``kind`` of ``audit --json``)."""

    corrupt = "corrupt"
    truncated = "truncated"
    missing = "missing"
    extra = "extra"
    missing_copy = "missing_copy"
    unreadable = "unreadable"


#: kind -> (DA/T 70 style 长期保存 check code, what it means for people)
PROBLEM_CODES: dict[ProblemKind, tuple[str, str]] = {
    ProblemKind.corrupt: ("BC-1-1", "摘要不符, 文件已损坏 (digest mismatch)"),
    ProblemKind.truncated: ("BC-2-2", "文件被截短 (file shorter than recorded)"),
    ProblemKind.missing: ("BC-2-7", "文件缺失 (file missing)"),
    ProblemKind.extra: ("BC-4-3", "多余文件 (file not in the AIP)"),
    ProblemKind.missing_copy: ("BC-4-8", "副本缺失 (copy missing from this location)"),
    ProblemKind.unreadable: ("BC-3-2", "存储位置无法读取 (location unreadable)"),
}


@dataclass(frozen=True)
class Expected:
    """The independent record of one file of an AIP."""

    path: str
    size: int | None
    sha256: str
    sm3: str


@dataclass
class Problem:
    """One thing found wrong with one copy."""

    archival_code: str | None
    location: str
    path: str | None
    kind: ProblemKind
    detail: str = ""
    repaired: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "archival_code": self.archival_code,
            "location": self.location,
            "path": self.path,
            "kind": str(self.kind),
            "code": PROBLEM_CODES[self.kind][0],
            "detail": self.detail,
            "repaired": self.repaired,
        }


@dataclass
class CopyCheck:
    """The outcome of checking one copy."""

    archival_code: str
    location: str
    algorithms: tuple[str, ...]
    files: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def location_down(self) -> bool:
        """The location itself failed (as opposed to a damaged file)."""
        return any(p.kind is ProblemKind.unreadable and p.path is None for p in self.problems)


#: a copy's files as listed: bag-relative path and size
Listing = list[tuple[str, int]]

#: what hashing one file gave: the record, the bytes read, the digests (None when unreadable), the error
FileOutcome = tuple[Expected, int, dict[str, str] | None, str]


@dataclass
class Survey:
    """A copy listed and compared with the record: what is wrong already, and the files left to hash."""

    result: CopyCheck
    to_hash: list[Expected]


def check_copy(
    location: Location,
    key: str,
    archival_code: str,
    expected: Iterable[Expected],
    algorithms: tuple[str, ...],
    pool: Executor | None = None,
    listed: Listing | None = None,
) -> CopyCheck:
    """Check every file of ``location``'s copy of ``key`` against ``expected``.

    Files are hashed on ``pool`` when given (hashlib releases the GIL, so threads
    use every core); the copy is never staged on local disk. ``listed`` is the copy's
    listing when it has been taken already (:meth:`Location.inventory`).
    """
    with location.reader(key) as copy:
        survey = survey_copy(copy, archival_code, expected, algorithms, listed)

        def digest(want: Expected) -> FileOutcome:
            return digest_file(copy, want, algorithms)

        outcomes = pool.map(digest, survey.to_hash) if pool else map(digest, survey.to_hash)
        settle(survey.result, outcomes)
    return survey.result


def survey_copy(
    copy: CopyReader,
    archival_code: str,
    expected: Iterable[Expected],
    algorithms: tuple[str, ...],
    listed: Listing | None = None,
) -> Survey:
    """The cheap part of a check: the copy's listing against the record (sizes, missing and extra files)."""
    result = CopyCheck(archival_code, copy.location.name, algorithms)
    try:
        present = listed is not None or copy.present()
        actual = dict(copy.files() if listed is None else listed) if present else {}
    except StorageError as exc:
        _problem(result, ProblemKind.unreadable, None, exc.message)
        return Survey(result, [])
    if not present:
        _problem(result, ProblemKind.missing_copy, None, "此位置没有已提交的副本 (no committed copy here)")
        return Survey(result, [])
    record = {e.path: e for e in expected}
    for path in sorted(set(record) - set(actual)):
        _problem(result, ProblemKind.missing, path)
    for path in sorted(set(actual) - set(record)):
        _problem(result, ProblemKind.extra, path, f"{actual[path]} 字节")
    to_hash = []
    for path in sorted(set(record) & set(actual)):
        want = record[path]
        if want.size is not None and actual[path] < want.size:
            _problem(result, ProblemKind.truncated, path, f"应为 {want.size} 字节, 实为 {actual[path]} 字节")
        else:
            to_hash.append(want)
    return Survey(result, to_hash)


def digest_file(copy: CopyReader, want: Expected, algorithms: tuple[str, ...]) -> FileOutcome:
    """Stream one file of the copy once, every digest fed from the same blocks."""
    try:
        with copy.open(want.path) as stream:
            size, digests = hash_stream(stream, algorithms)
        return want, size, digests, ""
    except (StorageError, OSError) as exc:
        return want, 0, None, getattr(exc, "message", str(exc))


def settle(result: CopyCheck, outcomes: Iterable[FileOutcome]) -> None:
    """Add the hashed files to ``result``, in the order of the survey's ``to_hash``."""
    for want, size, digests, error in outcomes:
        if digests is None:
            _problem(result, ProblemKind.unreadable, want.path, error)
            continue
        result.files += 1
        result.bytes += size
        problem_detail = _mismatch(want, size, digests)
        if problem_detail:
            kind = ProblemKind.truncated if want.size is not None and size < want.size else ProblemKind.corrupt
            _problem(result, kind, want.path, problem_detail)


def _problem(result: CopyCheck, kind: ProblemKind, path: str | None, detail: str = "") -> None:
    result.problems.append(Problem(result.archival_code, result.location, path, kind, detail))


def _mismatch(want: Expected, size: int, digests: dict[str, str]) -> str:
    if want.size is not None and size != want.size:
        return f"应为 {want.size} 字节, 实为 {size} 字节"
    for alg, value in digests.items():
        if value != getattr(want, alg):
            return f"{alg.upper()} 应为 {getattr(want, alg)}, 实为 {value}"
    return ""
