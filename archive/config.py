"""The archive home (档案库目录) and its settings file ``dangan.toml``.

One declarative table of settings, loaded once into a frozen :class:`Settings`
and passed down. Rules (profiles, 档号, retention) stay data files; the settings
only say which to use.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archive.errors import ConfigError, UsageError
from archive.i18n import _

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


#: Checks the backend names a home's settings choose (storage types, search backend, OCR
#: engine) and raises ConfigError naming the file (the Path) for one that is unknown. The
#: registries of backends live on the floors that implement them, above this module; the
#: application passes their check in (``dangan.backends.check_names``), so no list of names
#: is kept here to fall out of step with them.
NameCheck = Callable[["Settings", Path], None]
ACTIVE_CONTENT = ("warn", "refuse")  # ingest._active.ACTIVE_POLICIES

INGEST_SETTINGS = (
    Setting("min_scan_dpi", 200, "扫描件最低分辨率 (DA/T 31: at least 200 dpi for scans)"),
    Setting("max_pixels", 200_000_000, "单页像素上限, 超过视为解压缩炸弹 (decompression-bomb ceiling per page)"),
    Setting("max_pages", 3000, "每件页数上限, 超过则拒收, 不做解码与 OCR (pages per item; more are refused, GD-3-4)"),
    Setting(
        "ocr_time_limit",
        1800,
        "每个文件 OCR 用时上限 (秒), 到时停止识别并保留已识别的页, 照常归档 (seconds of OCR per file, then OCR stops)",
    ),
    Setting(
        "active_content",
        "warn",
        "PDF 脚本、启动动作、嵌入文件与 Office 宏: warn 记录警告 / refuse 拒收 (active content, GD-3-8)",
    ),
    Setting("workers", 2, "并行接收文件的进程数 (worker processes copying, hashing, decoding and OCR'ing files)"),
    Setting(
        "ocr",
        "auto",
        "扫描件文字识别引擎: auto (RapidOCR, 繁体页用 Tesseract) / rapidocr / tesseract / off (OCR engine for scans)",
    ),
    Setting(
        "tesseract_languages",
        "chi_sim",
        "Tesseract 识别语言: chi_sim 简体, chi_tra 繁体 (traineddata for ocr = tesseract; auto needs chi_tra)",
    ),
)


AUDIT_SETTINGS = (
    Setting("cycle_days", 90, "每份副本每隔多少天至少做一次 SHA-256 检查 (days between SHA-256 checks of each copy)"),
    Setting("sm3_cycle_days", 360, "每隔多少天同时核对 SM3 (days between checks that also verify SM3)"),
)

#: per-location options of an ``[[storage]]`` entry of type ``s3``: how long to wait for the server
S3_SETTINGS = (
    Setting("connect_timeout", 5, "连接 S3 服务器最多等待的秒数 (seconds to wait for a connection)"),
    Setting("read_timeout", 20, "等待 S3 服务器应答最多的秒数 (seconds to wait for any answer from the server)"),
    Setting("max_attempts", 2, "每个 S3 请求最多尝试几次, 含首次 (attempts per request, the first included)"),
)

SEARCH_SETTINGS = (
    Setting("backend", "sqlite", "检索后端: sqlite (内嵌 FTS5) 或 elasticsearch (search backend)"),
    Setting("url", "", "Elasticsearch 地址, 如 http://127.0.0.1:9200 (only for elasticsearch)"),
    Setting("index_prefix", "dangan", "Elasticsearch 索引名前缀 (index and alias name prefix)"),
)

DISPLAY_SETTINGS = (
    Setting(
        "timezone",
        "Asia/Shanghai",
        "给人看的时间所用时区, 如 Asia/Shanghai (北京时间); 记录与 PREMIS 仍存 UTC (zone of times shown to people)",
    ),
)

DEFAULT_COPIES = {"default": 2, "Y": 3}


@dataclass(frozen=True)
class Settings:
    """Everything an archive home says about itself; frozen once loaded."""

    home: Path
    fonds: tuple[Fonds, ...]
    archival_code_rule: str | dict[str, Any]
    storage: tuple[StorageConfig, ...]
    ingest: dict[str, Any]
    profiles_dir: Path | None = None
    copies: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_COPIES))
    audit: dict[str, Any] = field(default_factory=lambda: {s.name: s.default for s in AUDIT_SETTINGS})
    search: dict[str, Any] = field(default_factory=lambda: {s.name: s.default for s in SEARCH_SETTINGS})
    retention: dict[str, Any] = field(default_factory=dict)  # [retention]: schedule overrides (retention.rules)
    display: dict[str, Any] = field(default_factory=lambda: {s.name: s.default for s in DISPLAY_SETTINGS})

    def required_copies(self, retention: str) -> int:
        """复制策略: how many locations must hold an AIP of this 保管期限."""
        return int(self.copies.get(retention, self.copies["default"]))

    def required_locations(self, retention: str) -> tuple[StorageConfig, ...]:
        """The locations that must hold an AIP of this 保管期限: the first N, primary first."""
        return self.storage[: self.required_copies(retention)]

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
            _("全宗号 {code} 未在 dangan.toml 中登记, 已登记的有: {known}").format(code=code, known=known),
            rule="dangan.toml [[fonds]]",
        )


def resolve_home(home: str | os.PathLike[str] | None) -> Path:
    """The archive home: the argument, else ``$DANGAN_HOME``, else ``./dangan-data``."""
    return Path(home or os.environ.get("DANGAN_HOME") or DEFAULT_HOME).absolute()


DEFAULT_STORAGE = (
    StorageConfig("local", "fs", {"path": "store"}),
    StorageConfig("copy2", "fs", {"path": "copy2"}),
    StorageConfig("copy3", "fs", {"path": "copy3"}),
)


def _storage_toml(entries: tuple[StorageConfig, ...]) -> str:
    blocks = []
    for e in entries:
        lines = ["[[storage]]", f"name = {_toml_string(e.name)}", f"type = {_toml_string(e.type)}"]
        lines += [f"{k} = {_toml_string(v) if isinstance(v, str) else json.dumps(v)}" for k, v in e.options.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes (\\" \\\\ \\n \\uXXXX) are TOML's too."""
    return json.dumps(value, ensure_ascii=False)


