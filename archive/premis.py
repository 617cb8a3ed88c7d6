"""PREMIS 3 events (保管过程信息): what was done to an item, when, by whom, with what outcome.

Events written at ingest go into the AIP (``metadata/premis.xml``); events of later
audits and repairs are kept beside the AIP and in the catalogue, so the bag itself
is never rewritten.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from lxml import etree

from archive.xmlsafe import parse_xml

NS = "http://www.loc.gov/premis/v3"
_P = f"{{{NS}}}"

# PREMIS eventType values (Library of Congress controlled vocabulary) used here.
INGESTION = "ingestion"
VALIDATION = "validation"
FIXITY_CHECK = "fixity check"
DIGEST_CALCULATION = "message digest calculation"
FORMAT_IDENTIFICATION = "format identification"
REPAIR = "repair"
REPLICATION = "replication"
DELETION = "deletion"
TRANSFER = "transfer"
EXTRACTION = "extraction"  # OCR and text extraction: the derivative text beside the originals

#: the status an item has after a successful event of this type (replayed by reindex from the records)
STATUS_AFTER = {DELETION: "destroyed", TRANSFER: "transferred"}


def now_iso() -> str:
    """The current time in UTC, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_agent() -> str:
    """The person or process acting: the OS user running dangan."""
    try:
        return f"dangan/{getpass.getuser()}"
    except (KeyError, OSError):
        return "dangan"


@dataclass
class Event:
    """保管事件: one PREMIS event."""

    type: str
    detail: str
    outcome: str  # success / failure / warning
    outcome_detail: str = ""
    agent: str = field(default_factory=default_agent)
    time: str = field(default_factory=now_iso)
    location: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _P + tag)
    if text is not None:
        el.text = text
    return el


def _event_element(root: etree._Element, ev: Event, object_id: str) -> None:
    e = _sub(root, "event")
    ident = _sub(e, "eventIdentifier")
    _sub(ident, "eventIdentifierType", "UUID")
    _sub(ident, "eventIdentifierValue", ev.id)
    _sub(e, "eventType", ev.type)
    _sub(e, "eventDateTime", ev.time)
    _sub(_sub(e, "eventDetailInformation"), "eventDetail", ev.detail)
    out = _sub(e, "eventOutcomeInformation")
    _sub(out, "eventOutcome", ev.outcome)
    if ev.outcome_detail:
        _sub(_sub(out, "eventOutcomeDetail"), "eventOutcomeDetailNote", ev.outcome_detail)
    agent = _sub(e, "linkingAgentIdentifier")
    _sub(agent, "linkingAgentIdentifierType", "local")
    _sub(agent, "linkingAgentIdentifierValue", ev.agent)
    obj = _sub(e, "linkingObjectIdentifier")
    _sub(obj, "linkingObjectIdentifierType", "档号")
    _sub(obj, "linkingObjectIdentifierValue", object_id)
    if ev.location:
        _sub(obj, "linkingObjectRole", f"location:{ev.location}")


def events_to_xml(events: list[Event], object_id: str) -> bytes:
    """A ``premis`` document holding the events about ``object_id`` (the 档号)."""
    root = etree.Element(_P + "premis", nsmap={"premis": NS}, version="3.0")
    for ev in events:
        _event_element(root, ev, object_id)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _text(el: etree._Element, path: str) -> str:
    found = el.find(path, {"premis": NS})
    return (found.text or "") if found is not None else ""


def events_from_xml(data: bytes, name: str) -> list[Event]:
    """Read back the events of a ``premis`` document (hardened parser)."""
    root = parse_xml(data, name=name)
    events = []
    for e in root.findall("premis:event", {"premis": NS}):
        role = _text(e, "premis:linkingObjectIdentifier/premis:linkingObjectRole")
        events.append(
            Event(
                id=_text(e, "premis:eventIdentifier/premis:eventIdentifierValue"),
                type=_text(e, "premis:eventType"),
                time=_text(e, "premis:eventDateTime"),
                detail=_text(e, "premis:eventDetailInformation/premis:eventDetail"),
                outcome=_text(e, "premis:eventOutcomeInformation/premis:eventOutcome"),
                outcome_detail=_text(
                    e, "premis:eventOutcomeInformation/premis:eventOutcomeDetail/premis:eventOutcomeDetailNote"
                ),
                agent=_text(e, "premis:linkingAgentIdentifier/premis:linkingAgentIdentifierValue"),
                location=role.removeprefix("location:"),
            )
        )
    return events
