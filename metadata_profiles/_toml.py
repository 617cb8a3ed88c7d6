"""Reading the bundled and the archive's own TOML data files (读取配置数据)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from archive.errors import ConfigError
from archive.i18n import _

PACKAGE = "metadata_profiles"


def read_bundled(relpath: str) -> dict[str, Any]:
    """Read one TOML file shipped inside the package (``codes.toml``, ``profiles/WS.toml``)."""
    node = resources.files(PACKAGE)
    for part in relpath.split("/"):
        node = node.joinpath(part)
    return _loads(node.read_bytes(), f"{PACKAGE}/{relpath}")


def bundled_profile_names() -> list[str]:
    """File names of the bundled profiles (``profiles/*.toml``), sorted."""
    folder = resources.files(PACKAGE).joinpath("profiles")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))


def read_file(path: Path) -> dict[str, Any]:
    """Read one TOML file of an archive's profile directory."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(_("无法读取配置文件：{reason}").format(reason=exc), path=str(path)) from None
    return _loads(raw, str(path))


def _loads(raw: bytes, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(_("配置文件不是有效的 UTF-8 TOML：{reason}").format(reason=exc), path=name) from None


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``: tables merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """Refuse unknown keys, so a typo in a data file is an error, not a silent default."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            _("未知的配置键 {unknown}，可用：{known}").format(unknown=unknown, known=sorted(allowed)),
            path=where,
        )
