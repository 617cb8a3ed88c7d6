"""The house's floors: every import, also one inside a function, points down or stays in its package.

Floors, lowest first (README, "Architecture"):
    archive (core, then storage/catalogue/bag) → metadata_profiles → search → retention
    → preservation → ingest → disposition → dangan
A package may import its own modules and any package on a lower floor, never one on its floor
or above; within ``archive`` the core modules import no storage, catalogue or bag module. No
module imports another package's underscore module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS = ["archive", "metadata_profiles", "search", "retention", "preservation", "ingest", "disposition", "dangan"]
ARCHIVE_CORE = {
    "errors", "model", "config", "fixity", "xmlsafe", "premis", "archival_code", "sqlitefile", "itemxml", "numbers",
    "i18n", "names",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, source: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every module an import statement in the source names, relative ones resolved."""
    here = module.split(".")
    package = here if is_package else here[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # ``from package import module`` names a module too
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def project_modules() -> list[Path]:
    return sorted(p for top in FLOORS for p in (REPO / top).rglob("*.py"))


def known_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    return module_violations(module_name(path), source, str(path.relative_to(REPO)), path.name == "__init__.py")


def module_violations(me: str, source: str, shown: str, is_package: bool = False) -> list[str]:
    mine = me.split(".")[0]
    out = []
    for target, line in imports_of(me, source, is_package):
        top = target.split(".")[0]
        if top not in FLOORS or not known_module(target):
            continue  # the standard library, a third-party package, or a name that is not a module
        where = f"{shown}:{line} imports {target}"
        if top != mine and FLOORS.index(top) >= FLOORS.index(mine):
            out.append(f"{where}: {top} is not below {mine}")
        if top != mine and any(part.startswith("_") for part in target.split(".")[1:]):
            out.append(f"{where}: another package's private module")
        if mine == "archive" and me.split(".")[1:2] and me.split(".")[1] in ARCHIVE_CORE:
            sub = target.split(".")[1] if top == "archive" and len(target.split(".")) > 1 else None
            if sub is not None and sub not in ARCHIVE_CORE:
                out.append(f"{where}: archive's core imports its storage/catalogue/bag floor")
    return out


def test_every_import_points_down():
    found = [v for path in project_modules() for v in violations(path)]
    assert not found, "\n".join(found)


def test_the_checker_sees_each_kind_of_bad_import():
    # a check that could not fail would prove nothing: show it the imports it must catch
    late = "def f():\n    from dangan.api import Archive\n"
    assert module_violations("archive.probe", late, "probe")[0].endswith("dangan is not below archive")
    private = "from metadata_profiles import _toml\n"
    assert any("private module" in v for v in module_violations("retention.probe", private, "probe"))
    sideways = "from ..search import indexing\n"
    assert module_violations("retention.probe", sideways, "probe") == []  # search is below retention
    assert module_violations("search.probe", "import retention.rules\n", "probe")
    core = "from archive.catalogue import Catalogue\n"
    assert "core imports" in module_violations("archive.config", core, "probe")[0]


@pytest.mark.parametrize("package", FLOORS)
def test_each_floor_is_a_package_with_a_docstring(package):
    init = REPO / package / "__init__.py"
    assert init.is_file() and ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
