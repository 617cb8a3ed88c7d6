"""安全解析 XML: one hardened entry point for every XML the archive reads.

Metadata packages (DA/T 46 元数据, DA/T 48 封装包, 移交 目录 XML) arrive from outside
the archive, so they are parsed as hostile input, in three layers:

1. The prolog is scanned *before* libxml2 sees the document, and any DOCTYPE is
   refused. This matters: even with ``load_dtd=False`` libxml2 can still read the
   files named by parameter entities (``%p;``) and external DTD subsets, so "parse
   then inspect" alone would already have touched ``file:///etc/passwd``.
2. The parser never loads a DTD, never substitutes entities, never touches the
   network, keeps libxml2's size limits (no ``huge_tree``), and has a resolver that
   refuses every external load, in case layer 1 misses an encoding.
3. After parsing, a document that still shows a DTD or entity nodes is refused.

Our own formats never need a DTD, and refusing one is simpler to reason about than
trusting that every declared entity stayed inert.
"""

from __future__ import annotations

from lxml import etree

from archive.errors import UnsafeXMLError
from archive.i18n import _

__all__ = ["parse_xml", "RULE_NO_DTD", "RULE_WELL_FORMED"]

#: Rule names carried by :class:`UnsafeXMLError` so reports can group refusals.
RULE_NO_DTD = "xmlsafe:no-dtd"
RULE_WELL_FORMED = "xmlsafe:well-formed"


class _RefuseExternal(etree.Resolver):
    """Resolver that answers every external DTD/entity request with an empty document."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        return self.resolve_string("", context)


def _hardened_parser() -> etree.XMLParser:
    """Build a fresh parser; lxml parsers are not thread-safe, so none is shared."""
    parser = etree.XMLParser(
        resolve_entities=False,  # &xxe; stays a reference, never a file read
        load_dtd=False,  # an external DTD is never fetched or read
        dtd_validation=False,
        attribute_defaults=False,  # DTD defaults could inject attributes
        no_network=True,
        # collect_ids is left at its default: setting it False made libxml2 read
        # parameter-entity files in testing (lxml 6.1), and the resolver below also blocks that.
        huge_tree=False,  # keep libxml2's depth and text-size limits
        recover=False,  # a half-read document is worse than none
    )
    parser.resolvers.add(_RefuseExternal())
    return parser


# Byte signatures of the UTF-16/32 forms of "<" or a BOM: the prolog scan must decode
# these before looking for "<!DOCTYPE". Everything else is scanned as Latin-1, which
# keeps the ASCII markup characters of UTF-8, GB18030, GBK and Big5 intact (their
# multi-byte sequences never contain "<", "!", "?", "-" or ">").
_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


def _prolog_text(data: bytes) -> str:
    for signature, encoding in _WIDE_ENCODINGS:
        if data.startswith(signature):
            return data.decode(encoding, errors="replace")
    return data.decode("latin-1")


def _prolog_declares_dtd(data: bytes) -> bool:
    """True when markup other than comments and PIs precedes the root element."""
    text = _prolog_text(data).lstrip("\ufeff")
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end, width = text.find("?>", pos + 2), 2
        elif text.startswith("<!--", pos):
            end, width = text.find("-->", pos + 4), 3
        else:
            # "<!" here can only be a DOCTYPE (or garbage): refuse either way.
            return text.startswith("<!", pos)
        if end < 0:
            return False  # unterminated: the parser reports it as malformed
        pos = end + width


def parse_xml(data: bytes, *, name: str) -> etree._Element:
    """Parse untrusted XML bytes with the hardened parser (安全解析).

    Args:
        data: The raw document. Bytes, so the XML declaration decides the encoding.
        name: The file name or path, used in error messages and ``UnsafeXMLError.path``.

    Returns:
        The root element.

    Raises:
        UnsafeXMLError: The document is malformed (不是格式良好的 XML), or it carries a
            DOCTYPE/DTD, entity declarations or entity references (含 DTD/实体声明).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_xml expects bytes, so the XML declaration decides the encoding")
    data = bytes(data)
    if _prolog_declares_dtd(data):
        raise _dtd_error(name)
    try:
        root = etree.fromstring(data, parser=_hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXMLError(
            _("XML 文件“{name}”不是格式良好的 XML（规则：{rule}）：{reason}").format(
                name=name, rule=RULE_WELL_FORMED, reason=exc
            ),
            path=name,
            rule=RULE_WELL_FORMED,
        ) from None
    _refuse_dtd(root, name)
    return root


def _refuse_dtd(root: etree._Element, name: str) -> None:
    """Raise when the parsed document declared a DTD or still holds entity nodes."""
    docinfo = root.getroottree().docinfo
    declared = bool(docinfo.doctype) or docinfo.internalDTD is not None
    declared = declared or bool(docinfo.system_url) or bool(docinfo.public_id)
    # Entity nodes cannot exist without a DTD, but check anyway: cheap and explicit.
    has_entities = any(isinstance(node, etree._Entity) for node in root.iter())
    if declared or has_entities:
        raise _dtd_error(name)


def _dtd_error(name: str) -> UnsafeXMLError:
    return UnsafeXMLError(
        _(
            "XML 文件“{name}”含 DOCTYPE/DTD 或实体声明，出于安全原因拒绝解析（规则：{rule}）。"
            "请去掉 DOCTYPE 后重新提交。"
        ).format(name=name, rule=RULE_NO_DTD),
        path=name,
        rule=RULE_NO_DTD,
    )
