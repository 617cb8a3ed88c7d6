"""Whole numbers read from untrusted text: bags, registers, item lists, receipts.

``int()`` takes far more than a count or a size can be: ``+5``, `` 5``, ``5_0``,
non-ASCII digits (``٥``), and any run of digits up to 4,300, past which it raises a
ValueError naming no rule. Every such number is bounded here before it is converted.
"""

from __future__ import annotations

from archive.i18n import _

#: 18 digits stay below 2^63, so every value fits SQLite's INTEGER (10^18 bytes is an exabyte)
MAX_DIGITS = 18


def whole_number(text: str, max_digits: int = MAX_DIGITS) -> int:
    """``text`` as a non-negative int: ASCII digits only, at most ``max_digits`` of them.

    Raises:
        ValueError: Anything else, with a message for people that shows at most the first 20 characters.
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    shown = (
        repr(text) if len(text) <= 20 else _("{start}… ({count} 个字符)").format(start=repr(text[:20]), count=len(text))
    )
    raise ValueError(_("不是至多 {digits} 位的非负整数: {value}").format(digits=max_digits, value=shown))