def _settings_toml(settings: tuple[Setting, ...], values: Mapping[str, Any]) -> str:
    """``name = value`` lines, the default where ``values`` has none, so a new home's file and the
    built-in defaults cannot disagree."""
    unknown = set(values) - {s.name for s in settings}
    if unknown:
        raise UsageError(_("没有这些设置: {names}").format(names=", ".join(sorted(unknown))))
    return "\n".join(f"{s.name} = {json.dumps(values.get(s.name, s.default), ensure_ascii=False)}" for s in settings)


def _copies_toml(locations: int, wanted: Mapping[str, int]) -> str:
    lines = []
    for retention, n in (DEFAULT_COPIES | dict(wanted)).items():
        if n > locations:
            lines.append(f"# 只配置了 {locations} 个存储位置, 低于默认的 {n} 份; 请增加存储位置后改回 {n}")
            lines.append(f"# (only {locations} locations: fewer than the default {n} copies)")
        lines.append(f"{retention} = {min(n, locations)}")
    return "\n".join(lines)


def render_config(
    fonds: Fonds,
    rule: str = "dat22",
    storage: tuple[StorageConfig, ...] = DEFAULT_STORAGE,
    ingest: Mapping[str, Any] = MappingProxyType({}),
    copies: Mapping[str, int] = MappingProxyType({}),
) -> str:
    """The text of a new ``dangan.toml``: commented, so an archivist can edit it.

    ``ingest`` and ``copies`` set [ingest] settings and copy-policy numbers other than the defaults.
    """
    same_disk = all(e.type == "fs" and not Path(str(e.options.get("path", ""))).is_absolute() for e in storage)
    warning = (
        "# 注意: 以下副本都在本档案库所在的同一块磁盘上, 只防比特损坏和误删, 不防磁盘损坏。\n"
        "# 请把 copy2 / copy3 改到另一块磁盘 (绝对路径) 或 S3 (NOTE: all copies are on one disk).\n"
        if same_disk
        else ""
    )
    return f"""# dangan 档案库配置 (archive home settings)

# 全宗: 全宗号与立档单位名称. A township archive lists every fonds it holds.
[[fonds]]
code = {_toml_string(fonds.code)}
name = {_toml_string(fonds.name)}

# 档号规则: "dat22" = DA/T 22-2015 (J012-WS·2023-D30-0001), "dat13" = DA/T 13-2022 (J012-WS·2023·D30-0001),
# or a table: {{ template = "{{fonds}}-{{category}}·{{year}}-{{retention}}[-{{org}}]-{{number}}", number_width = 4 }}
[archival_code]
rule = {_toml_string(rule)}

# 归档检测设置 (ingest settings)
[ingest]
{_settings_toml(INGEST_SETTINGS, ingest)}

# 复制策略: 每份 AIP 至少保存在几个存储位置 (按配置顺序取前 N 个, 第一个为主位置).
# copy policy per 保管期限: how many locations must hold each AIP (the first N below).
[copies]
{_copies_toml(len(storage), copies)}

# 定期检测 (periodic fixity audit)
[audit]
{_settings_toml(AUDIT_SETTINGS, {})}

# 显示 (how times are shown to people; records and PREMIS keep UTC)
[display]
{_settings_toml(DISPLAY_SETTINGS, {})}

# 存储位置 (storage locations). type = "fs" (path: a directory, relative to this home or absolute)
# or "s3" (endpoint_url, bucket, optional prefix; credentials from AWS_ACCESS_KEY_ID etc. or ~/.aws).
{warning}{_storage_toml(storage)}"""


