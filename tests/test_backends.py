"""Backends registered once: one table per kind, every entry loadable, every name a home may choose
judged by that table, and the README's checklist naming where each table is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.config import StorageConfig
from archive.errors import ConfigError, UsageError
from archive.storage import Location, parse_spec
from archive.storage.registry import BACKENDS as STORAGE_BACKENDS
from dangan import Archive
from dangan.cli import main
from ingest.ocr import ENGINES, OcrEngine
from search import BACKENDS as SEARCH_BACKENDS
from search import SearchConfigError, SearchIndex, open_index

REPO = Path(__file__).resolve().parents[1]


def test_every_registered_backend_loads_as_its_kind():
    for backend in STORAGE_BACKENDS:
        assert issubclass(backend.load(), Location)
    for module, cls in SEARCH_BACKENDS.values():
        assert issubclass(getattr(__import__(module, fromlist=[cls]), cls), SearchIndex)
    assert all(issubclass(engine, OcrEngine) for engine in ENGINES.values())


def test_storage_spec_is_read_by_the_type_its_prefix_names():
    assert parse_spec("local=store") == StorageConfig("local", "fs", {"path": "store"})
    assert parse_spec("off=s3:http://127.0.0.1:8333/bucket/a/b") == StorageConfig(
        "off", "s3", {"endpoint_url": "http://127.0.0.1:8333", "bucket": "bucket", "prefix": "a/b/"}
    )
    for bad in ("store", "=store", "x=", "off=s3:bucket"):
        with pytest.raises(UsageError):
            parse_spec(bad)


def test_the_cli_reads_storage_through_the_registry(tmp_path):
    home = tmp_path / "h"
    args = ["--home", str(home), "init", "--fonds-code", "J013", "--fonds-name", "幸福社区居民委员会"]
    r = CliRunner().invoke(main, [*args, "--storage", "first=a", "--storage", "second=/abs/b"])
    assert r.exit_code == 0, r.output
    with Archive.open(home) as arc:
        assert [(s.name, s.type, s.options) for s in arc.settings.storage] == [
            ("first", "fs", {"path": "a"}),
            ("second", "fs", {"path": "/abs/b"}),
        ]
        assert [loc.describe() for loc in arc.locations()] == [f"first (fs: {home / 'a'})", "second (fs: /abs/b)"]
    r = CliRunner().invoke(main, [*args, "--storage", "off=s3:nowhere"])
    assert r.exit_code == 2 and "S3 位置应为" in r.output


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('\ntype = "fs"', '\ntype = "ftp"', "存储类型只能是 s3 / fs"),
        ("[search]", '[search]\nbackend = "solr"', "[search] backend 只能是 sqlite 或 elasticsearch: solr"),
    ],
)
def test_a_name_no_registry_has_is_refused_naming_the_file(tmp_path, old, new, said):
    home = tmp_path / "h"
    Archive.init(home, fonds_code="J013", fonds_name="幸福社区居民委员会").close()
    config = home / "dangan.toml"
    text = config.read_text(encoding="utf-8")
    if "[search]" not in text:
        text += "\n[search]\n"
    config.write_text(text.replace(old, new, 1), encoding="utf-8")
    with Archive.open(home) as arc, pytest.raises(ConfigError) as caught:
        arc.list()
    assert said in str(caught.value) and str(config) in str(caught.value)


def test_an_unknown_search_backend_is_refused_by_its_registry(tmp_path):
    with pytest.raises(SearchConfigError, match="未知的检索后端"):
        open_index("solr", path=tmp_path / "x.db")


def test_the_readme_checklist_names_each_registry():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Architecture") :]
    section = section[: section.index("\n## ", 1)]
    for where in (
        "archive/storage/registry.py",
        "search/__init__.py",
        "ingest/ocr.py",
        "tests/test_storage_contract.py",
    ):
        assert re.search(re.escape(where), section), where
