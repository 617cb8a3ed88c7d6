"""An exact pruning index over fido's PRONOM signatures, so that a file is matched against a few formats.

fido's ``match_formats`` runs every regex of every one of its ~2,250 formats against each file, which
costs ~10 ms a file. Most signatures can only match when a known literal sits at a known place: PNG's
``\\x89PNG`` at offset 0, QuickTime's ``moov`` at offset 4, ``<?xml`` somewhere in the first few bytes.
:class:`SignatureIndex` reads those necessary literals out of fido's own regexes once per process and
hands back, for a given pair of buffers, only the formats whose signatures could still match.

The index only ever removes formats that provably cannot match, in fido's own order, and
:class:`IndexedFido` then runs fido's unmodified ``match_formats`` (its regexes, its ``has_priority_over``
and ``as_good_as_any`` rules) over what is left. A format that cannot match never enters fido's result
list, so leaving it out cannot change that list. Whatever the analysis does not understand falls back to
"always check", which costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fido.fido import Fido

from ingest import _pronom_regex
from ingest._pronom_regex import Need, analyse

__all__ = ["IndexedFido", "SignatureIndex"]

_KEY_LENGTH = 4  # bytes of a fixed-offset literal used to route a file through a hash table
_SEARCHED = {"VAR": "bof", "IFB": "bof", "EOF": "eof"}  # positions fido matches with re.search
# Rough timings (CPython 3.11, one core), only used to choose which literals to test for.
_FIND_NS_PER_BYTE = 3.2  # bytes.find, divided by the needle's length: longer needles skip further
_CALL_US = 0.2  # one bytes.find call
_REGEX_US = 2.0  # fido running a regex that looks at a few bytes
_REGEX_NS_PER_BYTE = 0.9  # ... and one that scans (re.search, or .* in re.match)
_BUFFER = 128 * 1024  # fido's default buffer size
_MAX_TESTS = 5  # checks per signature: one to route a file to it, the rest to weed out


@dataclass(frozen=True)
class _At:
    """Test: the BOF buffer holds one of ``keys`` (each ``width`` bytes long) at ``offset``."""

    offset: int
    width: int
    keys: frozenset[bytes]


@dataclass(frozen=True)
class _Find:
    """Test: some ``(string, start, end)`` of ``spans`` has ``buffer.find(string, start, end) >= 0``.

    ``start`` and ``end`` follow slice rules, so negative ones count from the buffer's end.
    """

    buffer: str  # "bof" or "eof"
    spans: tuple[tuple[bytes, int, int | None], ...]


_Test = _At | _Find


# --- the checks for one signature ----------------------------------------------------------


def _test(need: Need, position: str) -> _Test:
    """Turn a need into the cheapest check that every match at that position passes."""
    buffer = _SEARCHED.get(position, "bof")
    if need.from_end:  # the match ends at the buffer's end, under re.match and re.search alike
        spans = tuple((s, 0 if need.hi is None else -(need.hi + len(s)), -need.lo or None) for s in need.strings)
    elif position != "BOF":  # re.search: the match may start anywhere
        spans = tuple((s, 0, None) for s in need.strings)
    elif need.lo == need.hi:
        width = min(map(len, need.strings))
        return _At(need.lo, width, frozenset(s[:width] for s in need.strings))
    else:  # re.match at 0: the literal starts within [lo, hi]
        spans = tuple((s, need.lo, None if need.hi is None else need.hi + len(s)) for s in need.strings)
    return _Find(buffer, tuple(sorted(spans, key=lambda span: span[0])))


def _scan_us(test: _Test) -> float:
    """A rough price of running a test, in microseconds."""
    if isinstance(test, _At):
        return 0.0
    return sum(
        _window(span) * _FIND_NS_PER_BYTE / min(max(len(span[0]), 3), 12) / 1000 + _CALL_US for span in test.spans
    )


def _pass_rate(test: _Test) -> float:
    """How often a test lets an unrelated file through. Real files are far from random (zeros,
    ASCII), so a byte counts as 5 bits of evidence, not 8, and no literal as more than six."""
    if isinstance(test, _At):
        return min(1.0, len(test.keys) * 32.0 ** -min(test.width, 6))
    return min(1.0, sum(_window(span) * 32.0 ** -min(len(span[0]), 6) for span in test.spans))


def _window(span: tuple[bytes, int, int | None]) -> int:
    """How many bytes a find over this span reads, taking a buffer to be fido's 128 KiB."""
    _, start, end = span
    start = start if start >= 0 else _BUFFER + start
    end = _BUFFER if end is None else (end if end >= 0 else _BUFFER + end)
    return max(end - start, 0)


