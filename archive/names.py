"""派生文件名 (derived names): names the archive makes from an original file name stay within the limits
of a file system (255 bytes per path component on ext4, XFS, Btrfs) however long the original is.

An original name may itself be 255 bytes, so adding ``.txt`` or ``.part`` to it makes a name the
file system refuses. A derived name that would be too long keeps the start of the name, cut at a
character boundary, then ``~`` and a digest of the whole original name, then the original's
extension and the derived suffix: deterministic, distinct per original, and recognisable. A name
that fits is left exactly as before, so existing AIPs keep their layout.
"""

from __future__ import annotations

import hashlib
import os

NAME_MAX = 255  # bytes in one path component (ext4, XFS, Btrfs; tmpfs)
DIGEST_CHARS = 16  # hex digits of SHA-256 that tell two long names apart
EXTENSION_MAX = 16  # bytes of the original's extension kept in a shortened name


def cut_utf8(text: str, limit: int) -> str:
    """The longest start of ``text`` whose UTF-8 encoding fits in ``limit`` bytes (never half a character)."""
    out, used = [], 0
    for char in text:
        used += len(_utf8(char))
        if used > limit:
            break
        out.append(char)
    return "".join(out)


def bounded_name(name: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """``name + suffix`` when it fits in ``limit`` bytes; otherwise a shortened, deterministic form of it.

    ``name`` is one path component (no ``/``).
    """
    whole = name + suffix
    if len(_utf8(whole)) <= limit:
        return whole
    stem, ext = os.path.splitext(name)
    if not stem or len(_utf8(ext)) > EXTENSION_MAX:
        stem, ext = name, ""
    tail = f"~{hashlib.sha256(_utf8(name)).hexdigest()[:DIGEST_CHARS]}{ext}{suffix}"
    return cut_utf8(stem, limit - len(_utf8(tail))) + tail


def bounded_path(path: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """A relative ``/``-separated path with ``suffix`` added to its last component, that component bounded."""
    folder, slash, last = path.rpartition("/")
    return f"{folder}{slash}{bounded_name(last, suffix, limit)}"


def sibling_name(name: str, mark: str) -> str:
    """A hidden working name beside ``name`` (``.<name><mark>``), bounded like any derived name."""
    return bounded_name(f".{name}", mark)


def _utf8(text: str) -> bytes:
    """The bytes of a name on disk (a name read from a non-UTF-8 disk keeps its bytes as surrogates)."""
    return text.encode("utf-8", "surrogateescape")
