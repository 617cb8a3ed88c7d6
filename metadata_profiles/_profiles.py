"""著录方案: field definitions and per-门类 profiles, loaded from data files.

Bundled data: ``fields.toml`` and ``profiles/*.toml`` in this package. An archive may
point :func:`load_profiles` at its own directory holding any of ``codes.toml``,
``fields.toml`` and ``profiles/*.toml``; those are merged over the bundled files
(tables key by key, lists replaced), so an archive can tighten one length, add a
profile for ``ZY·DB`` or add a 门类 without copying the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archive.archival_code import MIDDLE_DOT, normalise_dots
from archive.errors import ConfigError
from archive.i18n import _
from archive.model import ItemMetadata

from ._codes import CodeLists, load_codes
from ._toml import bundled_profile_names, check_keys, deep_merge, read_bundled, read_file

FIELD_TYPES = ("text", "code", "date", "gyear", "int")
SEVERITIES = ("failure", "warning", "ignore")
_FIELD_KEYS = {
    "element",
    "m",
    "m_verified",
    "label_en",
    "type",
    "max_length",
    "required",
    "code_list",
    "pattern",
    "chars",
    "min",
    "max",
}
_CHAR_KEYS = {"newlines", "edge_whitespace", "format_chars", "lookalike_dots", "brackets", "forbidden"}
_PROFILE_KEYS = {
    "category",
    "title",
    "extends",
    "required",
    "allowed_retention",
    "allowed_carriers",
    "date_year_mismatch",
}
_ITEM_ATTRS = {f.name for f in dataclasses.fields(ItemMetadata)}


@dataclass(frozen=True)
class FieldSpec:
    """著录项定义: one metadata field, as declared in ``fields.toml``.

    ``attr`` is the :class:`~archive.model.ItemMetadata` attribute; ``element`` the
    DA/T 46 element name (题名, 责任者 …) with its number ``m`` (M22 …).
    """

    attr: str
    element: str
    m: str
    m_verified: bool
    label_en: str
    type: str
    max_length: int | None = None
    required: bool = False
    code_list: str | None = None
    pattern: str | None = None
    chars: str | None = None
    min: int | None = None
    max: int | str | None = None  # "current" = this calendar year

    @property
    def label(self) -> str:
        """Chinese name with the English label, for messages: ``题名 (title)``."""
        return f"{self.element}（{self.label_en}）"


@dataclass(frozen=True)
class CharRule:
    """特殊字符规则: what GD-1-6 accepts in one kind of field (see ``fields.toml``)."""

    name: str
    newlines: bool = False
    edge_whitespace: str = "warning"
    format_chars: str = "warning"
    lookalike_dots: str = "ignore"
    brackets: str | None = None
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """著录方案: the rules for one 门类.

    Attributes:
        category: 门类 code (``WS``, ``ZY·DB``) or ``default``.
        title: Chinese name.
        required: Attributes that must be filled (必填著录项, GD-2-4).
        fields: Field definitions with this profile's length overrides applied.
        char_rules: Character rules by name.
        allowed_retention: 保管期限 codes accepted for this 门类, or None for the whole list.
        allowed_carriers: 载体 codes accepted for this 门类, or None for the whole list.
        date_year_mismatch: Verdict when 日期's year differs from 年度.
    """

    category: str
    title: str
    required: frozenset[str]
    fields: Mapping[str, FieldSpec]
    char_rules: Mapping[str, CharRule]
    allowed_retention: frozenset[str] | None = None
    allowed_carriers: frozenset[str] | None = None
    date_year_mismatch: str = "warning"

    def is_required(self, attr: str) -> bool:
        """True when ``attr`` is a 必填著录项 in this profile."""
        return attr in self.required


@dataclass(frozen=True)
class Profiles:
    """All loaded profiles with their code lists and field definitions."""

    profiles: Mapping[str, Profile]
    codes: CodeLists
    fields: Mapping[str, FieldSpec]

    @property
    def categories(self) -> list[str]:
        """Every 门类 code known from the code list or from a profile."""
        known = list(self.codes["category"].values)
        return known + [c for c in self.profiles if c not in known and c != "default"]

    def for_category(self, category: str) -> Profile:
        """The profile for one 门类; ``ZY·DB`` falls back to ``ZY``, then to ``default``.

        Look-alike middle dots are read as U+00B7 for the lookup only; validation
        still reports them (GD-1-6).

        Raises:
            ConfigError: The first-level 门类 code is unknown.
        """
        levels = normalise_dots(category).split(MIDDLE_DOT)
        for depth in range(len(levels), 0, -1):
            found = self.profiles.get(MIDDLE_DOT.join(levels[:depth]))
            if found is not None:
                return found
        if levels[0] in self.codes["category"].values:
            return self.profiles["default"]
        raise ConfigError(
            _("未知的门类“{category}”，可用：{known}").format(category=category, known="、".join(self.categories)),
            rule="codes.toml",
        )


def _field_spec(attr: str, table: Mapping[str, Any], where: str) -> FieldSpec:
    check_keys(table, _FIELD_KEYS, f"{where} [fields.{attr}]")
    if attr not in _ITEM_ATTRS:
        raise ConfigError(_("字段“{field}”不是 ItemMetadata 的属性").format(field=attr), path=where)
    if table.get("type") not in FIELD_TYPES:
        raise ConfigError(_("字段“{field}”的 type 须为 {types}").format(field=attr, types=FIELD_TYPES), path=where)
    values = {k: v for k, v in table.items() if k != "required"}
    return FieldSpec(attr=attr, required=bool(table.get("required", False)), **values)


def _char_rule(name: str, table: Mapping[str, Any], where: str) -> CharRule:
    check_keys(table, _CHAR_KEYS, f"{where} [char_rules.{name}]")
    for key in ("edge_whitespace", "format_chars", "lookalike_dots"):
        if table.get(key, "ignore") not in SEVERITIES:
            raise ConfigError(
                _("{key} 须为 {choices}").format(key=f"char_rules.{name}.{key}", choices=SEVERITIES), path=where
            )
    values = {**table, "forbidden": tuple(table.get("forbidden", ()))}
    return CharRule(name=name, **values)


def _load_fields(extra_dir: Path | None) -> tuple[dict[str, FieldSpec], dict[str, CharRule]]:
    data, where = read_bundled("fields.toml"), "metadata_profiles/fields.toml"
    local = extra_dir / "fields.toml" if extra_dir else None
    if local is not None and local.is_file():
        data, where = deep_merge(data, read_file(local)), str(local)
    check_keys(data, {"fields", "char_rules"}, where)
    rules = {n: _char_rule(n, t, where) for n, t in data.get("char_rules", {}).items()}
    fields = {a: _field_spec(a, t, where) for a, t in data.get("fields", {}).items()}
    for spec in fields.values():
        if spec.chars is not None and spec.chars not in rules:
            raise ConfigError(
                _("字段“{field}”的字符规则“{rule}”不存在").format(field=spec.attr, rule=spec.chars),
                path=where,
            )
    return fields, rules


def _raw_profiles(extra_dir: Path | None) -> dict[str, tuple[dict[str, Any], str]]:
    """Profile tables by category; an archive's file is merged over the bundled one."""
    raw: dict[str, tuple[dict[str, Any], str]] = {}
    sources = [
        (read_bundled(f"profiles/{name}"), f"metadata_profiles/profiles/{name}") for name in bundled_profile_names()
    ]
    folder = extra_dir / "profiles" if extra_dir else None
    if folder is not None and folder.is_dir():
        sources += [(read_file(p), str(p)) for p in sorted(folder.glob("*.toml"))]
    for data, where in sources:
        check_keys(data, {"profile", "max_length"}, where)
        category = data.get("profile", {}).get("category")
        if not isinstance(category, str) or not category:
            raise ConfigError(_("[profile] 缺少 category"), path=where)
        category = normalise_dots(category)
        base = raw.get(category, ({}, where))[0]
        raw[category] = (deep_merge(base, data), where)
    if "default" not in raw:
        raise ConfigError(_("缺少 default 著录方案"), rule="profiles/default.toml")
    return raw


