"""存储位置 (storage location): the narrow interface every backend implements.

An AIP is addressed by a key ``<全宗号>/<档号>``. A location must make an AIP
visible atomically: :meth:`Location.list_keys` never shows a partial one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO


def aip_key(fonds_code: str, archival_code: str) -> str:
    """The storage key of an item's AIP."""
    return f"{fonds_code}/{archival_code}"


class Location(ABC):
    """One place that holds AIPs: a local directory or an S3 bucket."""

    name: str

    @abstractmethod
    def staging(self) -> AbstractContextManager[Path]:
        """A private, empty working directory for building one AIP; removed on exit."""

    @abstractmethod
    def commit(self, key: str, staged: Path) -> None:
        """Make the bag in ``staged`` visible as ``key``, all at once.

        Raises:
            AIPExistsError: an AIP with that key is already there.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a whole AIP is visible under ``key``."""

    @abstractmethod
    def list_keys(self) -> Iterator[str]:
        """Every whole AIP in the location."""

    @abstractmethod
    def list_files(self, key: str) -> Iterator[tuple[str, int]]:
        """The files of an AIP: bag-relative POSIX path and size."""

    @abstractmethod
    def open(self, key: str, relpath: str) -> BinaryIO:
        """A streaming reader over one file of an AIP."""

    @abstractmethod
    def recover(self) -> list[str]:
        """Clean up what crashed writers left behind; return what was removed."""

    def read(self, key: str, relpath: str) -> bytes:
        """A whole (small) file of an AIP."""
        with self.open(key, relpath) as f:
            return f.read()
