"""Tests for the strict BagIt validator (archive.bagcheck) and its byte parsers.

Two halves: every bag of the LoC conformance suite with its expected verdict
(read in place, never modified; copied to tmp_path when a test must change one),
and damage tests on small bags built here by hand with hashlib.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from archive.bagcheck import (
    BagReport,
    BagSource,
    DirectorySource,
    parse_bagit_txt,
    parse_fetch,
    parse_manifest,
    parse_tag_file,
    validate_bag,
)
from archive.errors import BagError, UsageError

SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "bagit"
needs_suite = pytest.mark.skipif(not SUITE.is_dir(), reason=f"BagIt conformance suite not found at {SUITE}")

# Verdicts for the suite's warning/ bags on Linux (see the archive.bagcheck docstring for why).
WARNING_VERDICTS = {
    "made-with-md5sum-tools": True,
    "relative-path": True,
    "same-filename-listed-twice-with-the-same-hash": True,
    "duplicate-file-with-different-case": False,  # HELLO.txt is really absent on a case-sensitive FS
    "same-filename-listed-twice-with-different-normalization": False,  # the NFD spelling is absent
    "special-system-files": False,  # upstream never committed data/.DS_Store
}
CATEGORY_VERDICTS = {"valid": True, "invalid": False, "linux-only": False, "windows-only": False}


def suite_bags() -> list[Path]:
    return sorted(p for p in SUITE.glob("v*/*/*") if p.is_dir()) if SUITE.is_dir() else []


def expected_valid(bag: Path) -> bool:
    category = bag.parent.name
    return WARNING_VERDICTS[bag.name] if category == "warning" else CATEGORY_VERDICTS[category]


def copy_bag(src: Path, dst: Path) -> Path:
    """Copy a (read-only) corpus bag somewhere writable."""
    shutil.copytree(src, dst, symlinks=True)
    for folder, _, files in os.walk(dst):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return dst


# --- building bags by hand -------------------------------------------------------------

BLOCK_BOUNDARY = 1024 * 1024  # the first byte of the second 1 MiB block
GOOD_FILES = {
    "data/报告.txt": "社区居委会 2024 年工作报告\n".encode(),
    "data/scans/page 1.bin": bytes(range(256)) * 4096,  # 1 MiB: exactly one block
    "data/scans/page-2.bin": b"\x00\xff" * 700_001,  # spans two blocks
}


def digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def write_manifest(bag: Path, name: str, algorithm: str, paths: list[str], extra: tuple[str, ...] = ()) -> None:
    lines = [f"{digest(algorithm, (bag / p).read_bytes())}  {p}" for p in sorted(paths)] + list(extra)
    (bag / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def retag(bag: Path) -> None:
    """Rewrite tagmanifest-sha256.txt over the current root tag files."""
    names = sorted(p.name for p in bag.iterdir() if p.is_file() and not p.name.startswith("tagmanifest-"))
    write_manifest(bag, "tagmanifest-sha256.txt", "sha256", names)


def build_bag(
    bag: Path,
    files: dict[str, bytes] | None = None,
    *,
    version: str = "1.0",
    algorithms: tuple[str, ...] = ("sha256", "sm3"),
) -> Path:
    """A correct bag with sha256 + sm3 manifests, bag-info with Payload-Oxum and a tag manifest."""
    files = GOOD_FILES if files is None else files
    (bag / "data").mkdir(parents=True)
    (bag / "bagit.txt").write_bytes(f"BagIt-Version: {version}\nTag-File-Character-Encoding: UTF-8\n".encode())
    for rel, data in files.items():
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)
    for algorithm in algorithms:
        write_manifest(bag, f"manifest-{algorithm}.txt", algorithm, list(files))
    oxum = f"{sum(map(len, files.values()))}.{len(files)}"
    info = f"Source-Organization: 某某街道某某社区居委会\nBagging-Date: 2024-05-01\nPayload-Oxum: {oxum}\n"
    (bag / "bag-info.txt").write_text(info, encoding="utf-8")
    retag(bag)
    return bag


def append_line(bag: Path, name: str, line: str) -> None:
    with open(bag / name, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    retag(bag)


def error_kinds(report: BagReport) -> Counter[str]:
    return Counter(f.kind for f in report.errors)


@pytest.fixture
def good_bag(tmp_path: Path) -> Path:
    return build_bag(tmp_path / "bag")


class CountingSource(DirectorySource):
    """Counts every open, to prove each file is read once and nothing else is touched."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.opened: Counter[str] = Counter()

    def open(self, relpath: str) -> BinaryIO:
        self.opened[relpath] += 1
        return super().open(relpath)