def init_home(
    home: Path,
    fonds: Fonds,
    rule: str = "dat22",
    storage: tuple[StorageConfig, ...] | None = None,
    ingest: Mapping[str, Any] = MappingProxyType({}),
    copies: Mapping[str, int] = MappingProxyType({}),
    check: NameCheck | None = None,
) -> Path:
    """Create an archive home with its ``dangan.toml`` (see :func:`render_config`); refuse to overwrite one.

    Settings the home could not load are refused before anything is written. Whether an item
    could be archived under the fonds is a rule of the metadata profiles, checked by the caller
    (``dangan.Archive.init``) first.
    """
    config = refuse_existing(home)
    text = render_config(fonds, rule, storage or DEFAULT_STORAGE, ingest, copies)
    try:  # what a later load would refuse is refused now, with nothing written
        _settings_from(home, tomllib.loads(text), config, check)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(_("设置中有 dangan.toml 无法保存的字符: {reason}").format(reason=exc)) from exc
    home.mkdir(parents=True, exist_ok=True)
    tmp = config.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, config)
    return config


def refuse_existing(home: Path) -> Path:
    """The settings file a new home would get; refused when one is there already (never overwritten)."""
    config = home / CONFIG_NAME
    if config.exists():
        raise UsageError(_("档案库已存在, 不会覆盖: {path}").format(path=config))
    return config


