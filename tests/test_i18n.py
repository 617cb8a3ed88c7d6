"""One message catalogue: Chinese by default (also under LANG=C), English when asked, click included.

The catalogues are data the tests hold to account: the compiled ``.mo`` files say what the
``.po`` files say, every message the code passes through ``_()`` has its English, and a
translation keeps every ``{placeholder}`` of its source.
"""

from __future__ import annotations

import ast
import gettext
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from archive.i18n import LOCALE_DIR, _, language
from dangan.cli import main

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("archive", "metadata_profiles", "search", "retention", "preservation", "ingest", "disposition", "dangan")
CATALOGUES = [("en", "dangan"), ("zh_CN", "click")]
ENV = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def po_messages(lang: str, domain: str) -> dict[str, str]:
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po", "rb") as f:
        catalog = read_po(f)
    out = {}
    for m in catalog:
        if m.id:
            key = m.id[0] if isinstance(m.id, tuple) else m.id
            out[key] = m.string[0] if isinstance(m.string, tuple) else m.string
    return out


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_compiled_catalogue_says_what_the_po_says(lang, domain):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)
    for msgid, msgstr in po_messages(lang, domain).items():
        assert msgstr, f"{domain}.po ({lang}) leaves {msgid!r} untranslated"
        assert compiled.gettext(msgid) == msgstr, f"{domain}.mo is stale: run pybabel compile -d archive/locale"


@pytest.mark.parametrize(("lang", "domain"), CATALOGUES)
def test_a_translation_keeps_every_placeholder(lang, domain):
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    with open(LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po", "rb") as f:
        entries = [m for m in read_po(f) if m.id]
    assert entries
    for m in entries:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        for text in m.string if isinstance(m.string, tuple) else (m.string,):
            # a plural entry is formatted with the names of both its forms, so either may appear
            assert fields(text) <= set().union(*map(fields, ids)), ids


def messages_in_code() -> list[tuple[str, int, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
                    arg = node.args[0] if node.args else None
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.append((str(path.relative_to(REPO)), node.lineno, arg.value))
    return found


def test_every_message_in_the_code_has_its_english():
    english = po_messages("en", "dangan")
    missing = [f"{where}:{line}: {text!r}" for where, line, text in messages_in_code() if text not in english]
    assert not missing, "\n".join(missing)
    assert len(messages_in_code()) >= 10  # the walk finds the calls (a walk that found none would pass)


#: Chinese followed by an English gloss in brackets: "已创建档案库 (archive home created)"
BILINGUAL = re.compile(r"[\u4e00-\u9fff][^()]*\([A-Za-z][A-Za-z ,;:'/-]{3,}\)")


def test_the_application_says_each_message_in_one_language():
    """No string in dangan/ (docstrings aside, which are for developers) carries both languages."""
    both = []
    for path in sorted((REPO / "dangan").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(doc) for n in ast.walk(tree) if (doc := _docstring(n)) is not None}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if BILINGUAL.search(node.value):
                    both.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert not both, "\n".join(both)


def _docstring(node: ast.AST) -> ast.Constant | None:
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            return first.value
    return None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "zh"),
        ({"LANG": "C"}, "zh"),
        ({"LANG": "C.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANGUAGE": "en:zh_CN", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANGUAGE": "", "LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ],
)
def test_the_language_follows_the_environment_chinese_by_default(monkeypatch, env, expected):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert language() == expected
    assert _("错误") == ("Error" if expected == "en" else "错误")


@pytest.mark.parametrize(
    ("lang", "usage", "ours"),
    [
        ("C", "错误: 没有选项 '--bogus'", "年度应为"),
        ("en_US.UTF-8", "Error: No such option '--bogus'", "a year is YYYY"),
    ],
)
def test_cli_errors_click_and_ours_in_one_language(tmp_path, monkeypatch, lang, usage, ours):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)
    home = ["--home", str(tmp_path / "h")]
    assert (
        CliRunner()
        .invoke(main, [*home, "init", "--fonds-code", "J012", "--fonds-name", "振兴社区居民委员会"])
        .exit_code
        == 0
    )
    bad_option = CliRunner().invoke(main, [*home, "list", "--bogus"])
    assert bad_option.exit_code == 2 and usage in bad_option.stderr
    bad_year = CliRunner().invoke(main, [*home, "list", "--year", "20x3"])
    assert bad_year.exit_code == 2 and ours in bad_year.stderr
