"""Shared fixtures: a fresh archive home per test, small scans made on the spot, CLI runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from archive.bag import write_bag
from archive.catalogue import Catalogue
from archive.config import Fonds, Settings
from archive.fixity import hash_file
from dangan import Archive
from dangan.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"


class Home(Archive):
    """The archive home of one test: the :class:`dangan.Archive` itself, with what tests look at
    (its path, its primary store, the keys each location holds) and may swap (settings, catalogue)."""

    @property
    def path(self) -> Path:
        return self.home

    @property
    def store(self) -> Path:
        return self.home / "store"

    @property
    def settings(self) -> Settings:
        return Archive.settings.fget(self)  # type: ignore[attr-defined]

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def catalogue(self) -> Catalogue:
        return Archive.catalogue.fget(self)  # type: ignore[attr-defined]

    @catalogue.setter
    def catalogue(self, value: Catalogue) -> None:
        self._catalogue = value

    def keys(self) -> dict[str, list[str]]:
        return {loc.name: list(loc.list_keys()) for loc in self.locations()}

    def reopen(self) -> None:
        """A fresh catalogue connection (after another process wrote to it)."""
        self.close()
        self._catalogue = Catalogue(self.settings.catalogue_path)


J012 = Fonds("J012", "振兴社区居民委员会")


def new_home(path: Path, fonds: Fonds = J012, **options: Any) -> Home:
    """A new home for a test; OCR is off unless ``ingest`` says otherwise (it is tested on its own)."""
    options["ingest"] = {"ocr": "off", **options.get("ingest", {})}
    return Home.init(path, fonds_code=fonds.code, fonds_name=fonds.name, **options)  # type: ignore[return-value]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The tests keep dangan's user cache (the PRONOM plan) in a folder of their own, not in ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    with new_home(tmp_path / "home") as opened:
        yield opened


@pytest.fixture
def cjk_font() -> None:
    """A destruction run refuses to start without a font for the 销毁清册 PDF."""
    from archive.errors import MissingDependencyError
    from retention.registers import find_cjk_font

    try:
        find_cjk_font()
    except MissingDependencyError:
        pytest.skip("没有中文字体, 销毁清册 PDF 无法生成 (install fonts-noto-cjk)")


def staging_leftovers(store: Path) -> list[Path]:
    """What is left in a location's staging area besides its guard file."""
    area = store / ".staging"
    return [p for p in area.iterdir() if p.name != ".guard"] if area.is_dir() else []


def make_image(
    path: Path,
    *,
    dpi: float | None = 300,
    size: tuple[int, int] = (160, 220),
    mode: str = "L",
    pages: int = 1,
    seed: int = 0,
) -> Path:
    """A small image file whose pixels differ by ``seed``; ``dpi=None`` states no resolution."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for p in range(pages):
        im = Image.new(mode, size, color=255 if mode != "RGB" else (255, 255, 255))
        im.putpixel(((seed * 7 + p) % size[0], (seed * 13 + p) % size[1]), 0 if mode != "RGB" else (0, 0, 0))
        frames.append(im)
    kwargs: dict[str, Any] = {}
    if dpi is not None:
        kwargs["dpi"] = (dpi, dpi)
    fmt = {".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".png": "PNG"}[path.suffix.lower()]
    if fmt == "TIFF" and pages > 1:
        kwargs.update(save_all=True, append_images=frames[1:])
    frames[0].save(path, fmt, **kwargs)
    if fmt == "JPEG" and dpi is None:
        _strip_jfif_density(path)
    return path


def _strip_jfif_density(path: Path) -> None:
    """Pillow always writes a JFIF density; set its unit to 0 (aspect ratio only: no resolution stated)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"JFIF\x00")
    data[i + 7] = 0
    path.write_bytes(bytes(data))


def make_scan_batch(root: Path, count: int, *, seed: int = 0, dpi: float | None = 300) -> Path:
    """A bare folder of ``count`` one-page TIFF scans, all distinct."""
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        make_image(root / f"扫描件{n + 1:03d}.tif", dpi=dpi, seed=seed * 1000 + n)
    return root


def rebag_aip(bag: Path, page: str, extra_tags: dict[str, bytes] | None = None) -> None:
    """Rewrite an AIP's manifests, Payload-Oxum and tag manifests over its one page as it now is, its
    metadata untouched (and ``extra_tags`` added, listed in the tag manifests): a forger covering
    their tracks inside the bag."""
    info = [tuple(line.split(": ", 1)) for line in (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines()]
    info = [(k, v) for k, v in info if k != "Payload-Oxum"]
    size, digests = hash_file(bag / page)
    tags = {
        p: (bag / p).read_bytes() for p in ("metadata/item.xml", "metadata/check-report.xml", "metadata/premis.xml")
    }
    write_bag(bag, {page: digests}, size, info, {**tags, **(extra_tags or {})})


@pytest.fixture
def cli(home: Home):
    """Run the CLI in-process against the test's home; returns (exit code, stdout, parsed JSON or None)."""
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, Any]:
        result = runner.invoke(cli_main, ["--home", str(home.path), *args], catch_exceptions=False)
        parsed = None
        if "--json" in args:
            parsed = json.loads(result.stdout)
        return result.exit_code, result.output, parsed

    return run


def dangan_process(home: Path, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The real CLI in its own process (for kill and concurrency tests)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "dangan", "--home", str(home), *args], env=env, cwd=REPO, **kwargs)
