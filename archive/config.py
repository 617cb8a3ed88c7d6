"""The archive home (档案库目录) and its settings file ``dangan.toml``.

One declarative table of settings, loaded once into a frozen :class:`Settings`
and passed down. Rules (profiles, 档号, retention) stay data files; the settings
only say which to use.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.errors import ConfigError, UsageError

CONFIG_NAME = "dangan.toml"
DEFAULT_HOME = "dangan-data"


@dataclass(frozen=True)
class Fonds:
    """全宗: ``code`` is the 全宗号 (e.g. ``J012``), ``name`` the 立档单位名称."""

    code: str
    name: str


@dataclass(frozen=True)
class StorageConfig:
    """存储位置: one ``[[storage]]`` entry of ``dangan.toml``."""

    name: str
    type: str  # fs | s3
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Setting:
    """One ingest setting: its name, default and help text (documented in the README)."""

    name: str
    default: Any
    help: str


INGEST_SETTINGS = (
    Setting("min_scan_dpi", 200, "扫描件最低分辨率 (DA/T 31: at least 200 dpi for scans)"),
    Setting("max_pixels", 200_000_000, "单页像素上限, 超过视为解压缩炸弹 (decompression-bomb ceiling per page)"),
    Setting("workers", 2, "并行计算摘要的线程数 (threads hashing files)"),
)


@dataclass(frozen=True)
class Settings:
    """Everything an archive home says about itself; frozen once loaded."""

    home: Path
    fonds: tuple[Fonds, ...]
    archival_code_rule: str | dict[str, Any]
    storage: tuple[StorageConfig, ...]
    ingest: dict[str, Any]
    profiles_dir: Path | None = None

    @property
    def catalogue_path(self) -> Path:
        return self.home / "catalogue.sqlite"

    @property
    def work_dir(self) -> Path:
        return self.home / "work"

    def fonds_by_code(self, code: str | None) -> Fonds:
        """The fonds with that 全宗号, or the home's first fonds when ``code`` is None."""
        if code is None:
            return self.fonds[0]
        for f in self.fonds:
            if f.code == code:
                return f
        known = ", ".join(f.code for f in self.fonds)
        raise UsageError(
            f"全宗号 {code} 未在 dangan.toml 中登记 (unknown fonds; known: {known})", rule="dangan.toml [[fonds]]"
        )


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """The archive home: the argument, else ``$DANGAN_HOME``, else ``./dangan-data``."""
    return Path(home or os.environ.get("DANGAN_HOME") or DEFAULT_HOME).absolute()


def render_config(fonds: Fonds, rule: str = "dat22") -> str:
    """The text of a new ``dangan.toml``: commented, so an archivist can edit it."""
    return f'''# dangan 档案库配置 (archive home settings)

# 全宗: 全宗号与立档单位名称. A township archive lists every fonds it holds.
[[fonds]]
code = "{fonds.code}"
name = "{fonds.name}"

# 档号规则: "dat22" = DA/T 22-2015 (J012-WS·2023-D30-0001), "dat13" = DA/T 13-2022 (J012-WS·2023·D30-0001),
# or a table: {{ template = "{{fonds}}-{{category}}·{{year}}-{{retention}}[-{{org}}]-{{number}}", number_width = 4 }}
[archival_code]
rule = "{rule}"

# 归档检测设置 (ingest settings)
[ingest]
min_scan_dpi = 200
max_pixels = 200000000
workers = 2

# 存储位置 (storage locations). type = "fs" (a directory, relative to this home) or "s3".
[[storage]]
name = "local"
type = "fs"
path = "store"
'''


def init_home(home: Path, fonds: Fonds, rule: str = "dat22") -> Path:
    """Create an archive home with its ``dangan.toml``; refuse to overwrite one."""
    config = home / CONFIG_NAME
    if config.exists():
        raise UsageError(f"档案库已存在, 不会覆盖 (archive home already initialised): {config}")
    home.mkdir(parents=True, exist_ok=True)
    tmp = config.with_suffix(".tmp")
    tmp.write_text(render_config(fonds, rule), encoding="utf-8")
    os.replace(tmp, config)
    return config


def load_settings(home: Path) -> Settings:
    """Read and validate ``dangan.toml`` from an archive home."""
    path = home / CONFIG_NAME
    if not path.is_file():
        raise UsageError(
            f"这里没有档案库, 请先运行 dangan init (no archive home here; run `dangan init`): {home}",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"配置文件无法解析 (cannot parse): {exc}", path=str(path)) from exc
    return _settings_from(home, data, path)


def _settings_from(home: Path, data: dict[str, Any], path: Path) -> Settings:
    fonds = tuple(_fonds(entry, path) for entry in data.get("fonds", []))
    if not fonds:
        raise ConfigError("至少需要一个 [[fonds]] 全宗 (at least one fonds is required)", path=str(path))
    storage = tuple(_storage(entry, path) for entry in data.get("storage", []))
    if not storage:
        raise ConfigError("至少需要一个 [[storage]] 存储位置 (at least one storage location)", path=str(path))
    if len({s.name for s in storage}) != len(storage):
        raise ConfigError("存储位置名称重复 (duplicate storage names)", path=str(path))
    ingest = {s.name: s.default for s in INGEST_SETTINGS}
    unknown = set(data.get("ingest", {})) - set(ingest)
    if unknown:
        raise ConfigError(f"[ingest] 中有未知设置 (unknown settings): {', '.join(sorted(unknown))}", path=str(path))
    ingest.update(data.get("ingest", {}))
    rule = data.get("archival_code", {}).get("rule", "dat22")
    profiles = data.get("profiles", {}).get("dir")
    return Settings(
        home=home,
        fonds=fonds,
        archival_code_rule=rule,
        storage=storage,
        ingest=ingest,
        profiles_dir=(home / profiles) if profiles else None,
    )


def _fonds(entry: dict[str, Any], path: Path) -> Fonds:
    try:
        return Fonds(code=str(entry["code"]), name=str(entry["name"]))
    except KeyError as exc:
        raise ConfigError(f"[[fonds]] 缺少 {exc.args[0]} (missing key)", path=str(path)) from exc


def _storage(entry: dict[str, Any], path: Path) -> StorageConfig:
    entry = dict(entry)
    try:
        name, kind = str(entry.pop("name")), str(entry.pop("type"))
    except KeyError as exc:
        raise ConfigError(f"[[storage]] 缺少 {exc.args[0]} (missing key)", path=str(path)) from exc
    if kind not in ("fs", "s3"):
        raise ConfigError(f"存储类型只能是 fs 或 s3 (storage type must be fs or s3): {kind}", path=str(path))
    return StorageConfig(name=name, type=kind, options=entry)