def _regex_us(position: str, span: int | None) -> float:
    """A rough price of fido running one pattern: re.search scans the buffer, re.match as far
    as the match may reach."""
    reach = _BUFFER if position in _SEARCHED or span is None else min(span, _BUFFER)
    return _REGEX_US + reach * _REGEX_NS_PER_BYTE / 1000


def signature_offers(fido: Fido, signature: Any) -> tuple[set[_Test], float]:
    """Checks that every match of this signature passes, and the rough price of its regexes.

    fido requires every pattern of a signature to match, so a necessary check of any one
    pattern is a necessary check of the whole signature, and so is any conjunction of them.
    """
    tests: set[_Test] = set()
    regex_us = 0.0
    for pattern in fido.get_patterns(signature):
        position = fido.get_pos(pattern)
        if position != "BOF" and position not in _SEARCHED:
            continue  # fido ignores other positions
        try:
            found, span = analyse(fido.get_regex(pattern))
        # Any regex this analysis cannot follow (or that fido itself will fail on) simply
        # gives no shortcut: the signature is then checked on every file, as fido would.
        except Exception:  # noqa: BLE001
            continue
        regex_us += _regex_us(position, span)
        tests.update(_test(need, position) for need in found)
    return tests, regex_us


def choose(tests: set[_Test], regex_us: float, shared: Counter[_Test]) -> tuple[_Test, ...]:
    """The checks to run for one signature, best first; () when it has none.

    The first check routes a file to the signature and runs on every file; the rest run only
    then, and weed out files that merely share a common literal (a PDF ends in ``EOF`` as a DXF
    drawing does) as long as they cost less than the regexes they spare. So a cheap, loose first
    check backed by a dear, strict second one can beat the strict one alone. A check that
    ``shared`` says several signatures offer runs once per file for all, so costs each a share.
    """
    alone = {test: _scan_us(test) / shared[test] + _pass_rate(test) * regex_us for test in tests}
    ranked = sorted(tests, key=lambda test: (alone[test], repr(test)))

    def routed(test: _Test) -> float:  # the price if ``test`` goes first, the best other second
        backup = next((alone[other] for other in ranked if other != test), regex_us)
        return _scan_us(test) / shared[test] + _pass_rate(test) * min(backup, regex_us)

    first = min(ranked, key=routed, default=None)
    if first is None:
        return ()
    rest = [test for test in ranked if test != first and _scan_us(test) / shared[test] <= regex_us / 2]
    return (first, *rest[: _MAX_TESTS - 1])