class MemorySource(BagSource):
    """An object-store-like source: names and bytes, no directories, no symlinks."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.location = "memory://bag"

    def list_files(self) -> Iterator[tuple[str, int]]:
        return iter(sorted((path, len(data)) for path, data in self.files.items()))

    def open(self, relpath: str) -> BinaryIO:
        return io.BytesIO(self.files[relpath])


# --- the conformance suite -------------------------------------------------------------


@needs_suite
def test_suite_has_all_sixty_bags() -> None:
    assert len(suite_bags()) == 60


@needs_suite
@pytest.mark.parametrize("bag", suite_bags(), ids=lambda p: str(p.relative_to(SUITE)))
def test_suite_bag_verdict(bag: Path) -> None:
    report = validate_bag(bag)
    assert report.valid is expected_valid(bag), [f.message for f in report.errors]
    if bag.parent.name == "warning" and report.valid:
        assert report.warnings, "a warning/ bag that passes must say why it is doubtful"


@needs_suite
@pytest.mark.parametrize(
    ("bag", "kind"),
    [
        ("v1.0/invalid/bagit-with-invalid-whitespace", "structure"),
        ("v0.97/invalid/bom-in-bagit.txt", "encoding"),
        ("v0.97/invalid/corrupt-data-file", "corrupt"),
        ("v0.97/invalid/extra-file-in-bag", "extra"),
        ("v1.0/invalid/notAllManifestsListAllFiles", "extra"),
        ("v0.97/invalid/missing-baginfo", "missing"),
        ("v0.97/invalid/out-of-scope-file-paths-using-dot-notation", "unsafe_path"),
        ("v1.0/invalid/same-filename-listed-twice-with-the-same-hash", "duplicate_entry"),
        ("v0.97/windows-only/out-of-scope-file-paths-using-unc-for-fetch", "unsafe_path"),
        ("v0.97/warning/duplicate-file-with-different-case", "missing"),
    ],
)
def test_suite_bag_fails_for_the_right_reason(bag: str, kind: str) -> None:
    assert kind in validate_bag(SUITE / bag).kinds()


@needs_suite
@pytest.mark.parametrize(
    "bag",
    [
        "v0.97/warning/duplicate-file-with-different-case",
        "v0.97/warning/same-filename-listed-twice-with-different-normalization",
    ],
)
def test_case_and_normalisation_twins_are_named_in_a_warning(bag: str) -> None:
    report = validate_bag(SUITE / bag)
    assert [w.kind for w in report.warnings] == ["duplicate_entry"]
    assert " | " in (report.warnings[0].found or "")


@needs_suite
def test_special_system_files_is_valid_with_a_warning_once_ds_store_is_restored(tmp_path: Path) -> None:
    bag = copy_bag(SUITE / "v0.97/warning/special-system-files", tmp_path / "bag")
    (bag / "data/.DS_Store").write_bytes(b"")
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert {w.path for w in report.warnings if w.kind == "extra"} == {"data/.DS_Store", "data/Thumbs.db"}


@needs_suite
def test_encoded_names_are_literal_and_tag_encodings_are_honoured() -> None:
    report = validate_bag(SUITE / "v0.97/valid/bag-with-encoded-names")
    assert "data/%7Etest1.txt" in report.manifests["md5"]
    assert "data/~test1.txt" not in report.manifests["md5"]
    utf16 = validate_bag(SUITE / "v0.97/valid/UTF-16-encoded-tag-files")
    assert ("Payload-Oxum", "58.2") in utf16.bag_info


@needs_suite
def test_holey_bag_never_touches_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the validator tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    bag = copy_bag(SUITE / "v0.96/valid/holey-bag", tmp_path / "bag")
    assert validate_bag(bag).valid
    (bag / "data/test2.txt").unlink()
    assert "missing" in validate_bag(bag).kinds()


# --- a good bag, and agreement with bagit-python ----------------------------------------


def test_good_bag_is_valid_and_every_byte_is_checked(good_bag: Path) -> None:
    report = validate_bag(good_bag)
    assert report.valid and not report.errors and not report.warnings
    assert report.version == "1.0"
    assert set(report.manifests) == {"sha256", "sm3"}
    assert report.manifests["sm3"]["data/报告.txt"] == digest("sm3", GOOD_FILES["data/报告.txt"])
    assert report.files_checked == len(GOOD_FILES) + 4  # plus bagit.txt, bag-info.txt and two manifests
    assert report.bytes_checked >= sum(map(len, GOOD_FILES.values()))
    assert ("Source-Organization", "某某街道某某社区居委会") in report.bag_info


def test_bagit_python_agrees_on_a_fresh_bag(good_bag: Path) -> None:
    bagit = pytest.importorskip("bagit")
    assert bagit.Bag(str(good_bag)).is_valid() and validate_bag(good_bag).valid
    (good_bag / "data/报告.txt").write_bytes("社区居委会 2025 年工作报告\n".encode())
    assert not bagit.Bag(str(good_bag)).is_valid() and not validate_bag(good_bag).valid


def test_each_file_is_opened_exactly_once(good_bag: Path) -> None:
    source = CountingSource(good_bag)
    assert validate_bag(source).valid
    assert set(source.opened) == {path for path, _ in DirectorySource(good_bag).list_files()}
    assert set(source.opened.values()) == {1}


def test_a_non_directory_source_streams_the_same_checks(good_bag: Path) -> None:
    files = {path: (good_bag / path).read_bytes() for path, _ in DirectorySource(good_bag).list_files()}
    assert validate_bag(MemorySource(files)).valid
    files["data/scans/page-2.bin"] = b"\x01" + files["data/scans/page-2.bin"][1:]
    report = validate_bag(MemorySource(files))
    assert report.path == "memory://bag"
    assert [(f.kind, f.algorithm) for f in report.errors] == [("corrupt", "sha256"), ("corrupt", "sm3")]


# --- damage ----------------------------------------------------------------------------


def test_flipped_byte_is_corrupt_in_every_manifest(good_bag: Path) -> None:
    target = good_bag / "data/scans/page-2.bin"
    data = bytearray(target.read_bytes())
    data[BLOCK_BOUNDARY] ^= 0x01
    target.write_bytes(bytes(data))
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"corrupt": 2})
    sm3 = next(f for f in report.errors if f.algorithm == "sm3")
    assert sm3.path == "data/scans/page-2.bin"
    assert sm3.expected == digest("sm3", GOOD_FILES["data/scans/page-2.bin"])
    assert sm3.found == digest("sm3", bytes(data))


def test_truncated_file_breaks_oxum_and_checksums(good_bag: Path) -> None:
    target = good_bag / "data/scans/page 1.bin"
    target.write_bytes(target.read_bytes()[:-1])
    assert error_kinds(validate_bag(good_bag)) == Counter({"oxum": 1, "corrupt": 2})


@pytest.mark.parametrize("oxum", ["9" * 5000 + ".3", "3." + "9" * 5000, "0" * 5000 + "1.3"])
def test_payload_oxum_of_thousands_of_digits_is_a_finding_not_a_crash(good_bag: Path, oxum: str) -> None:
    """int() refuses more than 4,300 digits: a number is bounded before it is converted."""
    info = good_bag / "bag-info.txt"
    real = next(line for line in info.read_text(encoding="utf-8").splitlines() if line.startswith("Payload-Oxum"))
    info.write_text(info.read_text(encoding="utf-8").replace(real, f"Payload-Oxum: {oxum}"), encoding="utf-8")
    retag(good_bag)
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"oxum": 1})
    [finding] = report.errors
    assert len(finding.expected or "") < 100  # the report shows the start of it, not 5,000 digits


def test_payload_oxum_with_leading_zeros_still_matches(good_bag: Path) -> None:
    info = good_bag / "bag-info.txt"
    info.write_text(
        info.read_text(encoding="utf-8").replace("Payload-Oxum: ", "Payload-Oxum: " + "0" * 30), encoding="utf-8"
    )
    retag(good_bag)
    assert validate_bag(good_bag).valid


@pytest.mark.parametrize("length", ["9" * 5000, "²"])
def test_fetch_length_of_thousands_of_digits_or_not_ascii_is_malformed(good_bag: Path, length: str) -> None:
    (good_bag / "fetch.txt").write_text(f"https://example.org/x {length} data/x.bin\n", encoding="utf-8")
    retag(good_bag)
    report = validate_bag(good_bag, fast=True)
    assert any(f.code == "malformed_line" for f in [*report.errors, *report.warnings]), report.kinds()


def test_deleted_file_is_missing_from_every_manifest(good_bag: Path) -> None:
    (good_bag / "data/报告.txt").unlink()
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"oxum": 1, "missing": 2})
    assert {f.path for f in report.errors if f.kind == "missing"} == {"data/报告.txt"}


def test_extra_payload_file_is_reported(good_bag: Path) -> None:
    (good_bag / "data/scans/page-3.bin").write_bytes(b"late addition")
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"oxum": 1, "extra": 2})


def test_extra_tag_file_at_the_root_is_allowed(good_bag: Path) -> None:
    (good_bag / "debug").write_text("stray log\n")
    assert validate_bag(good_bag).valid


def test_symlink_in_payload_is_reported_and_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not part of any bag")
    bag = build_bag(tmp_path / "bag")
    (bag / "data/link.txt").symlink_to(secret)
    append_line(bag, "manifest-sha256.txt", f"{digest('sha256', secret.read_bytes())}  data/link.txt")
    source = CountingSource(bag)
    report = validate_bag(source)
    assert {"symlink", "missing"} <= report.kinds()
    assert "data/link.txt" not in source.opened
    with pytest.raises(BagError):
        source.open("data/link.txt")


def test_symlinked_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(b"outside")
    bag = build_bag(tmp_path / "bag")
    (bag / "data/more").symlink_to(outside, target_is_directory=True)
    assert "symlink" in validate_bag(bag).kinds()
    with pytest.raises(BagError):
        DirectorySource(bag).open("data/more/x")


def test_sibling_bag_evil_cannot_be_reached(tmp_path: Path) -> None:
    evil = tmp_path / "bag-evil"
    evil.mkdir()
    (evil / "x").write_bytes(b"evil payload")
    bag = build_bag(tmp_path / "bag")
    append_line(bag, "manifest-sha256.txt", f"{digest('sha256', b'evil payload')}  ../bag-evil/x")
    source = CountingSource(bag)
    report = validate_bag(source)
    unsafe = [f for f in report.errors if f.kind == "unsafe_path"]
    assert [f.path for f in unsafe] == ["../bag-evil/x"]
    assert unsafe[0].message.startswith("manifest-sha256.txt 中的路径越出包目录 (path escapes the bag")
    assert not any("evil" in path for path in source.opened)
    with pytest.raises(BagError):
        source.open("../bag-evil/x")


def test_absolute_path_in_manifest_is_unsafe(good_bag: Path) -> None:
    append_line(good_bag, "manifest-sm3.txt", f"{'0' * 64}  /etc/passwd")
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"unsafe_path": 1})


@pytest.mark.parametrize(("version", "valid"), [("1.0", False), ("0.97", True)])
def test_same_path_twice_with_same_digest(tmp_path: Path, version: str, valid: bool) -> None:
    bag = build_bag(tmp_path / "bag", version=version)
    line = (bag / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines()[0]
    append_line(bag, "manifest-sha256.txt", line)
    report = validate_bag(bag)
    assert report.valid is valid
    assert [f.kind for f in report.errors + report.warnings] == ["duplicate_entry"]


def test_same_path_twice_with_different_digests_is_invalid(tmp_path: Path) -> None:
    bag = build_bag(tmp_path / "bag", version="0.97")
    append_line(bag, "manifest-sha256.txt", f"{'a' * 64}  data/报告.txt")
    report = validate_bag(bag)
    assert error_kinds(report) == Counter({"duplicate_entry": 1})
    assert report.errors[0].found == "a" * 64


def test_bom_in_bagit_txt_is_invalid(good_bag: Path) -> None:
    (good_bag / "bagit.txt").write_bytes(b"\xef\xbb\xbf" + (good_bag / "bagit.txt").read_bytes())
    retag(good_bag)
    assert error_kinds(validate_bag(good_bag)) == Counter({"encoding": 1})


def test_whitespace_before_colon_is_invalid(good_bag: Path) -> None:
    (good_bag / "bagit.txt").write_bytes(b"BagIt-Version : 1.0\nTag-File-Character-Encoding : UTF-8\n")
    retag(good_bag)
    report = validate_bag(good_bag)
    assert error_kinds(report) == Counter({"structure": 2})
    assert report.version == "1.0"  # read loosely so the other checks still ran
    assert report.files_checked == len(GOOD_FILES) + 4


def test_unsupported_algorithm_is_a_finding_not_a_skip(good_bag: Path) -> None:
    (good_bag / "manifest-foo.txt").write_text(f"abc123  {next(iter(GOOD_FILES))}\n", encoding="utf-8")
    retag(good_bag)
    report = validate_bag(good_bag)
    unsupported = [f for f in report.errors if f.kind == "unsupported_algorithm"]
    assert [(f.path, f.algorithm) for f in unsupported] == [("manifest-foo.txt", "foo")]
    assert "extra" in report.kinds()  # manifest-foo.txt still has to list every payload file


def test_required_algorithms(good_bag: Path) -> None:
    assert validate_bag(good_bag, algorithms=["sha256", "SM3"]).valid
    (good_bag / "manifest-sm3.txt").unlink()
    retag(good_bag)
    report = validate_bag(good_bag, algorithms=["sm3"])
    assert [(f.kind, f.algorithm) for f in report.errors] == [("structure", "sm3")]
    with pytest.raises(UsageError):
        validate_bag(good_bag, algorithms=["crc32"])


def test_fast_mode_skips_checksums_only(good_bag: Path) -> None:
    (good_bag / "data/报告.txt").write_bytes("社区居委会 2099 年工作报告\n".encode())
    report = validate_bag(good_bag, fast=True)
    assert report.valid and report.files_checked == 0
    (good_bag / "data/scans/page-2.bin").unlink()
    assert {"missing", "oxum"} == validate_bag(good_bag, fast=True).kinds()


def test_every_finding_is_collected(tmp_path: Path) -> None:
    bag = build_bag(tmp_path / "bag", algorithms=("sha256",))
    for number in range(1500):
        (bag / f"data/stray-{number:04}.txt").write_bytes(b"x")
    (bag / "data/报告.txt").write_bytes(b"changed")
    report = validate_bag(bag)
    assert error_kinds(report) == Counter({"extra": 1500, "oxum": 1, "corrupt": 1})


def test_missing_bagit_txt_and_data_dir_and_manifests(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "bag-info.txt").write_text("Payload-Oxum: 0.0\n")
    report = validate_bag(bag)
    assert [f.code for f in report.errors] == ["bagit_missing", "no_data_dir", "no_manifest"]


def test_fifo_is_reported_and_never_opened(good_bag: Path) -> None:
    os.mkfifo(good_bag / "data/pipe")
    report = validate_bag(good_bag)
    assert [f.code for f in report.errors] == ["irregular"]
    with pytest.raises(BagError):
        DirectorySource(good_bag).open("data/pipe")


def test_not_a_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(BagError):
        validate_bag(tmp_path / "nope")


def test_unreadable_payload_folder_is_a_finding(good_bag: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if path.endswith("scans"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = validate_bag(good_bag)
    assert ("irregular", "data/scans") in {(f.code, f.path) for f in report.errors}
    assert "missing" in report.kinds()


def test_payload_names_that_collide_on_macos_warn(tmp_path: Path) -> None:
    bag = build_bag(tmp_path / "bag", {"data/a.txt": b"1", "data/A.txt": b"2"})
    report = validate_bag(bag)
    assert report.valid
    assert [w.code for w in report.warnings] == ["name_collision"]


# --- parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        b"BagIt-Version: 1.0\r\nTag-File-Character-Encoding: UTF-8\r\n",
        b"BagIt-Version: 1.0\rTag-File-Character-Encoding: UTF-8\r",
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8",
    ],
)
def test_parse_bagit_txt_accepts_any_line_ending(data: bytes) -> None:
    assert parse_bagit_txt(data) == ("1.0", "UTF-8")


@pytest.mark.parametrize(
    "data",
    [
        b"BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n",
        b"BagIt-Version: 1.0 \nTag-File-Character-Encoding: UTF-8\n",
        b"\xef\xbb\xbfBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        b"BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n",
        b"BagIt-Version: 9.9\nTag-File-Character-Encoding: UTF-8\n",
        b"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n\n",
        b"BagIt-Version: 1.0\n",
        b"",
    ],
)
def test_parse_bagit_txt_is_strict(data: bytes) -> None:
    with pytest.raises(BagError):
        parse_bagit_txt(data)


def test_parse_tag_file_keeps_repeats_separators_and_continuations() -> None:
    data = b"Test-Tag: 1\nTest-Tag : 2\nTest-Tag    :   3\nExternal-Description: one\n   two\r\n\nB: x:y"
    assert parse_tag_file(data, "UTF-8") == [
        ("Test-Tag", "1"),
        ("Test-Tag", "2"),
        ("Test-Tag", "3"),
        ("External-Description", "one two"),
        ("B", "x:y"),
    ]
    with pytest.raises(BagError):
        parse_tag_file(b"no colon here\n", "UTF-8")


def test_parse_tag_file_decodes_declared_encodings() -> None:
    assert parse_tag_file("题名: 会议纪要\n".encode("utf-16"), "UTF-16") == [("题名", "会议纪要")]
    assert parse_tag_file("Contact-Name: José\n".encode("latin-1"), "ISO-8859-1") == [("Contact-Name", "José")]


def test_parse_manifest_normalises_and_warns() -> None:
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    data = f"{md5}  ./data/a\n{md5.upper()} *data/b\n{md5}  data/%7Ec%25d%0Ae\n".encode()
    findings: list = []
    entries = parse_manifest(data, "UTF-8", "md5", findings=findings)
    assert entries == {"data/a": md5, "data/b": md5, "data/%7Ec%d\ne": md5}
    assert [(f.code, f.severity) for f in findings] == [("non_canonical", "warning"), ("md5sum_marker", "warning")]


@pytest.mark.parametrize(
    "path",
    [
        "/tmp/foo",
        "~/foo",
        "~root/foo",
        "../bag-evil/x",
        "data/../../x",
        "data/..",
        "\\.\\./\\.\\./README.md",
        "C:\\Windows\\System32\\setx.exe",
        "C:/Windows/setx.exe",
        "%HomeDrive%\\Windows\\setx.exe",
        "%HomeDrive%/x",
        "\\\\?\\UNC\\server\\share\\x",
        "data/a\x00b",
        "./",
        "%2e%2e/x/%2E%2E/../y",
    ],
)
def test_parse_manifest_rejects_unsafe_paths(path: str) -> None:
    data = f"{'0' * 64}  {path}\n".encode()
    findings: list = []
    assert parse_manifest(data, "UTF-8", "sha256", findings=findings) == {}
    assert [f.kind for f in findings] == ["unsafe_path"]
    with pytest.raises(BagError):
        parse_manifest(data, "UTF-8", "sha256")


def test_parse_manifest_keeps_safe_lookalikes() -> None:
    data = f"{'0' * 64}  data/..hidden/x...y\n{'1' * 64}  data/%2e%2e\n".encode()
    assert set(parse_manifest(data, "UTF-8", "sha256")) == {"data/..hidden/x...y", "data/%2e%2e"}


def test_parse_manifest_rejects_malformed_digests() -> None:
    with pytest.raises(BagError, match="malformed sha256 digest"):
        parse_manifest(b"abc  data/x\n", "UTF-8", "sha256")
    with pytest.raises(BagError, match="malformed line"):
        parse_manifest(b"lonelydigest\n", "UTF-8", "sha256")


def test_parse_fetch_never_fetches_and_checks_targets() -> None:
    data = b"http://localhost:8989/a - data/a.txt\nhttps://x.example/b 12 data/b c.txt\n"
    entries = parse_fetch(data, "UTF-8")
    assert [(e.length, e.path) for e in entries] == [(None, "data/a.txt"), (12, "data/b c.txt")]
    for bad in (b"https://x - ../../../README.md\n", b"https://x - bagit.txt\n", b"https://x ten data/a\n"):
        with pytest.raises(BagError):
            parse_fetch(bad, "UTF-8")
