"""What one of fido's PRONOM regexes needs: the literals every match contains, and where.

:func:`analyse` reads a regex with CPython's own parser (``re._parser``), so the reading is the
one ``re`` itself uses; whatever it does not understand yields no need, which :mod:`ingest._pronom`
treats as "always check".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]  # CPython's own regex parser: the
from re import _parser as sre_parse  # type: ignore[attr-defined]  # one truth about what a regex means
from typing import Any

_MAX_ALTERNATIVES = 64  # literal sets grow by cross product (RIF[FX], [0-7]); beyond this, stop growing
_UNIT_OPS = (sre.ANY, sre.IN, sre.LITERAL, sre.NOT_LITERAL)
_MAX_LITERAL = 16  # bytes; a longer literal is no more selective


@dataclass(frozen=True)
class Need:
    """A necessary condition of one regex: every match contains one of ``strings``.

    Counted from the match start, a string starts ``lo``..``hi`` bytes in; with ``from_end`` (the
    regex ends in ``\\Z``, so the match ends where the buffer does) a string ends ``lo``..``hi``
    bytes before the end. ``hi`` None: unbounded.
    """

    lo: int
    hi: int | None
    strings: frozenset[bytes]
    from_end: bool = False


def _literals(op: Any, av: Any) -> tuple[set[bytes], bool]:
    """The literal strings one parsed item can match: (a set every match starts with, exact?).

    Exact means the item matches precisely those strings, so neighbouring literals may be joined on.
    """
    if op is sre.LITERAL:
        return {bytes([av])}, True
    if op is sre.IN:
        return _class_literals(av)
    if op is sre.SUBPATTERN and not av[1] & re.IGNORECASE:  # (group, add_flags, del_flags, pattern)
        return _sequence_literals(av[-1])
    if op is sre.BRANCH:
        found: set[bytes] = set()
        exact = True
        for alternative in av[1]:
            strings, alt_exact = _sequence_literals(alternative)
            found |= strings
            exact = exact and alt_exact
        return (found, exact) if len(found) <= _MAX_ALTERNATIVES else ({b""}, False)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
        strings, exact = _sequence_literals(av[2], repeat=av[0])
        return strings, exact and av[0] == av[1]
    return {b""}, False


def _class_literals(items: Sequence[tuple[Any, Any]]) -> tuple[set[bytes], bool]:
    """A character class of plain bytes and small ranges ([\\x01-\\x04]) is a set of one-byte strings."""
    found: set[bytes] = set()
    for op, av in items:
        if op is sre.LITERAL:
            found.add(bytes([av]))
        elif op is sre.RANGE and av[1] - av[0] < _MAX_ALTERNATIVES:
            found.update(bytes([c]) for c in range(av[0], av[1] + 1))
        else:  # NEGATE, CATEGORY, big ranges
            return {b""}, False
    return found, True


def _sequence_literals(items: Iterable[tuple[Any, Any]], repeat: int = 1) -> tuple[set[bytes], bool]:
    """The literal strings a sequence starts with, ``repeat`` times over: (set, exact?)."""
    found = {b""}
    for _ in range(repeat):
        for op, av in items:
            if _zero_width(op):
                continue
            strings, exact = _literals(op, av)
            grown = {a + b for a in found for b in strings}
            if len(grown) > _MAX_ALTERNATIVES:
                return found, False
            found = grown
            if not exact:
                return found, False
    return found, True


def _zero_width(op: Any) -> bool:
    """Anchors and look-arounds consume nothing, so literals on either side stay adjacent."""
    return op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def _advance(at: tuple[int, int | None], state: Any, op: Any, av: Any) -> tuple[int, int | None]:
    """Move the window of possible offsets past one item, by the (min, max) bytes it consumes."""
    lo, hi = (1, 1) if op in _UNIT_OPS else sre_parse.SubPattern(state, [(op, av)]).getwidth()
    if at[1] is None or hi >= sre.MAXREPEAT:
        return at[0] + lo, None
    return at[0] + lo, at[1] + hi


class _Walk:
    """One pass over the top level of a parsed regex, forwards from its start or backwards from its end.

    Two kinds of literal are collected: ``run``, the cross product of adjacent exact items
    (``RIF`` + ``[FX]``), and ``word``, adjacent plain bytes only, one string that is cheap to find.
    Neither grows past ``_MAX_LITERAL`` bytes: longer says no more, and costs time to build.
    """

    def __init__(self, state: Any, from_end: bool) -> None:
        self.state, self.from_end = state, from_end
        self.found: list[Need] = []
        self.at: tuple[int, int | None] = (0, 0)
        self.run, self.run_at, self.run_full = {b""}, self.at, False
        self.word, self.word_at = b"", self.at

    def item(self, op: Any, av: Any) -> None:
        if op is sre.LITERAL and self.run_full and len(self.word) >= _MAX_LITERAL:
            self.at = (self.at[0] + 1, None if self.at[1] is None else self.at[1] + 1)
            return  # long literals (some run to hundreds of bytes) teach nothing more
        strings, exact = _literals(op, av)
        if not exact:
            self._close_run(strings)
        elif not self.run_full:
            joined = {self._join(a, b) for a in self.run for b in strings}
            if len(joined) <= _MAX_ALTERNATIVES:
                self.run, self.run_full = joined, min(map(len, joined)) >= _MAX_LITERAL
            else:
                self._close_run(strings)
        if op is not sre.LITERAL:
            self._emit({self.word}, self.word_at)
            self.word = b""
        elif len(self.word) < _MAX_LITERAL:
            self.word = self._join(self.word, bytes([av]))
        self.at = _advance(self.at, self.state, op, av)
        if self.run == {b""}:
            self.run_at = self.at
        if not self.word:
            self.word_at = self.at

    def finish(self) -> list[Need]:
        self._emit(self.run, self.run_at)
        self._emit({self.word}, self.word_at)
        return self.found

    def _close_run(self, prefixes: set[bytes]) -> None:
        """End the run before this item; what the item itself starts with is a need of its own."""
        self._emit(self.run, self.run_at)
        if not self.from_end:  # a prefix set is of no use read backwards
            self._emit(prefixes, self.at)
        self.run, self.run_full = {b""}, False

    def _join(self, sofar: bytes, more: bytes) -> bytes:
        return more + sofar if self.from_end else sofar + more

    def _emit(self, strings: set[bytes], at: tuple[int, int | None]) -> None:
        if b"" not in strings:
            self.found.append(Need(at[0], at[1], frozenset(strings), self.from_end))


def analyse(regex: bytes) -> tuple[list[Need], int | None]:
    """Literals any match of ``regex`` must contain and where they sit in the match; and the most
    bytes a match can span (None: unbounded), which prices running the regex.

    Walks the top level of the parsed regex: runs of literal items (with small classes and
    alternations) become needs; every other item only widens the window of possible offsets.
    A regex ending in ``\\Z`` is also walked backwards from the end of the buffer.
    """
    parsed = sre_parse.parse(regex)
    span = parsed.getwidth()[1]
    span_or_none = None if span >= sre.MAXREPEAT else span
    if parsed.state.flags & re.IGNORECASE:
        return [], span_or_none
    items = [(op, av) for op, av in parsed if not _zero_width(op)]
    walks = [_Walk(parsed.state, from_end=False)]
    if parsed.data and parsed.data[-1] == (sre.AT, sre.AT_END_STRING):
        walks.append(_Walk(parsed.state, from_end=True))
    for walk in walks:
        for op, av in reversed(items) if walk.from_end else items:
            walk.item(op, av)
    return [need for walk in walks for need in walk.finish()], span_or_none
