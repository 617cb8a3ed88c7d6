"""Reading and layering 保管期限表 data: the bundled file, a rules file, dangan.toml.

Each layer has the shape of ``retention/schedule.toml``. ``[schedule]`` and
``[legacy_periods]`` merge key by key; ``[[rule]]`` entries merge by ``id``: a known id
takes the new keys over the old ones (``record_types`` is replaced whole, so no stale
minimum survives), ``remove = true`` drops the rule, and a new id adds a rule.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from archive.errors import ConfigError
from archive.i18n import _

# The profile loader's readers, so both kinds of data file report alike.
from metadata_profiles import check_toml_keys as check_keys
from metadata_profiles import read_toml_file as read_file

BUNDLED = "retention/schedule.toml"
SCHEDULE_KEYS = {
    "opening_years",
    "transfer_after_years",
    "transfer_periods",
    "keep_copy_years",
    "permanent_retain_until",
}
RULE_KEYS = {
    "id",
    "title",
    "category",
    "retention",
    "counts_from",
    "record_types",
    "minimum_since",
    "opening_years",
    "opening_review",
    "transfer_after_years",
    "transfer_periods",
    "source",
    "remove",
}
LAYER_KEYS = {"schedule", "legacy_periods", "rule"}
#: dangan.toml's [retention] may also name a rules file; the caller resolves it against the home.
OVERRIDE_KEYS = LAYER_KEYS | {"file"}

#: Internal key: the file a rule was last changed in, for error messages.
WHERE = "_where"


def read_bundled() -> dict[str, Any]:
    """The schedule shipped with dangan."""
    return tomllib.loads(resources.files("retention").joinpath("schedule.toml").read_text(encoding="utf-8"))


def read_layer(path: Path) -> dict[str, Any]:
    """An archive's own rules file."""
    return read_file(path)


def merge_layers(layers: list[tuple[Mapping[str, Any], str, set[str]]]) -> dict[str, Any]:
    """Fold layers (data, where, allowed top-level keys) into one schedule table."""
    schedule: dict[str, Any] = {}
    legacy: dict[str, Any] = {}
    rules: dict[str, dict[str, Any]] = {}
    for data, where, allowed in layers:
        check_keys(data, allowed, where)
        schedule.update(_table(data, "schedule", where, SCHEDULE_KEYS))
        legacy.update(_table(data, "legacy_periods", where, None))
        entries = data.get("rule", [])
        if not isinstance(entries, list):
            raise ConfigError(_("[[rule]] 必须是表数组"), path=where)
        for entry in entries:
            _merge_rule(rules, entry, where)
    return {"schedule": schedule, "legacy_periods": legacy, "rule": list(rules.values())}


def _table(data: Mapping[str, Any], key: str, where: str, allowed: set[str] | None) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, Mapping):
        raise ConfigError(_("[{key}] 必须是表").format(key=key), path=where)
    if allowed is not None:
        check_keys(table, allowed, f"{where} [{key}]")
    return dict(table)


def _merge_rule(rules: dict[str, dict[str, Any]], entry: Any, where: str) -> None:
    if not isinstance(entry, Mapping):
        raise ConfigError(_("[[rule]] 的每一项必须是表"), path=where)
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise ConfigError(_("[[rule]] 缺少 id"), path=where, rule="schedule:rule-id")
    check_keys(entry, RULE_KEYS, f"{where} [[rule]] {rule_id}")
    if entry.get("remove"):
        if rules.pop(rule_id, None) is None:
            raise ConfigError(_("要删除的规则 {rule} 不存在").format(rule=rule_id), path=where, rule="schedule:rule-id")
        return
    merged = {**rules.get(rule_id, {}), **{k: v for k, v in entry.items() if k != "remove"}}
    merged[WHERE] = where
    rules[rule_id] = merged
