"""Writing BagIt 1.0 bags (RFC 8493): one bag per item (件), manifests in SHA-256 and SM3.

The payload is written by the ingest pipeline (which digests it on the way); this
module writes the declaration, ``bag-info.txt``, the manifests from those digests,
the tag files, and the tag manifests over every tag file, all in one durable batch (written,
fsync'ed, read back): the bag becomes visible only when its directory is renamed into place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from archive.fixity import ALGORITHMS, write_tree

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_DIR = "data"


def encode_path(path: str) -> str:
    """Percent-encode the three characters RFC 8493 says a manifest path must not carry raw."""
    return path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def manifest_text(entries: Iterable[tuple[str, str]]) -> bytes:
    """Manifest lines ``<digest>  <path>`` sorted by path, UTF-8."""
    lines = [f"{digest}  {encode_path(path)}\n" for path, digest in sorted(entries)]
    return "".join(lines).encode("utf-8")


def bag_info_text(info: Iterable[tuple[str, str]]) -> bytes:
    """``bag-info.txt``: one ``Label: value`` per line; newlines in values are folded."""
    lines = []
    for label, value in info:
        value = " ".join(str(value).splitlines())
        lines.append(f"{label}: {value}\n")
    return "".join(lines).encode("utf-8")


def write_bag(
    bag_dir: Path,
    payload: Mapping[str, Mapping[str, str]],
    payload_bytes: int,
    bag_info: list[tuple[str, str]],
    tag_files: Mapping[str, bytes],
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> dict[str, dict[str, object]]:
    """Finish a bag whose payload already sits under ``bag_dir/data``.

    Args:
        bag_dir: the bag root (a staging directory, not yet visible).
        payload: ``data/...`` path → {algorithm: hex digest}, as taken on receipt.
        payload_bytes: total payload size for Payload-Oxum.
        bag_info: labels and values for ``bag-info.txt`` (Payload-Oxum is added here).
        tag_files: extra tag files (e.g. ``metadata/item.xml``) relative to the bag root.
        algorithms: manifest algorithms.

    Returns:
        Every tag file written, tag manifests included: path → {"size": bytes, algorithm: digest}.
    """
    info = [*bag_info, ("Payload-Oxum", f"{payload_bytes}.{len(payload)}")]
    files = {"bagit.txt": BAGIT_TXT, "bag-info.txt": bag_info_text(info), **tag_files}
    for alg in algorithms:
        files[f"manifest-{alg}.txt"] = manifest_text((p, d[alg]) for p, d in payload.items())
    tags = {rel: _described(data, algorithms) for rel, data in files.items()}
    listed = list(tags.items())  # a tag manifest lists every tag file but the tag manifests
    for alg in algorithms:
        tagmanifest = manifest_text((rel, str(d[alg])) for rel, d in listed)
        files[f"tagmanifest-{alg}.txt"] = tagmanifest
        tags[f"tagmanifest-{alg}.txt"] = _described(tagmanifest, algorithms)
    write_tree(bag_dir, files)  # the payload already there becomes durable with the tag files
    return tags


def _described(data: bytes, algorithms: tuple[str, ...]) -> dict[str, object]:
    return {"size": len(data), **{alg: hashlib.new(alg, data).hexdigest() for alg in algorithms}}
