"""Hostile XML is refused by archive.xmlsafe.parse_xml; well-formed plain XML is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from archive.errors import UnsafeXMLError
from archive.xmlsafe import RULE_NO_DTD, RULE_WELL_FORMED, _hardened_parser, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""

XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE 文件实体 [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<文件实体><题名>&xxe;</题名></文件实体>
""".encode()

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE 文件实体 SYSTEM "http://127.0.0.1:9/evil.dtd">
<文件实体><题名>x</题名></文件实体>
""".encode()

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY % p SYSTEM "file:///etc/passwd"> %p; ]>
<r/>
"""

INTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE r [ <!ENTITY name "振兴社区"> ]>
<r>&name;</r>
""".encode()

GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<文件实体 xmlns="urn:dangan:dat46:1"><题名>关于[社区]换届选举的通知 &amp; 附件</题名></文件实体>
""".encode()


@pytest.mark.parametrize(
    "data",
    [BILLION_LAUGHS, XXE_FILE, EXTERNAL_DTD, PARAMETER_ENTITY, INTERNAL_ENTITY],
    ids=["billion-laughs", "xxe-file", "external-dtd", "parameter-entity", "internal-entity"],
)
def test_dtd_and_entities_refused(data: bytes) -> None:
    with pytest.raises(UnsafeXMLError) as caught:
        parse_xml(data, name="元数据/item.xml")
    err = caught.value
    assert err.path == "元数据/item.xml"
    assert err.rule == RULE_NO_DTD
    assert "元数据/item.xml" in err.message
    assert "root:" not in str(err)  # /etc/passwd never leaks into the message


def test_dtd_refusal_names_file_and_rule() -> None:
    with pytest.raises(UnsafeXMLError) as caught:
        parse_xml(INTERNAL_ENTITY, name="a.xml")
    assert caught.value.rule == RULE_NO_DTD
    assert "DTD" in caught.value.message and RULE_NO_DTD in caught.value.message
    assert "拒绝" in caught.value.message and "refused" not in caught.value.message  # Chinese only, by default


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig", "gb18030"])
def test_doctype_refused_in_every_encoding(encoding: str) -> None:
    declared = encoding.replace("-sig", "").split("-le")[0].split("-be")[0].upper()
    text = f'<?xml version="1.0" encoding="{declared}"?><!DOCTYPE r [<!ENTITY a "社区">]><r>&a;</r>'
    with pytest.raises(UnsafeXMLError) as caught:
        parse_xml(text.encode(encoding), name="enc.xml")
    assert caught.value.rule == RULE_NO_DTD


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?>\n<!-- 说明 -->\n<?pi x?>\n<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
        "<!doctype r><r/>",
        '\ufeff<!DOCTYPE r PUBLIC "-//X//Y" "x.dtd"><r/>',
    ],
)
def test_doctype_after_comments_and_pis_refused(text: str) -> None:
    with pytest.raises(UnsafeXMLError) as caught:
        parse_xml(text.encode(), name="p.xml")
    assert caught.value.rule == RULE_NO_DTD


def test_parser_layer_never_reads_external_files(tmp_path: Path) -> None:
    # Defence in depth below the prolog scan: if libxml2 read this file it would
    # fail on its content ("Content error in the internal subset").
    target = tmp_path / "secret.txt"
    target.write_text("not a DTD at all", encoding="utf-8")
    doc = f'<!DOCTYPE r [ <!ENTITY % p SYSTEM "{target.as_uri()}"> %p; ]><r/>'.encode()
    root = etree.fromstring(doc, parser=_hardened_parser())
    assert root.tag == "r"


@pytest.mark.parametrize(
    "data",
    [b"", b"<a>", b"<a></b>", b"not xml", b"<a>&undefined;</a>", b"<a/><b/>", b"<a>\x00</a>"],
)
def test_malformed_refused(data: bytes) -> None:
    with pytest.raises(UnsafeXMLError) as caught:
        parse_xml(data, name="bad.xml")
    assert caught.value.rule == RULE_WELL_FORMED
    assert "格式良好" in caught.value.message and "well-formed" in caught.value.message


def test_comment_mentioning_doctype_inside_root_is_fine() -> None:
    root = parse_xml(b"<r><!-- <!DOCTYPE x> --><a>1</a></r>", name="c.xml")
    assert root.find("a").text == "1"


def test_good_document_parsed() -> None:
    root = parse_xml(GOOD, name="good.xml")
    assert root.tag == "{urn:dangan:dat46:1}文件实体"
    assert root[0].text == "关于[社区]换届选举的通知 & 附件"


def test_gb18030_declared_document_parsed() -> None:
    data = '<?xml version="1.0" encoding="GB18030"?><目录><题名>低保名册</题名></目录>'.encode("gb18030")
    assert parse_xml(data, name="目录.xml")[0].text == "低保名册"


def test_text_input_rejected() -> None:
    with pytest.raises(TypeError):
        parse_xml(GOOD.decode(), name="x.xml")  # type: ignore[arg-type]