def load_settings(home: Path, check: NameCheck | None = None) -> Settings:
    """Read and validate ``dangan.toml`` from an archive home (``check``: see :data:`NameCheck`)."""
    path = home / CONFIG_NAME
    if not path.is_file():
        raise UsageError(
            _("这里没有档案库, 请先运行 dangan init: {home}").format(home=home),
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(_("配置文件无法解析: {reason}").format(reason=exc), path=str(path)) from exc
    return _settings_from(home, data, path, check)


def _settings_from(home: Path, data: dict[str, Any], path: Path, check: NameCheck | None = None) -> Settings:
    fonds = tuple(_fonds(entry, path) for entry in data.get("fonds", []))
    if not fonds:
        raise ConfigError(_("至少需要一个 [[fonds]] 全宗"), path=str(path))
    storage = tuple(_storage(entry, path) for entry in data.get("storage", []))
    if not storage:
        raise ConfigError(_("至少需要一个 [[storage]] 存储位置"), path=str(path))
    if len({s.name for s in storage}) != len(storage):
        raise ConfigError(_("存储位置名称重复"), path=str(path))
    ingest = _table(data, "ingest", INGEST_SETTINGS, path)
    audit = _table(data, "audit", AUDIT_SETTINGS, path)
    search = _table(data, "search", SEARCH_SETTINGS, path)
    display = _table(data, "display", DISPLAY_SETTINGS, path)
    _check_zone(display["timezone"], path)
    if ingest["active_content"] not in ACTIVE_CONTENT:
        raise ConfigError(
            _("[ingest] active_content 只能是 {choices}: {value}").format(
                choices=" / ".join(ACTIVE_CONTENT), value=ingest["active_content"]
            ),
            path=str(path),
        )
    for name in ("max_pages", "ocr_time_limit"):  # a ceiling of 0 or less would refuse or stop everything
        value = ingest[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(_("[ingest] {name} 必须是正数: {value}").format(name=name, value=value), path=str(path))
    if search["backend"] == "elasticsearch" and not search["url"]:
        raise ConfigError(_("[search] 使用 elasticsearch 时必须给出 url"), path=str(path))
    copies = _copies(data.get("copies", {}), len(storage), path)
    rule = data.get("archival_code", {}).get("rule", "dat22")
    profiles = data.get("profiles", {}).get("dir")
    settings = Settings(
        home=home,
        fonds=fonds,
        archival_code_rule=rule,
        storage=storage,
        ingest=ingest,
        profiles_dir=(home / profiles) if profiles else None,
        copies=copies,
        audit=audit,
        search=search,
        retention=dict(data.get("retention", {})),
        display=display,
    )
    if check is not None:
        check(settings, path)
    return settings


def _check_zone(name: object, path: Path) -> None:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            _("[display] timezone 不是已知时区, 例如 Asia/Shanghai: {name}").format(name=name), path=str(path)
        ) from None


def _table(data: dict[str, Any], name: str, known: tuple[Setting, ...], path: Path) -> dict[str, Any]:
    values = {s.name: s.default for s in known}
    unknown = set(data.get(name, {})) - set(values)
    if unknown:
        raise ConfigError(
            _("[{table}] 中有未知设置: {names}").format(table=name, names=", ".join(sorted(unknown))),
            path=str(path),
        )
    values.update(data.get(name, {}))
    return values


def _copies(table: dict[str, Any], locations: int, path: Path) -> dict[str, int]:
    copies = {**DEFAULT_COPIES, **table}
    for retention, n in copies.items():
        if not isinstance(n, int) or n < 1:
            raise ConfigError(_("[copies] {retention} 必须是正整数").format(retention=retention), path=str(path))
        if n > locations:
            raise ConfigError(
                _("复制策略要求 {retention} 保存 {copies} 份, 但只配置了 {locations} 个存储位置").format(
                    retention=retention, copies=n, locations=locations
                ),
                path=str(path),
                rule="dangan.toml [copies]",
            )
    return copies


def _fonds(entry: dict[str, Any], path: Path) -> Fonds:
    try:
        return Fonds(code=str(entry["code"]), name=str(entry["name"]))
    except KeyError as exc:
        raise ConfigError(_("[[fonds]] 缺少 {key}").format(key=exc.args[0]), path=str(path)) from exc


def _storage(entry: dict[str, Any], path: Path) -> StorageConfig:
    entry = dict(entry)
    try:
        name, kind = str(entry.pop("name")), str(entry.pop("type"))
    except KeyError as exc:
        raise ConfigError(_("[[storage]] 缺少 {key}").format(key=exc.args[0]), path=str(path)) from exc
    return StorageConfig(name=name, type=kind, options=entry)
