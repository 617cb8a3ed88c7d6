"""Times as people read them: in the home's zone (``[display] timezone``), 北京时间 by default.

Records, PREMIS events and ``--json`` keep UTC with its offset, as evidence should; only
what a person reads on a screen or a printed page is converted here.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

#: the names people use for the zones they are likely to meet
ZONE_NAMES = {"Asia/Shanghai": "北京时间", "Asia/Hong_Kong": "香港时间", "Asia/Macau": "澳门时间", "UTC": "UTC"}


def shown(value: str | datetime | None, zone: str) -> str:
    """``2026-12-07T19:40:54+00:00`` → ``2026-12-08 03:40:54 北京时间``; a value without a zone
    or not a time at all is shown as it is (it is evidence: never guess)."""
    if value is None or value == "":
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return str(value)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M:%S} {ZONE_NAMES.get(zone, local.strftime('%z') + ' ' + zone)}"
