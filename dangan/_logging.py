"""Operators' logging: ``-v``/``-vv`` on stderr and ``--log-file`` for a cron job's record.

People read the command's own output (Chinese text or JSON); the log is for whoever runs
the archive: which item a batch was on, which location failed, what repair did. Each
package logs under its own name (``ingest``, ``preservation``, ``archive.storage``, …).
"""

from __future__ import annotations

import logging
from pathlib import Path

from archive.errors import UsageError
from archive.i18n import _

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
PACKAGES = ("archive", "metadata_profiles", "search", "retention", "preservation", "ingest", "disposition", "dangan")


def configure(verbosity: int = 0, log_file: Path | None = None) -> None:
    """Warnings always reach stderr; ``-v`` adds progress (INFO), ``-vv`` detail (DEBUG).

    The log file, when given, takes INFO and above whatever the verbosity, so a scheduled
    audit leaves a record without flooding its mail.
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers[0].setLevel(level)
    if log_file is not None:
        try:
            file_handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                _("无法写入日志文件: {path}: {reason}").format(path=log_file, reason=exc.strerror)
            ) from None
        file_handler.setLevel(min(level, logging.INFO))
        handlers.append(file_handler)
    for name in PACKAGES:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "dangan", False)]:
            logger.removeHandler(old)  # a second call (tests run many commands in one process) replaces them
            old.close()
        for handler in handlers:
            handler.setFormatter(formatter)
            handler.dangan = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(min(h.level for h in handlers))
