"""件级元数据 XML: one item's DA/T 46 文件实体 as XML, its XSD and the way back.

The layout is fixed here and in ``dat46-item.xsd`` (same package): 聚合层次, 来源, 档号,
内容描述, 形式特征, 附注, 文件数据/文档. Optional fields are written only when non-empty,
and an absent element reads back as the field's default, so every
:class:`~archive.model.ItemMetadata` and :class:`~archive.model.FileEntry` field
survives ``item_from_xml(item_to_xml(item))`` exactly.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from lxml import etree

from archive.errors import MetadataError, UnsafeXMLError
from archive.i18n import _
from archive.model import FileEntry, Finding, Item, ItemMetadata, Verdict
from archive.xmlsafe import parse_xml

NAMESPACE = "urn:dangan:dat46:1"
XSD_NAME = "dat46-item.xsd"
_N = f"{{{NAMESPACE}}}"

# XML 1.0 Char production; lxml lets some outsiders through (U+FFFE), which would
# make a document no parser reads back, so text is checked before it is written.
_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# ItemMetadata text fields written only when non-empty: (attr, parent, element).
_OPTIONAL_TEXT = (
    ("org_code", "档号", "机构或问题"),
    ("doc_number", "内容描述", "文件编号"),
    ("author", "内容描述", "责任者"),
    ("date", "内容描述", "日期"),
    ("classification", "内容描述", "密级"),
)
_DIGESTS = (("sha256", "SHA-256"), ("sm3", "SM3"))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    """Append a namespaced child; refuse text that XML cannot carry, naming the element."""
    child = etree.SubElement(parent, _N + tag, attrib)
    if text is not None:
        bad = _NOT_XML_CHAR.search(text)
        if bad:
            raise MetadataError(
                _("元素“{tag}”含 XML 不允许的字符 U+{code}").format(tag=tag, code=f"{ord(bad.group()):04X}"),
                rule="GD-1-6",
            )
        child.text = text
    return child


def item_to_xml(item: Item) -> bytes:
    """Write an item's metadata as DA/T 46 style XML (件级元数据), UTF-8, pretty printed.

    Raises:
        MetadataError: A value contains characters XML 1.0 cannot represent
            (NUL, most control characters, lone surrogates, U+FFFE/U+FFFF).
    """
    meta = item.metadata
    root = etree.Element(_N + "文件实体", {"版本": "1"}, nsmap={None: NAMESPACE})
    _sub(root, "聚合层次", "件")
    source = _sub(root, "来源")
    _sub(source, "全宗名称", meta.fonds_name)  # a 居委会's 全宗 is named after the body itself
    _sub(source, "立档单位名称", meta.fonds_name)
    _write_code(_sub(root, "档号"), meta)
    _write_description(_sub(root, "内容描述"), meta)
    _write_form(_sub(root, "形式特征"), item)
    if meta.remarks:
        _sub(root, "附注", meta.remarks)
    data = _sub(root, "文件数据")
    for number, entry in enumerate(item.files, start=1):
        _write_file(_sub(data, "文档"), number, entry)
    body = etree.tostring(root, encoding="utf-8", xml_declaration=False, pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _year_text(year: int) -> str:
    return f"{year:04d}" if isinstance(year, int) and year >= 0 else str(year)


def _write_code(node: etree._Element, meta: ItemMetadata) -> None:
    _sub(node, "全宗号", meta.fonds_code)
    _sub(node, "年度", _year_text(meta.year))
    _sub(node, "保管期限", meta.retention)
    if meta.org_code:
        _sub(node, "机构或问题", meta.org_code)
    _sub(node, "类别号", meta.category)
    if meta.item_number is not None:
        _sub(node, "件号", str(meta.item_number))
    if meta.archival_code is not None:
        _sub(node, "档号", meta.archival_code)


def _write_description(node: etree._Element, meta: ItemMetadata) -> None:
    _sub(node, "题名", meta.title)
    for attr, parent, tag in _OPTIONAL_TEXT:
        if parent == "内容描述" and getattr(meta, attr):
            _sub(node, tag, getattr(meta, attr))


def _write_form(node: etree._Element, item: Item) -> None:
    _sub(node, "文件组合类型", "组合文件" if len(item.files) > 1 else "单件")
    _sub(node, "件数", "1")
    if item.metadata.page_count is not None:
        _sub(node, "页数", str(item.metadata.page_count))
    _sub(node, "语种", "汉语")
    _sub(node, "载体", item.metadata.carrier)


def _write_file(node: etree._Element, number: int, entry: FileEntry) -> None:
    _sub(node, "文档序号", str(number))
    _sub(node, "文档主从声明", entry.role)
    props = _sub(node, "电子属性")
    if entry.format_name is not None or entry.puid is not None or entry.mime is not None:
        fmt = _sub(props, "格式信息")
        for tag, value in (("格式名称", entry.format_name), ("PRONOM标识", entry.puid), ("MIME类型", entry.mime)):
            if value is not None:
                _sub(fmt, tag, value)
    _sub(props, "计算机文件名", entry.name)
    _sub(props, "计算机文件大小", str(entry.size), 单位="字节")
    if entry.pages is not None:
        _sub(props, "页数", str(entry.pages))
    if entry.dpi is not None or entry.color_mode is not None:
        scan = _sub(node, "数字化属性")
        if entry.dpi is not None:
            _sub(scan, "扫描分辨率", repr(float(entry.dpi)))  # repr round-trips a float exactly
        if entry.color_mode is not None:
            _sub(scan, "扫描色彩模式", entry.color_mode)
    for attr, algorithm in _DIGESTS:
        _sub(node, "数字摘要", getattr(entry, attr), 算法=algorithm)


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    raw = resources.files("archive").joinpath(XSD_NAME).read_bytes()
    return etree.XMLSchema(parse_xml(raw, name=XSD_NAME))


def _schema_errors(root: etree._Element) -> list[str]:
    schema = _schema()
    if schema.validate(root):
        return []
    return [f"第 {e.line} 行 / line {e.line}: {e.message}" for e in schema.error_log]


def validate_item_xml(data: bytes, name: str) -> list[Finding]:
    """Check item metadata XML against ``dat46-item.xsd`` (信息包元数据检测).

    Returns:
        Failures only: ``GD-3-1`` 信息包元数据可读 when the XML is unsafe or malformed,
        otherwise one ``GD-2-10`` 信息包元数据完整 finding per schema error.
    """
    try:
        root = parse_xml(data, name=name)
    except UnsafeXMLError as exc:
        return [Finding("GD-3-1", Verdict.failed, f"元数据 XML 不可读 / metadata XML unreadable: {exc.message}", name)]
    return [
        Finding("GD-2-10", Verdict.failed, f"元数据 XML 不符合 {XSD_NAME} / does not match {XSD_NAME}: {err}", name)
        for err in _schema_errors(root)
    ]


def item_from_xml(data: bytes, name: str) -> Item:
    """Read an item back from its metadata XML; the exact inverse of :func:`item_to_xml`.

    Raises:
        UnsafeXMLError: The XML is malformed or carries a DTD/entities.
        MetadataError: The XML does not match ``dat46-item.xsd``.
    """
    root = parse_xml(data, name=name)
    errors = _schema_errors(root)
    if errors:
        shown = "；".join(errors[:5])
        raise MetadataError(
            _("元数据 XML 不符合 {schema}：{errors}").format(schema=XSD_NAME, errors=shown),
            path=name,
            rule="GD-2-10",
        )
    files = sorted(root.iterfind(f"{_N}文件数据/{_N}文档"), key=lambda n: int(_text(n, "文档序号")))
    return Item(metadata=_read_metadata(root), files=[_read_file(node) for node in files])


def _find_text(node: etree._Element, path: str) -> str | None:
    """Text at a ``/``-separated path of namespaced children; None when the element is absent."""
    found = node.find("/".join(_N + part for part in path.split("/")))
    if found is None:
        return None
    return found.text or ""


def _text(node: etree._Element, path: str) -> str:
    return _find_text(node, path) or ""


def _optional_int(node: etree._Element, path: str) -> int | None:
    text = _find_text(node, path)
    return None if text is None else int(text)


def _read_metadata(root: etree._Element) -> ItemMetadata:
    optional = {attr: _text(root, f"{parent}/{tag}") for attr, parent, tag in _OPTIONAL_TEXT}
    return ItemMetadata(
        fonds_code=_text(root, "档号/全宗号"),
        fonds_name=_text(root, "来源/立档单位名称"),
        category=_text(root, "档号/类别号"),
        year=int(_text(root, "档号/年度")),
        retention=_text(root, "档号/保管期限"),
        title=_text(root, "内容描述/题名"),
        page_count=_optional_int(root, "形式特征/页数"),
        carrier=_text(root, "形式特征/载体"),
        remarks=_text(root, "附注"),
        item_number=_optional_int(root, "档号/件号"),
        archival_code=_find_text(root, "档号/档号"),
        **optional,
    )


def _read_file(node: etree._Element) -> FileEntry:
    digests = {d.get("算法"): d.text or "" for d in node.iterfind(f"{_N}数字摘要")}
    dpi = _find_text(node, "数字化属性/扫描分辨率")
    return FileEntry(
        name=_text(node, "电子属性/计算机文件名"),
        size=int(_text(node, "电子属性/计算机文件大小")),
        sha256=digests.get("SHA-256", ""),
        sm3=digests.get("SM3", ""),
        puid=_find_text(node, "电子属性/格式信息/PRONOM标识"),
        format_name=_find_text(node, "电子属性/格式信息/格式名称"),
        mime=_find_text(node, "电子属性/格式信息/MIME类型"),
        pages=_optional_int(node, "电子属性/页数"),
        dpi=None if dpi is None else float(dpi),
        color_mode=_find_text(node, "数字化属性/扫描色彩模式"),
        role=_text(node, "文档主从声明"),
    )
