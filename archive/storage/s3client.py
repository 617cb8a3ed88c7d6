"""S3 客户端: the one botocore client configuration of every S3 location.

Every request waits at most ``connect_timeout`` for a connection and ``read_timeout``
for each answer, and is tried at most ``max_attempts`` times (botocore's standard retry
mode), so a server that stops answering costs a bounded wait, never a hang. The limits
are per location (``[[storage]]`` options, declared in :data:`archive.config.S3_SETTINGS`);
a bounded run (``audit --max-seconds``) narrows them further with :meth:`ClientLimits.within`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.utils import parse_timestamp

from archive.config import S3_SETTINGS
from archive.errors import ConfigError
from archive.i18n import _

#: a request that got no answer in time: the server is frozen or cut off, not merely refusing
UNANSWERED = (ConnectTimeoutError, ReadTimeoutError)
MIN_WAIT = 0.5  # seconds: below this a live server on a busy machine would be taken for a dead one
_DEFAULTS = {s.name: s.default for s in S3_SETTINGS}


@dataclass(frozen=True)
class ClientLimits:
    """How long one S3 request may wait, and how often it is tried."""

    connect_timeout: float = _DEFAULTS["connect_timeout"]
    read_timeout: float = _DEFAULTS["read_timeout"]
    max_attempts: int = _DEFAULTS["max_attempts"]

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ClientLimits:
        """The limits an ``[[storage]]`` entry sets, the defaults for those it leaves out."""
        values = {name: options.get(name, default) for name, default in _DEFAULTS.items()}
        for name, value in values.items():
            whole = name == "max_attempts"
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value <= 0:
                message = (
                    _("S3 存储选项 {name} 必须是正整数: {value}")
                    if whole
                    else _("S3 存储选项 {name} 必须是正数秒: {value}")
                )
                raise ConfigError(message.format(name=name, value=repr(value)), rule="dangan.toml [[storage]]")
        return cls(float(values["connect_timeout"]), float(values["read_timeout"]), int(values["max_attempts"]))

    @property
    def longest_wait(self) -> float:
        """What one request to a server that never answers may cost (backoff between attempts aside)."""
        return self.max_attempts * (self.connect_timeout + self.read_timeout)

    def within(self, seconds: float) -> ClientLimits:
        """These limits narrowed so that one unanswered request costs about ``seconds`` at most."""
        each = max(MIN_WAIT, seconds / (2 * self.max_attempts))
        return ClientLimits(min(self.connect_timeout, each), min(self.read_timeout, each), self.max_attempts)


def client_config(limits: ClientLimits) -> Config:
    """The botocore configuration of an S3 location's client."""
    # Downloads are not checked against the server's checksum by botocore: every read
    # of an AIP file is hashed by the archive itself against the catalogue's record
    # (audit, repair, replication), which an error on the wire cannot pass either, and
    # a second SHA-256 of every byte would cost client CPU on every download.
    # A fixed User-Agent: botocore otherwise builds it from a dozen parts twice for
    # each request, about a sixth of a small GET's CPU time here.
    return Config(
        connect_timeout=limits.connect_timeout,
        read_timeout=limits.read_timeout,
        retries={"max_attempts": limits.max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"},
        response_checksum_validation="when_required",
        user_agent=f"dangan botocore/{botocore.__version__}",
    )


def make_client(endpoint_url: str, region: str, limits: ClientLimits) -> Any:
    """A boto3 S3 client for one location."""
    return _session().client("s3", endpoint_url=endpoint_url, region_name=region, config=client_config(limits))


def parse_time(value: str) -> datetime:
    """A timestamp from S3: ISO 8601 in XML bodies, the HTTP date format in headers.

    botocore hands every timestamp (each GET's Last-Modified, each object of a listing)
    to dateutil, which costs about a tenth of a small request's CPU time; the standard
    library parses these two formats at a fraction of that. Anything else goes to botocore.
    """
    try:
        if value[:4].isdigit():
            return datetime.fromisoformat(value)
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return parse_timestamp(value)


@cache
def _session() -> boto3.Session:
    """The boto3 session of every S3 location: the default one, but for :func:`parse_time`."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_time)
    return boto3.Session(botocore_session=core)
