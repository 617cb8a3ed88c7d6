"""特殊字符检测 (GD-1-6): characters that must not, or should not, sit in metadata.

Text arrives from spreadsheets, OCR and copy-paste out of Word, which bring NULs,
stray control codes, private-use glyphs from old GBK fonts, zero-width spaces and
Japanese middle dots. Each kind is reported once per field, naming the code points.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from archive.archival_code import LOOKALIKE_DOTS

from ._profiles import CharRule

_NEWLINES = frozenset("\t\n\r")


@dataclass(frozen=True)
class CharProblem:
    """One kind of special character found in one value."""

    severity: str  # failure | warning
    zh: str
    en: str


def _codepoints(chars: list[str]) -> str:
    unique = list(dict.fromkeys(chars))
    shown = " ".join(f"U+{ord(c):04X}" for c in unique[:5])
    return shown + (" …" if len(unique) > 5 else "")


def _is_noncharacter(ch: str) -> bool:
    cp = ord(ch)
    return (cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF


def _always_refused(rule: CharRule) -> list[tuple[Callable[[str], bool], str, str]]:
    """Kinds that are failures whatever the rule says: they corrupt data or XML."""

    def control(ch: str) -> bool:
        if ch == "\x00" or (rule.newlines and ch in _NEWLINES):
            return False
        return unicodedata.category(ch) == "Cc"

    return [
        (lambda ch: ch == "\x00", "空字符 NUL", "NUL characters"),
        (control, "控制字符" + ("" if rule.newlines else "（含换行、制表符）"), "control characters"),
        (lambda ch: unicodedata.category(ch) == "Cs", "未配对的代理项", "unpaired surrogates"),
        (lambda ch: unicodedata.category(ch) == "Co", "私用区字符", "private-use characters"),
        (_is_noncharacter, "Unicode 非字符", "Unicode noncharacters"),
        (lambda ch: ch in rule.forbidden, "本档案馆禁用的字符", "characters this archive forbids"),
    ]


def _ruled(rule: CharRule) -> list[tuple[str, Callable[[str], bool], str, str]]:
    """Kinds whose severity the rule sets (failure, warning or ignore)."""
    return [
        (
            rule.format_chars,
            lambda ch: unicodedata.category(ch) == "Cf",
            "不可见的格式字符（零宽空格、BOM、方向控制符等）",
            "invisible format characters (zero-width space, BOM, bidi controls)",
        ),
        (
            rule.lookalike_dots,
            lambda ch: ch in LOOKALIKE_DOTS,
            "形似间隔号的字符（应使用 U+00B7“·”）",
            "look-alike middle dots; use U+00B7 '·'",
        ),
    ]


def char_problems(value: str, rule: CharRule) -> list[CharProblem]:
    """Every kind of special character in ``value`` under ``rule``; empty when clean."""
    problems: list[CharProblem] = []
    for test, zh, en in _always_refused(rule):
        found = [ch for ch in value if test(ch)]
        if found:
            problems.append(
                CharProblem("failure", f"含{zh} {_codepoints(found)}", f"contains {en} {_codepoints(found)}")
            )
    for severity, test, zh, en in _ruled(rule):
        found = [ch for ch in value if test(ch)]
        if found and severity != "ignore":
            problems.append(
                CharProblem(severity, f"含{zh}：{_codepoints(found)}", f"contains {en}: {_codepoints(found)}")
            )
    if rule.edge_whitespace != "ignore" and value != value.strip():
        problems.append(
            CharProblem(rule.edge_whitespace, "首尾含空白字符（含全角空格）", "has leading or trailing whitespace")
        )
    if rule.brackets == "paired" and not _brackets_paired(value):
        # 自拟题名 is written in [ ]; an unpaired bracket is usually a typo, not a rule break.
        problems.append(CharProblem("warning", "方括号 [ ] 不配对", "has unpaired square brackets [ ]"))
    return problems


def _brackets_paired(value: str) -> bool:
    depth = 0
    for ch in value:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
