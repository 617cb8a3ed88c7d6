"""档号规则引擎: render and parse archival codes from a template kept as data.

A rule is a template such as ``{fonds}-{category}·{year}-{retention}[-{org}]-{number}``
(DA/T 22-2015) or ``{fonds}-{category}·{year}·{retention}[·{org}]-{number}``
(DA/T 13-2022). Fields are 全宗号 ``fonds``, 门类代码 ``category`` (second-level codes
joined by U+00B7, ``ZY·DB``), 年度 ``year``, 保管期限代码 ``retention``, 机构(问题)代码
``org`` and 件号 ``number``; a part in ``[...]`` is written only when its field is
non-empty. The parser is a regex built from the same template, so whatever
:meth:`ArchivalCodeRule.render` writes, :meth:`ArchivalCodeRule.parse` reads back.

The bundled rules live in ``metadata_profiles/archival_code.toml``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from archive.errors import ConfigError, MetadataError
from archive.i18n import _
from archive.model import ItemMetadata

__all__ = [
    "MIDDLE_DOT",
    "LOOKALIKE_DOTS",
    "ArchivalCodeRule",
    "available_rules",
    "find_lookalike_dots",
    "load_rule",
    "normalise_dots",
]

#: 间隔号: the only separator allowed inside 类别号.
MIDDLE_DOT = "\u00b7"

#: Characters that look like the middle dot but are not U+00B7; CJK input methods
#: and Japanese fonts produce them, and they would split one 档号 into two.
LOOKALIKE_DOTS: Mapping[str, str] = {
    "\u30fb": "KATAKANA MIDDLE DOT",
    "\u2027": "HYPHENATION POINT",
    "\u2022": "BULLET",
    "\uff65": "HALFWIDTH KATAKANA MIDDLE DOT",
    "\u0387": "GREEK ANO TELEIA",
    "\u2219": "BULLET OPERATOR",
    "\u22c5": "DOT OPERATOR",
    "\u2e31": "WORD SEPARATOR MIDDLE DOT",
}

FIELDS = ("fonds", "category", "year", "retention", "org", "number")

#: Field patterns used when a rule gives none. They keep the separators ``-`` and
#: ``·`` out of each field (except the 类别号's own inner ``·``) so parsing is unique.
DEFAULT_PATTERNS: Mapping[str, str] = {
    "fonds": r"[A-Z0-9]+",
    "category": r"[A-Z]{2}(?:·[A-Z0-9]{1,8}){0,3}",
    "year": r"[0-9]{4}",
    "retention": r"Y|C|D[0-9]*",
    "org": r"[A-Z0-9\u3400-\u4dbf\u4e00-\u9fff]+",
    "number": r"[0-9]+",
}

_FIELD_NAMES_ZH = {
    "fonds": "全宗号",
    "category": "门类代码",
    "year": "年度",
    "retention": "保管期限代码",
    "org": "机构(问题)代码",
    "number": "件号",
}

_TABLE_KEYS = {"template", "number_width", "category_width", "patterns", "title"}


def find_lookalike_dots(text: str) -> list[str]:
    """Return the look-alike middle dots in ``text``, each as ``U+XXXX NAME``."""
    return [f"U+{ord(ch):04X} {LOOKALIKE_DOTS[ch]}" for ch in text if ch in LOOKALIKE_DOTS]


def normalise_dots(text: str) -> str:
    """Replace every look-alike middle dot with U+00B7 (for explicit clean-up at import)."""
    return "".join(MIDDLE_DOT if ch in LOOKALIKE_DOTS else ch for ch in text)


def _lookalike_error(what: str, text: str) -> MetadataError:
    found = "、".join(find_lookalike_dots(text))
    return MetadataError(
        _("{field}“{text}”含形似间隔号的字符 {found}，请使用 U+00B7 “·”。").format(
            field=_(what), text=text, found=found
        ),
        rule="GD-1-6",
    )


@dataclass(frozen=True)
class _Literal:
    text: str


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Optional:
    parts: tuple[_Literal | _Field, ...]

    @property
    def field_name(self) -> str:
        return next(p.name for p in self.parts if isinstance(p, _Field))


_Part = _Literal | _Field | _Optional
_TOKEN = re.compile(r"\{([^{}\[\]]*)\}|\[|\]|[^{}\[\]]+|.", re.DOTALL)


def _template_error(template: str, why: str) -> ConfigError:
    return ConfigError(
        _("档号模板“{template}”无效：{reason}").format(template=template, reason=why),
        rule="archival_code.template",
    )


def _parse_template(template: str) -> tuple[_Part, ...]:
    """Split a template into literals, fields and optional parts; refuse ambiguous ones."""
    if find_lookalike_dots(template):
        raise _template_error(template, _("含形似间隔号的字符，请用 U+00B7"))
    top: list[_Part] = []
    group: list[_Literal | _Field] | None = None
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token == "[":
            if group is not None:
                raise _template_error(template, _("可选部分不能嵌套"))
            group = []
        elif token == "]":
            if group is None:
                raise _template_error(template, _("多余的“]”"))
            top.append(_make_optional(template, group))
            group = None
        else:
            part = _make_part(template, match)
            (top if group is None else group).append(part)
    if group is not None:
        raise _template_error(template, _("缺少“]”"))
    _check_fields(template, top)
    return tuple(top)


def _make_part(template: str, match: re.Match[str]) -> _Literal | _Field:
    name = match.group(1)
    if name is None:
        if match.group(0) in "{}":
            raise _template_error(template, _("多余的花括号"))
        return _Literal(match.group(0))
    if name not in FIELDS:
        raise _template_error(
            template, _("未知字段 {field}，可用：{known}").format(field=f"{{{name}}}", known="、".join(FIELDS))
        )
    return _Field(name)


def _make_optional(template: str, group: list[_Literal | _Field]) -> _Optional:
    if sum(isinstance(p, _Field) for p in group) != 1:
        raise _template_error(template, _("每个可选部分 [...] 须恰好含一个字段"))
    return _Optional(tuple(group))


def _check_fields(template: str, parts: tuple[_Part, ...] | list[_Part]) -> None:
    flat: list[_Literal | _Field] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, _Optional) else [part])
    names = [p.name for p in flat if isinstance(p, _Field)]
    if len(names) != len(set(names)):
        raise _template_error(template, _("字段重复"))
    if "number" not in names:
        raise _template_error(template, _("缺少 {field}（件号）").format(field="{number}"))
    for left, right in zip(flat, flat[1:], strict=False):
        if isinstance(left, _Field) and isinstance(right, _Field):
            # Two fields with no separator cannot be told apart when parsing.
            raise _template_error(template, _("相邻字段之间须有分隔符"))


@dataclass(frozen=True)
class ArchivalCodeRule:
    """档号规则: one archival code template with its 件号 padding.

    Attributes:
        name: The rule's name (``dat22``, ``dat13`` or an archive's own).
        template: Fields in braces, optional parts in ``[...]``.
        number_width: 件号 zero padding.
        category_width: ``(门类, width)`` pairs overriding ``number_width``; a
            second-level key (``ZY·DB``) wins over its first level (``ZY``).
        patterns: ``(field, regex)`` pairs overriding :data:`DEFAULT_PATTERNS`.
        title: Chinese description.
    """

    name: str
    template: str
    number_width: int = 4
    category_width: tuple[tuple[str, int], ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()
    title: str = ""
    _parts: tuple[_Part, ...] = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _field_res: Mapping[str, re.Pattern[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _parse_template(self.template)
        widths = [self.number_width, *(w for _, w in self.category_width)]
        if any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 12 for w in widths):
            raise _template_error(self.template, _("件号位数须为 1–12 的整数"))
        pats = {**DEFAULT_PATTERNS, **dict(self.patterns)}
        unknown = set(pats) - set(FIELDS)
        if unknown:
            raise _template_error(self.template, _("未知字段 {fields}").format(fields=sorted(unknown)))
        try:
            field_res = {k: re.compile(f"(?:{v})") for k, v in pats.items()}
            regex = re.compile("".join(_part_regex(p, pats) for p in parts))
        except re.error as exc:
            raise _template_error(self.template, _("正则表达式错误 {reason}").format(reason=exc)) from None
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_regex", regex)
        object.__setattr__(self, "_field_res", field_res)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, name: str = "custom") -> ArchivalCodeRule:
        """Build a rule from a dict or TOML table (keys as in ``archival_code.toml``).

        Raises:
            ConfigError: Unknown keys, a missing or ambiguous template, bad widths.
        """
        unknown = set(table) - _TABLE_KEYS
        if unknown or "template" not in table:
            raise ConfigError(
                _("档号规则“{name}”的键无效：{keys}").format(name=name, keys=sorted(unknown) or _("缺少 template")),
                rule="archival_code.toml",
            )
        return cls(
            name=name,
            template=str(table["template"]),
            number_width=table.get("number_width", 4),
            category_width=tuple(sorted(dict(table.get("category_width", {})).items())),
            patterns=tuple(sorted(dict(table.get("patterns", {})).items())),
            title=str(table.get("title", "")),
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names the template uses, in order."""
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, _Field):
                out.append(part.name)
            elif isinstance(part, _Optional):
                out.append(part.field_name)
        return tuple(out)

    def width_for(self, category: str) -> int:
        """件号 width for one 门类: exact code, then its first level, then the default."""
        widths = dict(self.category_width)
        first = category.split(MIDDLE_DOT, 1)[0]
        return widths.get(category, widths.get(first, self.number_width))

    def render(self, meta: ItemMetadata, number: int) -> str:
        """Write the 档号 of one item (编制档号).

        Args:
            meta: The item's metadata; uses fonds_code, category, year, retention, org_code.
            number: The 件号 allocated in the item's lowest class (1-based).

        Returns:
            The archival code, e.g. ``J012-WS·2023-D30-0001``.

        Raises:
            MetadataError: A component is empty, has look-alike dots, does not match its
                pattern, or the 件号 does not fit the configured width.
        """
        values = {
            "fonds": meta.fonds_code,
            "category": meta.category,
            "year": _year_text(meta.year),
            "retention": meta.retention,
            "org": meta.org_code,
            "number": self._number_text(meta.category, number),
        }
        text = "".join(self._render_part(p, values) for p in self._parts)
        self._check_round_trip(text, values)
        return text

    def parse(self, code: str) -> dict[str, Any]:
        """Split a 档号 into its parts (解析档号); the strict inverse of :meth:`render`.

        Returns:
            ``{"fonds", "category", "year" (int), "retention", "org" ("" when absent),
            "number" (int)}``, limited to the fields the template uses (``org`` always).

        Raises:
            MetadataError: Look-alike dots, or the code does not fit the template.
        """
        if find_lookalike_dots(code):
            raise _lookalike_error("档号", code)
        match = self._regex.fullmatch(code)
        if match is None:
            raise self._mismatch(code, _("不符合模板 {template}").format(template=self.template))
        parts: dict[str, Any] = {k: v for k, v in match.groupdict().items() if v is not None}
        parts.setdefault("org", "")
        if "year" in parts:
            parts["year"] = int(parts["year"])
        digits = parts["number"]
        width = self.width_for(parts.get("category", ""))
        if len(digits) != width or int(digits) < 1:
            raise self._mismatch(code, _("件号须为 {width} 位且不为 0").format(width=width))
        parts["number"] = int(digits)
        return parts

    def is_valid(self, code: str) -> bool:
        """True when :meth:`parse` accepts ``code``."""
        try:
            self.parse(code)
        except MetadataError:
            return False
        return True

    def _mismatch(self, code: str, why: str) -> MetadataError:
        return MetadataError(
            _("档号“{code}”{reason}（规则 {rule}）。").format(code=code, reason=why, rule=self.name),
            rule="GD-1-7",
        )

    def _number_text(self, category: str, number: int) -> str:
        width = self.width_for(category)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number < 10**width:
            raise MetadataError(
                _("件号 {number} 超出范围 1–{top}（{width} 位）").format(
                    number=repr(number), top=10**width - 1, width=width
                ),
                rule="GD-1-7",
            )
        return str(number).zfill(width)

    def _render_part(self, part: _Part, values: Mapping[str, str]) -> str:
        if isinstance(part, _Literal):
            return part.text
        if isinstance(part, _Field):
            return self._checked(part.name, values[part.name])
        if not values[part.field_name]:
            return ""
        return "".join(self._render_part(p, values) for p in part.parts)

    def _checked(self, name: str, value: str) -> str:
        what = _FIELD_NAMES_ZH[name]
        if find_lookalike_dots(value):
            raise _lookalike_error(what, value)
        if not self._field_res[name].fullmatch(value):
            raise MetadataError(
                _("{field}“{value}”不能用于档号（规则 {rule}）").format(field=_(what), value=value, rule=self.name),
                rule="GD-1-7",
            )
        return value

    def _check_round_trip(self, text: str, values: Mapping[str, str]) -> None:
        # Guard against a template/pattern pair that would write a code it reads back
        # differently: a 档号 is permanent, so refuse now rather than mis-file later.
        parsed = self.parse(text)
        for name in self.fields:
            got = parsed[name]
            want = values[name]
            if name in ("year", "number"):
                want = int(want)
            if got != want:
                raise self._mismatch(text, _("无法无歧义地解析回原值"))


