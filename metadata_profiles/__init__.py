"""著录方案与元数据: metadata profiles as data and the DA/T 70 metadata checks.

Data files shipped in this package:

- ``codes.toml``: code lists 门类 (with ZY second-level codes), 保管期限, 密级, 载体.
- ``fields.toml``: every 著录项 with its DA/T 46 element, M-number, type, length and
  character rule.
- ``profiles/*.toml``: one profile per 门类 (``default``, WS, KU, ZY, ZP, LY, LX).
- ``archival_code.toml``: 档号 rules for :func:`archive.archival_code.load_rule`.

The DA/T 46 item XML and its XSD are :mod:`archive.itemxml` (part of the AIP).

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
from ._toml import check_keys as check_toml_keys
from ._toml import read_file as read_toml_file
from ._validate import is_real_date, validate_fonds, validate_metadata

__all__ = [
    "CharRule",
    "CodeList",
    "CodeLists",
    "FieldSpec",
    "Profile",
    "Profiles",
    "check_toml_keys",
    "class_codes",
    "is_real_date",
    "load_codes",
    "load_profiles",
    "normalise_code",
    "normalise_retention",
    "read_toml_file",
    "validate_fonds",
    "validate_metadata",
]
