"""著录方案与元数据: metadata profiles as data, DA/T 70 metadata checks, DA/T 46 XML.

Data files shipped in this package (all TOML except the XSD):

- ``codes.toml``: code lists 门类 (with ZY second-level codes), 保管期限, 密级, 载体.
- ``fields.toml``: every 著录项 with its DA/T 46 element, M-number, type, length and
  character rule.
- ``profiles/*.toml``: one profile per 门类 (``default``, WS, KU, ZY, ZP, LY, LX).
- ``archival_code.toml``: 档号 rules for :func:`archive.archival_code.load_rule`.
- ``dat46-item.xsd``: the schema of :func:`item_to_xml`'s output.

An archive passes its own directory to :func:`load_profiles` to extend or override them.

Example:
    >>> profiles = load_profiles()
    >>> profile = profiles.for_category(meta.category)  # doctest: +SKIP
    >>> findings = validate_metadata(meta, profile, profiles.codes)  # doctest: +SKIP
"""

from __future__ import annotations

from ._classes import class_codes, normalise_code, normalise_retention
from ._codes import CodeList, CodeLists, load_codes
from ._profiles import CharRule, FieldSpec, Profile, Profiles, load_profiles
from ._validate import validate_fonds, validate_metadata
from ._xml import NAMESPACE, XSD_NAME, item_from_xml, item_to_xml, validate_item_xml

__all__ = [
    "NAMESPACE",
    "XSD_NAME",
    "CharRule",
    "CodeList",
    "CodeLists",
    "FieldSpec",
    "Profile",
    "Profiles",
    "item_from_xml",
    "item_to_xml",
    "class_codes",
    "load_codes",
    "load_profiles",
    "normalise_code",
    "normalise_retention",
    "validate_fonds",
    "validate_item_xml",
    "validate_metadata",
]
