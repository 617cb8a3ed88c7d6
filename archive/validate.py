"""``dangan validate``: any bag on disk, or an archived record by its 档号.

A bag is checked by :func:`archive.bagcheck.validate_bag`. When the bag is one of
ours (it carries ``metadata/item.xml``) its DA/T 46 metadata is also checked against
the XSD and the digests it records against the manifests (:func:`archive.aip.disagreements`),
and the SHA-256 and SM3 manifests are required, not optional.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from archive.aip import ITEM_XML, disagreements
from archive.bagcheck import BagReport, BagSource, DirectorySource, validate_bag
from archive.catalogue import Catalogue
from archive.config import load_settings
from archive.errors import BagError, NotFoundError, StorageError
from archive.fixity import ALGORITHMS
from archive.i18n import _
from archive.itemxml import item_from_xml, validate_item_xml
from archive.storage import open_locations
from archive.storage.base import CopyReader


@dataclass
class ValidationResult:
    """The verdict on one target, with every finding for people."""

    target: str
    bag: BagReport
    metadata_errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.bag.valid and not self.metadata_errors

    def lines(self) -> list[str]:
        out = [f"错误 {f.kind}: {f.message}" for f in self.bag.errors]
        out += [f"错误 metadata: {m}" for m in self.metadata_errors]
        out += [f"警告 {f.kind}: {f.message}" for f in self.bag.warnings]
        return out

    def to_json(self) -> dict[str, Any]:
        def brief(f: Any) -> dict[str, Any]:
            return {"kind": f.kind, "path": f.path, "message": f.message}

        return {
            "target": self.target,
            "valid": self.valid,
            "version": self.bag.version,
            "errors": [brief(f) for f in self.bag.errors]
            + [{"kind": "metadata", "message": m} for m in self.metadata_errors],
            "warnings": [brief(f) for f in self.bag.warnings],
            "files_checked": self.bag.files_checked,
            "bytes_checked": self.bag.bytes_checked,
        }


def validate_path(bag_dir: Path, label: str | None = None) -> ValidationResult:
    """Validate a bag directory; ours get the metadata and algorithm checks too."""
    return validate_source(DirectorySource(bag_dir), label or str(bag_dir))


def validate_source(source: BagSource, label: str) -> ValidationResult:
    """Validate a bag wherever it is; ours (with ``metadata/item.xml``) get the metadata and algorithm checks too."""
    ours = ITEM_XML in dict(source.list_files())
    report = validate_bag(source, algorithms=ALGORITHMS if ours else None)
    result = ValidationResult(label, report)
    data = _item_xml(source) if ours else None
    if data is not None:
        problems = validate_item_xml(data, name=ITEM_XML)
        result.metadata_errors = [f.message for f in problems if f.failed]
        if not result.metadata_errors:  # the digests item.xml records must be the ones the manifests list
            tags = [path for path, _size in source.list_files() if not path.startswith("data/")]
            found = disagreements(item_from_xml(data, name=ITEM_XML), report.manifests, tags=tags)
            result.metadata_errors = [f"{d.path}: {d.message} {d.expected} → {d.found}".rstrip(" →") for d in found]
    return result


def _item_xml(source: BagSource) -> bytes | None:
    """The bag's item.xml, or None when it cannot be read (the bag report already says why)."""
    try:
        with source.open(ITEM_XML) as f:
            return f.read()
    except (OSError, BagError, StorageError):
        return None


class LocationSource(BagSource):
    """A committed AIP read through its storage location's API: a local folder and an S3 bucket alike."""

    def __init__(self, reader: CopyReader, where: str) -> None:
        self.location = where
        self._reader = reader
        self._files: list[tuple[str, int]] | None = None

    def list_files(self) -> Iterator[tuple[str, int]]:
        """The AIP's files as the location lists them now, listed once."""
        if self._files is None:
            self._files = self._reader.files()
        return iter(self._files)

    def open(self, relpath: str) -> BinaryIO:
        """A streaming reader over one file (a failure is a StorageError, reported as a finding)."""
        return self._reader.open(relpath)


def validate_target(target: str, home: Path) -> ValidationResult:
    """A directory is validated as a bag; anything else is looked up as a 档号 in the home.

    An archived item is read from the primary location through its :class:`Location` API, so
    it is checked the same way whether that location is a local folder or an S3 bucket.
    """
    path = Path(target)
    if path.is_dir():
        return validate_path(path)
    from archive.tombstone import destroyed_notice  # retention imports archive: load it late

    settings = load_settings(home)
    catalogue = Catalogue(settings.catalogue_path, create=False)
    try:
        row = catalogue.get(target)
        notice = destroyed_notice(catalogue, target)
    finally:
        catalogue.close()
    if notice:
        raise NotFoundError(notice, path=target)
    if row is None:
        raise NotFoundError(_("既不是目录也不是已归档的档号: {target}").format(target=target))
    location = open_locations(settings)[0]
    with location.reader(row.aip_key) as reader:
        if not reader.present():
            raise BagError(
                _("主存储位置 {name} 没有此 AIP").format(name=location.name),
                path=target,
            )
        return validate_source(LocationSource(reader, f"{location.describe()} {row.aip_key}"), target)
