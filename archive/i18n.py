"""界面语言: one gettext catalogue for every message a person reads; Chinese unless English is asked for.

Messages are written in Chinese in the code and passed through :func:`_`; their English
lives in ``archive/locale/en/LC_MESSAGES/dangan.po`` (compiled to the ``.mo`` beside it,
which ``tests/test_i18n.py`` keeps in step). Click's own messages (usage errors, help
headings) are English in click; :func:`translate_click` gives them the ``click`` catalogue
in ``archive/locale/zh_CN``.

The language is English when the first of ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and
``LANG`` that is set names ``en``; Chinese otherwise, also under ``LANG=C`` or with
nothing set, since the people this archive serves read Chinese.
"""

from __future__ import annotations

import gettext
import os
import sys
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "dangan"
LANGUAGES = ("zh", "en")
_ENV = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def language() -> str:
    """``en`` or ``zh``, from the environment as gettext reads it (only the first variable set counts)."""
    for name in _ENV:
        value = os.environ.get(name)
        if value:
            return "en" if value.split(":")[0].lower().startswith("en") else "zh"
    return "zh"


@cache
def _catalogue(lang: str, domain: str) -> gettext.NullTranslations:
    # Chinese is the source language of the dangan domain: no catalogue, the text as written.
    # Click's domain is English at the source, so its catalogue is the Chinese one.
    where = {"dangan": {"en": ["en"]}, "click": {"zh": ["zh_CN"]}}[domain].get(lang)
    if where is None:
        return gettext.NullTranslations()
    return gettext.translation(domain, LOCALE_DIR, languages=where)


def _(message: str) -> str:
    """A message in the person's language (the source text is Chinese)."""
    return _catalogue(language(), DOMAIN).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalogue(language(), DOMAIN).ngettext(singular, plural, n)


def _click_gettext(message: str) -> str:
    return _catalogue(language(), "click").gettext(message)


def _click_ngettext(singular: str, plural: str, n: int) -> str:
    return _catalogue(language(), "click").ngettext(singular, plural, n)


def translate_click() -> None:
    """Point click's own messages at the ``click`` catalogue.

    Click looks its messages up with ``gettext.gettext`` in the process-wide domain, which
    follows the environment and so would leave them English under ``LANG=C``. Each click
    module imported those two functions by name; they are replaced there, once, with ones
    that follow :func:`language` like the rest of dangan.
    """
    for name, module in list(sys.modules.items()):
        if name == "click" or name.startswith("click."):
            if getattr(module, "_", None) is gettext.gettext:
                module._ = _click_gettext  # type: ignore[attr-defined]
            if getattr(module, "ngettext", None) is gettext.ngettext:
                module.ngettext = _click_ngettext  # type: ignore[attr-defined]
