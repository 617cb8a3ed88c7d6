"""代码表: the code lists of ``codes.toml`` (门类, 保管期限, 密级, 载体)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archive.archival_code import MIDDLE_DOT
from archive.errors import ConfigError
from archive.i18n import _

from ._toml import check_keys, read_bundled, read_file

_LIST_KEYS = {"title", "source", "extendable", "values", "legacy", "legacy_before_year", "sub"}


@dataclass(frozen=True)
class CodeList:
    """代码表: one list of codes with their Chinese names.

    Attributes:
        name: The list's key in ``codes.toml`` (``category``, ``retention`` …).
        title: Chinese name (门类, 保管期限 …).
        values: Current codes → Chinese names.
        legacy: Codes accepted only for 年度 before ``legacy_before_year`` (长期 C, 短期 D).
        legacy_before_year: First 年度 for which ``legacy`` codes are refused.
        extendable: Whether an archive's own ``codes.toml`` may add codes.
        sub: Second-level lists below one code (``ZY`` → 专门档案 DB, JS …).
    """

    name: str
    title: str
    values: Mapping[str, str]
    legacy: Mapping[str, str] = field(default_factory=dict)
    legacy_before_year: int | None = None
    extendable: bool = False
    sub: Mapping[str, CodeList] = field(default_factory=dict)
    source: str = ""

    def __contains__(self, code: object) -> bool:
        return code in self.values or code in self.legacy

    def is_legacy(self, code: str) -> bool:
        """True for a code accepted only before ``legacy_before_year``."""
        return code in self.legacy and code not in self.values

    def all_codes(self) -> list[str]:
        """Current and legacy codes, in file order."""
        return [*self.values, *(c for c in self.legacy if c not in self.values)]


@dataclass(frozen=True)
class CodeLists:
    """All code lists by name; ``codes["retention"]`` gives one :class:`CodeList`."""

    lists: Mapping[str, CodeList]

    def __getitem__(self, name: str) -> CodeList:
        try:
            return self.lists[name]
        except KeyError:
            raise ConfigError(
                _("未知的代码表“{name}”，可用：{known}").format(name=name, known="、".join(self.lists)),
                rule="codes.toml",
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.lists

    def category_problem(self, category: str) -> tuple[str, str] | None:
        """Why a 门类 code (with ``·`` levels) is not in the lists, as (中文, English); None if fine.

        A level is checked only where a list for it exists: DA/T 13-2022 lets an
        archive invent second-level codes, and the pattern check covers their form.
        """
        levels = category.split(MIDDLE_DOT)
        current: CodeList | None = self["category"]
        for depth, code in enumerate(levels):
            if current is None:
                return None
            if code not in current.values:
                known = "、".join(current.values)
                where = "门类代码" if depth == 0 else f"“{MIDDLE_DOT.join(levels[:depth])}”下的代码"
                return (
                    f"{where}“{code}”不在代码表中（可用：{known}）",
                    f"code '{code}' at level {depth + 1} is not in the code list (known: {known})",
                )
            current = current.sub.get(code)
        return None


def _build(name: str, table: Mapping[str, Any], where: str) -> CodeList:
    check_keys(table, _LIST_KEYS, f"{where} [lists.{name}]")
    values = {str(k): str(v) for k, v in table.get("values", {}).items()}
    subs = {code: _build(f"{name}.{code}", sub, where) for code, sub in table.get("sub", {}).items()}
    before = table.get("legacy_before_year")
    if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
        raise ConfigError(_("legacy_before_year 须为整数: {value}").format(value=repr(before)), path=where)
    return CodeList(
        name=name,
        title=str(table.get("title", name)),
        values=MappingProxyType(values),
        legacy=MappingProxyType({str(k): str(v) for k, v in table.get("legacy", {}).items()}),
        legacy_before_year=before,
        extendable=bool(table.get("extendable", False)),
        sub=MappingProxyType(subs),
        source=str(table.get("source", "")),
    )


def _merge(base: CodeList, extra: CodeList, where: str) -> CodeList:
    """Overlay an archive's list on the bundled one; refuse additions to closed lists."""
    added = [c for c in extra.all_codes() if c not in base]
    if added and not base.extendable:
        raise ConfigError(
            _("代码表“{title}”不可扩充，不能加入 {added}").format(title=base.title, added=added),
            path=where,
        )
    subs = dict(base.sub)
    for code, sub in extra.sub.items():
        subs[code] = _merge(subs[code], sub, where) if code in subs else sub
    return CodeList(
        name=base.name,
        title=extra.title if extra.title != extra.name else base.title,
        values=MappingProxyType({**base.values, **extra.values}),
        legacy=MappingProxyType({**base.legacy, **extra.legacy}),
        legacy_before_year=extra.legacy_before_year or base.legacy_before_year,
        extendable=base.extendable,
        sub=MappingProxyType(subs),
        source=base.source,
    )


def _lists_of(data: Mapping[str, Any], where: str) -> dict[str, CodeList]:
    check_keys(data, {"lists"}, where)
    return {name: _build(name, table, where) for name, table in data.get("lists", {}).items()}


def load_codes(extra_dir: Path | None = None) -> CodeLists:
    """Load the bundled code lists, extended by ``extra_dir/codes.toml`` if present.

    Raises:
        ConfigError: A file is unreadable, has unknown keys, or adds to a closed list.
    """
    lists = _lists_of(read_bundled("codes.toml"), "metadata_profiles/codes.toml")
    local = extra_dir / "codes.toml" if extra_dir else None
    if local is not None and local.is_file():
        for name, extra in _lists_of(read_file(local), str(local)).items():
            lists[name] = _merge(lists[name], extra, str(local)) if name in lists else extra
    for required in ("category", "retention", "classification", "carrier"):
        if required not in lists:
            raise ConfigError(_("缺少代码表“{name}”").format(name=required), rule="codes.toml")
    return CodeLists(MappingProxyType(lists))
