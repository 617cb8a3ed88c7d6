"""同义词 (synonyms): the editable list that expands query terms, shared by both backends.

The bundled ``synonyms.txt`` holds common community-affairs pairs (低保 = 最低生活保障 …); an
archive adds its own with ``load_synonyms(extra_path=...)``. Groups are equivalence classes:
a term equal to any member finds every member.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from archive.i18n import _
from search.errors import SearchConfigError
from search.text import fold, searchable

BUNDLED = Path(__file__).with_name("synonyms.txt")
_SEPARATORS = re.compile(r"[\s=]+")

Synonyms = Mapping[str, tuple[str, ...]]


def parse_synonyms(text: str, *, source: str = "<text>") -> list[tuple[str, ...]]:
    """Read groups from synonym-file text: one group per line, ``#`` starts a comment."""
    groups: list[tuple[str, ...]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        members = tuple(dict.fromkeys(m for m in (searchable(fold(w)) for w in _SEPARATORS.split(line)) if m))
        if len(members) < 2:
            raise SearchConfigError(
                _("同义词表第 {line} 行只有一个词, 至少需要两个").format(line=lineno),
                path=f"{source}:{lineno}",
            )
        groups.append(members)
    return groups


def merge_groups(groups: list[tuple[str, ...]]) -> Synonyms:
    """Join groups that share a word (低保 in two lines makes one class) into a lookup table."""
    classes: dict[str, set[str]] = {}
    for group in groups:
        merged = set(group)
        for word in group:
            merged |= classes.get(word, set())
        for word in merged:
            classes[word] = merged
    return MappingProxyType({w: tuple(sorted(members - {w})) for w, members in classes.items()})


@lru_cache(maxsize=8)
def _load(extra: str | None, mtime_ns: int) -> Synonyms:
    groups = parse_synonyms(BUNDLED.read_text(encoding="utf-8"), source=str(BUNDLED))
    if extra is not None:
        path = Path(extra)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SearchConfigError(
                _("无法读取同义词表 (须为 UTF-8 文本): {reason}").format(reason=exc), path=str(path)
            ) from exc
        groups += parse_synonyms(text, source=str(path))
    return merge_groups(groups)


def load_synonyms(extra_path: str | Path | None = None) -> Synonyms:
    """The bundled synonym table, plus the groups of ``extra_path`` (an archive's own file) if given.

    Returns a read-only mapping from a folded word to its alternatives (itself excluded).
    """
    if extra_path is None:
        return _load(None, 0)
    path = Path(extra_path).resolve()
    try:
        mtime_ns = path.stat().st_mtime_ns  # an edited file is read again, not served from the cache
    except OSError:
        mtime_ns = -1
    return _load(str(path), mtime_ns)
