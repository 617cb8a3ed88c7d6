"""Every setting a home can hold is documented in the README, under the name dangan.toml uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archive.config import AUDIT_SETTINGS, DISPLAY_SETTINGS, INGEST_SETTINGS, S3_SETTINGS, SEARCH_SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
TABLES = [("ingest", INGEST_SETTINGS), ("audit", AUDIT_SETTINGS), ("search", SEARCH_SETTINGS),
          ("display", DISPLAY_SETTINGS)]  # fmt: skip


@pytest.mark.parametrize(("table", "name"), [(t, s.name) for t, settings in TABLES for s in settings])
def test_every_table_setting_is_in_the_readme(table: str, name: str) -> None:
    # the setting named with its table, or in a sentence about that table
    named = re.search(rf"`\[{table}\] {name}\b", README) is not None
    in_context = re.search(rf"`\[{table}\][^`]*`[^\n]*`{name}`", README) is not None
    assert named or in_context, f"[{table}] {name} is not documented in README.md"


@pytest.mark.parametrize("name", [s.name for s in S3_SETTINGS])
def test_every_s3_option_is_in_the_readme(name: str) -> None:
    assert f"| `{name}` |" in README, f"the [[storage]] option {name} is not in README's S3 table"
