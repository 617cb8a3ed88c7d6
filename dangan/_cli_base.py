"""What every ``dangan`` command shares: the consoles, JSON output, the error-to-exit-code
edge, the archive passed to each command, and the options several commands take.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from archive.errors import DanganError
from archive.i18n import _

from .api import Archive

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

pass_archive = click.make_pass_decorator(Archive)

#: catalogue statuses as archivists read them
ITEM_STATES = {"archived": "在档", "destroying": "销毁中", "destroyed": "已销毁", "transferred": "已移交"}


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def finish(result: Any, as_json: bool, show: Callable[[Any], None]) -> None:
    """Print a result (``--json``: its JSON, else ``show``) and leave with the result's exit code."""
    if as_json:
        emit_json(result.to_json())
    else:
        show(result)
    sys.exit(result.exit_code)


def error_line(message: str) -> None:
    err.print(f"[red]{_('错误')}[/red] {escape(message)}", soft_wrap=True)


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DanganError into lines on stderr and its exit code: one line, or one per problem
    when the error carries them all (``details``, as a refused destruction batch does)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DanganError as exc:
            for problem in getattr(exc, "details", ()) or (exc,):
                error_line(str(problem))
            sys.exit(int(exc.exit_code))

    return wrapper


def on_archive(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The archive as first argument, and errors reported the CLI's way."""
    return pass_archive(handles_errors(fn))


AS_OF = click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help=_("按此日期计算是否到期, 如 2026-01-01, 默认今天"),
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help=_("输出 JSON"))
BY = click.option("--by", required=True, help=_("经办人姓名"))
