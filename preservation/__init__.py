"""长期保存 (preservation): keeping every AIP in as many good copies as its 保管期限 requires.

- :mod:`preservation.replicas`: 复制策略 — copies written, read back and recorded, with the
  Object Lock date the 保管期限表 gives.
- :mod:`preservation.audit`: 定期检测 — every copy checked against the catalogue's digests,
  and damage repaired from a good copy.

Above :mod:`archive` (storage, catalogue, bag) and :mod:`retention` (the schedule that sets
lock dates); used by ingest, by transfer receipt and by the application.
"""