# --- the index -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One signature as the index sees it: its format's place in fido's list, and the checks
    still to pass once the first one routed a file here."""

    number: int
    rest: tuple[_Test, ...]


class SignatureIndex:
    """Which of fido's formats could match a pair of buffers; built once from ``fido.formats``.

    Formats without signatures are left out: fido's loop over their (no) signatures adds nothing.
    """

    def __init__(self, fido: Fido, cache_dir: Path | None = None) -> None:
        self.formats: list[Any] = list(fido.formats)
        self._at: dict[tuple[int, int], dict[bytes, list[_Entry]]] = {}
        self._finds: dict[_Find, list[_Entry]] = {}
        self._always: list[_Entry] = []
        for number, tests in _cached_plan(fido, cache_dir) if cache_dir else plan(fido):
            self._add(number, tests)
        self._at_tables = sorted(self._at.items(), key=lambda item: item[0])
        self._find_list = [(test.buffer == "eof", test.spans, entries) for test, entries in self._finds.items()]

    def _add(self, number: int, tests: tuple[_Test, ...]) -> None:
        if not tests:
            self._always.append(_Entry(number, ()))
            return
        first, entry = tests[0], _Entry(number, tests[1:])
        if isinstance(first, _At) and first.width > _KEY_LENGTH:  # route on a short key, then check it all
            entry = _Entry(number, tests)
            first = _At(first.offset, _KEY_LENGTH, frozenset(key[:_KEY_LENGTH] for key in first.keys))
        if isinstance(first, _At):
            table = self._at.setdefault((first.offset, first.width), {})
            for key in first.keys:
                table.setdefault(key, []).append(entry)
        else:
            self._finds.setdefault(first, []).append(entry)

    def candidates(self, bofbuffer: bytes, eofbuffer: bytes) -> list[Any]:
        """Every format that could match, in fido's order."""
        routed = list(self._always)
        for (offset, width), table in self._at_tables:
            routed += table.get(bofbuffer[offset : offset + width], ())
        for from_eof, spans, entries in self._find_list:  # the hot loop: kept flat
            buffer = eofbuffer if from_eof else bofbuffer
            for string, start, end in spans:
                if buffer.find(string, start, end) >= 0:
                    routed += entries
                    break
        found: set[int] = set()
        memo: dict[_Test, bool] = {}
        for entry in routed:
            if entry.number not in found and all(_remembered(t, bofbuffer, eofbuffer, memo) for t in entry.rest):
                found.add(entry.number)
        return [self.formats[number] for number in sorted(found)]


def plan(fido: Fido) -> list[tuple[int, tuple[_Test, ...]]]:
    """The checks chosen for every signature, as (format number, checks); the slow part (~1.5 s)."""
    offers = [
        (number, *signature_offers(fido, signature))
        for number, fmt in enumerate(fido.formats)
        for signature in fido.get_signatures(fmt)
    ]
    shared = Counter(test for _, tests, _ in offers for test in tests)
    return [(number, choose(tests, regex_us, shared)) for number, tests, regex_us in offers]


def _cached_plan(fido: Fido, cache_dir: Path) -> list[tuple[int, tuple[_Test, ...]]]:
    """:func:`plan`, kept in ``cache_dir`` as JSON under a digest of everything it is computed from:
    every signature fido holds, pattern by pattern (format number, position, regex), the source of
    this module and of :mod:`ingest._pronom_regex`, and the Python that parses the regexes. Other
    signatures or another analysis give another digest, so a kept plan is never applied to inputs
    it was not made from. JSON, not pickle: reading the cache runs no code. A file not owned by
    this user, or not of the plan's shape, is ignored and the plan recomputed; an unwritable cache
    is skipped.
    """
    sources = Path(__file__).read_bytes() + Path(_pronom_regex.__file__).read_bytes()
    key = hashlib.sha256(sources + sys.version.encode())  # re._parser is CPython's
    for number, fmt in enumerate(fido.formats):
        for signature in fido.get_signatures(fmt):
            key.update(b"\0")  # where one signature ends: the plan has an entry per signature
            for pattern in fido.get_patterns(signature):
                key.update(repr((number, fido.get_pos(pattern), fido.get_regex(pattern))).encode())
    path = cache_dir / f"pronom-plan-{key.hexdigest()[:32]}.json"
    try:
        if path.stat().st_uid == os.getuid():
            return _plan_from_json(json.loads(path.read_bytes()), len(fido.formats))
    except (OSError, ValueError, TypeError, KeyError):
        pass
    computed = plan(fido)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp.write_text(json.dumps(_plan_to_json(computed)), encoding="utf-8")
        os.replace(tmp, path)  # whole or not at all: concurrent processes may race to write it
    except OSError:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
    return computed


