"""What the ``retention``, ``destroy`` and ``transfer`` command groups share.

The options they all take, and :func:`on_home`: the archive home as first argument and
every :class:`archive.errors.DanganError` turned into one message and its exit code,
as every command of :mod:`archive.cli` does. ``archive/cli.py`` imports these groups
only when one is named, so importing it here makes no cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from archive.cli import handles_errors, pass_home

AS_OF = click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="按此日期计算是否到期, 如 2026-01-01, 默认今天 (count as of this day; default: today)",
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="输出 JSON")
BY = click.option("--by", required=True, help="经办人姓名 (the named person acting)")


def on_home(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The archive home as first argument, and errors reported the CLI's way."""
    return pass_home(handles_errors(fn))
