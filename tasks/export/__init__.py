"""Validated, versioned dataset exports: rows with lineage, release gate, immutable versions, diffs, loading.

Public entry points: `export(cfg)` (stage.py), `load_version(cfg, version)` and `list_versions(cfg)`
(versions.py), `diff_versions(cfg, a, b)` (diff.py), `trace_item(cfg, item_id)` (trace.py).
"""
