"""dangan 档案: the application — one :class:`Archive` that the CLI, the web service and the tests drive.

Example:
    >>> from dangan import Archive
    >>> arc = Archive.open("dangan-data")  # doctest: +SKIP
    >>> arc.search("低保").to_json()  # doctest: +SKIP
"""

from __future__ import annotations

from .api import Archive, LocationState
from .results import CatalogFile, Export, Found, RecordList, RecordView, Reindex, Validation

__all__ = ["Archive", "CatalogFile", "Export", "Found", "LocationState", "RecordList", "RecordView", "Reindex",
           "Validation"]  # fmt: skip