def _plan_to_json(computed: list[tuple[int, tuple[_Test, ...]]]) -> list[list[Any]]:
    def test(t: _Test) -> list[Any]:
        if isinstance(t, _At):
            return ["at", t.offset, t.width, sorted(k.hex() for k in t.keys)]
        return ["find", t.buffer, [[s.hex(), start, end] for s, start, end in t.spans]]

    return [[number, [test(t) for t in tests]] for number, tests in computed]


def _plan_from_json(data: Any, formats: int) -> list[tuple[int, tuple[_Test, ...]]]:
    """The plan from its JSON form; ValueError (or TypeError/KeyError) for anything not of its shape."""

    def test(t: list[Any]) -> _Test:
        if t[0] == "at" and len(t) == 4:
            keys = frozenset(bytes.fromhex(k) for k in t[3])
            if not all(isinstance(v, int) for v in t[1:3]) or any(len(k) != t[2] for k in keys):
                raise ValueError("bad at-test")
            return _At(t[1], t[2], keys)
        if t[0] == "find" and len(t) == 3 and t[1] in ("bof", "eof"):
            spans = tuple((bytes.fromhex(h), int(a), None if b is None else int(b)) for h, a, b in t[2])
            return _Find(t[1], spans)
        raise ValueError("unknown test")

    out = []
    for number, tests in data:
        if not isinstance(number, int) or not 0 <= number < formats:
            raise ValueError("format number out of range")
        out.append((number, tuple(test(t) for t in tests)))
    return out


def _passes(test: _Test, bofbuffer: bytes, eofbuffer: bytes) -> bool:
    if isinstance(test, _At):
        return bofbuffer[test.offset : test.offset + test.width] in test.keys
    buffer = bofbuffer if test.buffer == "bof" else eofbuffer
    return any(buffer.find(string, start, end) >= 0 for string, start, end in test.spans)


def _remembered(test: _Test, bofbuffer: bytes, eofbuffer: bytes, memo: dict[_Test, bool]) -> bool:
    """Signatures of one family share checks; each is run once per file."""
    if test not in memo:
        memo[test] = _passes(test, bofbuffer, eofbuffer)
    return memo[test]


class IndexedFido(Fido):
    """fido whose matching first narrows ``self.formats`` to the formats that could match.

    ``match_formats`` gets the index's candidates, ``match_extensions`` the formats that list
    the file's extension; both then run fido's own code. Callers serialise use (fido keeps
    the current file on the instance anyway), so swapping ``formats`` for one call is safe.
    ``exhaustive`` restores plain fido.
    """

    def __init__(self, cache_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = SignatureIndex(self, cache_dir)
        self._by_extension: dict[str, list[Any]] = {}
        for fmt in self.formats:
            for text in dict.fromkeys(e.text for e in fmt.findall("extension") if isinstance(e.text, str)):
                self._by_extension.setdefault(text, []).append(fmt)
        self.exhaustive = False
        self.checked = 0  # formats handed to fido's match_formats last time, for measurements

    def match_formats(self, bofbuffer: bytes, eofbuffer: bytes) -> list[tuple[Any, str]]:
        """fido's own matching, over the formats that could match."""
        candidates = self.formats if self.exhaustive else self.index.candidates(bofbuffer, eofbuffer)
        self.checked = len(candidates)
        return self._over(candidates, super().match_formats, bofbuffer, eofbuffer)

    def match_extensions(self, filename: str) -> list[tuple[Any, str]]:
        """fido's own extension matching, over the formats listing this extension (same test as fido's)."""
        extension = os.path.splitext(filename)[1].lower().lstrip(".")
        candidates = self.formats if self.exhaustive else self._by_extension.get(extension, [])
        return self._over(candidates, super().match_extensions, filename)

    def _over(self, formats: list[Any], match: Callable[..., list[tuple[Any, str]]], *args: Any) -> Any:
        """Run one of fido's matchers with ``self.formats`` narrowed to ``formats``."""
        every, self.formats = self.formats, formats
        try:
            return match(*args)
        finally:
            self.formats = every