def _year_text(year: int) -> str:
    # No zero padding: 年度 23 is a data error, and the year pattern refuses "23" clearly.
    return str(year)


def _part_regex(part: _Part, pats: Mapping[str, str]) -> str:
    if isinstance(part, _Literal):
        return re.escape(part.text)
    if isinstance(part, _Field):
        return f"(?P<{part.name}>(?:{pats[part.name]}))"
    return "(?:" + "".join(_part_regex(p, pats) for p in part.parts) + ")?"


def _read_rules(extra_dir: Path | None) -> tuple[str, dict[str, Any]]:
    """Bundled rules, overlaid by ``extra_dir/archival_code.toml`` when it exists."""
    raw = resources.files("metadata_profiles").joinpath("archival_code.toml").read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    default, rules = data.get("default", "dat22"), dict(data.get("rules", {}))
    local = extra_dir / "archival_code.toml" if extra_dir else None
    if local is not None and local.is_file():
        try:
            extra = tomllib.loads(local.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(_("档号规则文件无法读取：{reason}").format(reason=exc), path=str(local)) from None
        default = extra.get("default", default)
        rules.update(extra.get("rules", {}))
    return default, rules


def available_rules(extra_dir: Path | None = None) -> dict[str, str]:
    """Names and titles of the rules :func:`load_rule` can select."""
    rules = _read_rules(extra_dir)[1]
    return {name: str(table.get("title", "")) for name, table in rules.items()}


def load_rule(
    name_or_table: str | Mapping[str, Any] | None = None, *, extra_dir: Path | None = None
) -> ArchivalCodeRule:
    """Select a 档号 rule by name, or build one from a table.

    Args:
        name_or_table: ``None`` for the configured default, a rule name (``dat22``,
            ``dat13``) or a dict/TOML table with ``template`` etc.
        extra_dir: An archive's profile directory whose ``archival_code.toml`` adds
            or overrides rules and may change the default.

    Raises:
        ConfigError: Unknown name or invalid rule.
    """
    if isinstance(name_or_table, Mapping):
        return ArchivalCodeRule.from_table(name_or_table)
    default, rules = _read_rules(extra_dir)
    name = name_or_table or default
    if name not in rules:
        raise ConfigError(
            _("未知的档号规则“{name}”，可用：{known}").format(name=name, known="、".join(sorted(rules))),
            rule="archival_code.toml",
        )
    return ArchivalCodeRule.from_table(rules[name], name=name)
