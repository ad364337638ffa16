"""Which published version the release gate's label-shift check compares a candidate with.

A version published before people labeled anything holds only what the machines could auto-accept
(often one class) and covers a fraction of the project, so a later, complete export always "shifts"
against it. Comparing with such a version would trap the project on it. The shift is therefore
measured against the newest version in the candidate's lineage that was *representative* when it was
published: its rows covered at least `validation.shift_reference_min_coverage` of the project's items
and at least `validation.shift_reference_min_human_rows` of them were resolved from people's votes.
Each manifest records those numbers (`representativeness`); the rule is applied with the current
config, so changing the thresholds re-decides old versions too. Manifests written before the record
existed count as representative (the check compared with them before).

A shift that is real and wanted (a new data source, a corrected guideline) is accepted explicitly:
`annoflow export --accept-shift "reason"`, recorded in the manifest (`shift_accepted`) and so in the
database's `export_versions.manifest`.
"""

from __future__ import annotations

from typing import Any

from schemas.config import ProjectConfig, ValidationConfig

__all__ = ["not_representative_because", "representativeness", "shift_reference"]


def representativeness(n_rows: int, n_items: int, human_rows: int) -> dict[str, Any]:
    """What a manifest records about how much of the project a version stands for."""
    return {"rows": int(n_rows), "items": int(n_items), "human_rows": int(human_rows),
            "coverage": round(n_rows / n_items, 6) if n_items else 0.0}


def not_representative_because(manifest: dict[str, Any], v: ValidationConfig) -> str | None:
    """None when `manifest`'s version may serve as the shift reference, else why not (one phrase)."""
    rep = manifest.get("representativeness")
    if rep is None:
        return None
    short = []
    if rep["coverage"] < v.shift_reference_min_coverage:
        short.append(f"covered {rep['coverage']:.0%} of the items (validation.shift_reference_min_coverage = "
                     f"{v.shift_reference_min_coverage})")
    if rep["human_rows"] < v.shift_reference_min_human_rows:
        short.append(f"had {rep['human_rows']} label(s) resolved by people (validation.shift_reference_min_human_rows = "
                     f"{v.shift_reference_min_human_rows})")
    return f"{manifest['version']} " + " and ".join(short) if short else None


def shift_reference(cfg: ProjectConfig, parent: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest representative version in `parent`'s lineage (or None) and why newer ones were passed over."""
    from tasks.export.versions import read_manifest, version_dir

    passed_over: list[str] = []
    m = parent
    while m is not None:
        why = not_representative_because(m, cfg.validation)
        if why is None:
            return m, passed_over
        passed_over.append(why)
        up = m.get("parent")
        m = read_manifest(cfg, up) if up and (version_dir(cfg, up) / "manifest.json").is_file() else None
    return None, passed_over