def _resolve(
    category: str, raw: Mapping[str, tuple[dict[str, Any], str]], seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Follow ``extends`` so a child inherits every key it does not set itself."""
    data, where = raw[category]
    parent = data.get("profile", {}).get("extends")
    if parent is None:
        return data
    if parent not in raw or parent in seen:
        why = _("循环继承") if parent in seen else _("父方案不存在")
        raise ConfigError(_("extends = “{parent}” 无效：{reason}").format(parent=parent, reason=why), path=where)
    merged = deep_merge(_resolve(parent, raw, (*seen, category)), data)
    merged["profile"] = {k: v for k, v in merged["profile"].items() if k != "extends"}
    return merged


def _build_profile(
    data: Mapping[str, Any],
    where: str,
    fields: Mapping[str, FieldSpec],
    rules: Mapping[str, CharRule],
    codes: CodeLists,
) -> Profile:
    table = data["profile"]
    check_keys(table, _PROFILE_KEYS, f"{where} [profile]")
    required = frozenset(table.get("required", [a for a, s in fields.items() if s.required]))
    _check_subset(required, set(fields), "required", where)
    lengths = data.get("max_length", {})
    _check_subset(set(lengths), set(fields), "max_length", where)
    sized = {a: dataclasses.replace(s, max_length=lengths.get(a, s.max_length)) for a, s in fields.items()}
    mismatch = table.get("date_year_mismatch", "warning")
    if mismatch not in SEVERITIES:
        raise ConfigError(_("{key} 须为 {choices}").format(key="date_year_mismatch", choices=SEVERITIES), path=where)
    return Profile(
        category=normalise_dots(table["category"]),
        title=str(table.get("title", table["category"])),
        required=required,
        fields=MappingProxyType(sized),
        char_rules=MappingProxyType(dict(rules)),
        allowed_retention=_subset(table, "allowed_retention", codes["retention"].all_codes(), where),
        allowed_carriers=_subset(table, "allowed_carriers", codes["carrier"].all_codes(), where),
        date_year_mismatch=mismatch,
    )


def _subset(table: Mapping[str, Any], key: str, universe: list[str], where: str) -> frozenset[str] | None:
    if key not in table:
        return None
    values = frozenset(table[key])
    _check_subset(values, set(universe), key, where)
    return values


def _check_subset(values: set[str] | frozenset[str], universe: set[str], key: str, where: str) -> None:
    unknown = sorted(set(values) - universe)
    if unknown:
        raise ConfigError(
            _("{key} 含未知的值 {unknown}，可用：{known}").format(key=key, unknown=unknown, known=sorted(universe)),
            path=where,
        )


def load_profiles(extra_dir: Path | None = None) -> Profiles:
    """Load code lists, field definitions and profiles (载入著录方案).

    Args:
        extra_dir: An archive's own profile directory (``codes.toml``, ``fields.toml``,
            ``profiles/*.toml``) merged over the bundled files; None for bundled only.

    Raises:
        ConfigError: A data file is unreadable or inconsistent; the message names it.
    """
    if extra_dir is not None and not Path(extra_dir).is_dir():
        raise ConfigError(_("著录方案目录不存在"), path=str(extra_dir))
    extra = Path(extra_dir) if extra_dir is not None else None
    codes = load_codes(extra)
    fields, rules = _load_fields(extra)
    for spec in fields.values():
        if spec.code_list is not None and spec.code_list not in codes:
            raise ConfigError(
                _("字段“{field}”引用的代码表“{name}”不存在").format(field=spec.attr, name=spec.code_list),
                rule="fields.toml",
            )
    raw = _raw_profiles(extra)
    built = {
        category: _build_profile(_resolve(category, raw), raw[category][1], fields, rules, codes) for category in raw
    }
    return Profiles(MappingProxyType(built), codes, MappingProxyType(fields))
