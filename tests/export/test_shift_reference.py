"""The label-shift check compares with a representative version, and an accepted shift is recorded."""

from __future__ import annotations

import json

import pytest

from schemas.config import ProjectConfig, validate_config
from tasks.errors import ConfigError
from tasks.export import versions as V
from tasks.export.reference import not_representative_because, representativeness
from tasks.export.stage import GateFailedError, export
from tasks.store import open_store
from tests.export.conftest import seed_state, set_labels

# Roughly half of the md5-hex item ids sort below '8': that half becomes ham once people have labeled.
PEOPLE_LABELED = ("UPDATE labels SET decision = 'resolved', method = 'dawid_skene', n_human = 2, "
                  "label = CASE WHEN item_id < '8' THEN 'ham' ELSE 'spam' END")


def _first_run_state(cfg: ProjectConfig) -> None:
    """What the first on-demand pipeline run leaves: 30 of 100 items auto-accepted, all one class, no human vote."""
    seed_state(cfg, 30, unresolved=70, label_of=lambda i: "spam", method=lambda i: "auto", n_human=lambda i: 0,
               agreement=lambda i: None)


def test_rule_on_recorded_numbers() -> None:
    v = validate_config({"name": "p", "labels": ["a", "b"]}).validation
    first = {"version": "v0001", "representativeness": representativeness(30, 100, 0)}
    assert not_representative_because(first, v) == (
        "v0001 covered 30% of the items (validation.shift_reference_min_coverage = 0.5) and had 0 label(s) resolved "
        "by people (validation.shift_reference_min_human_rows = 10)")
    assert not_representative_because({"version": "v0002", "representativeness": representativeness(90, 100, 60)}, v) is None
    assert not_representative_because({"version": "v0001"}, v) is None  # written before the record existed
    machines_only = v.model_copy(update={"shift_reference_min_human_rows": 0, "shift_reference_min_coverage": 0.3})
    assert not_representative_because(first, machines_only) is None


def test_first_machine_only_version_does_not_trap_later_exports(make_project) -> None:
    cfg = make_project(validation={"max_label_shift": 0.2})
    _first_run_state(cfg)
    r1 = export(cfg)
    assert r1.status == "published" and r1.manifest["label_distribution"] == {"spam": 30}
    assert r1.manifest["representativeness"] == {"rows": 30, "items": 100, "human_rows": 0, "coverage": 0.3}

    set_labels(cfg, PEOPLE_LABELED)  # people labeled the rest: about half ham, a shift of ~0.5 against v0001
    r2 = export(cfg)  # no config edit, no acceptance needed
    assert (r2.status, r2.version, r2.parent) == ("published", "v0002", "v0001")
    shift = r2.gate["checks"]["max_label_shift"]
    assert shift["success"] is None and "v0001 covered 30% of the items" in shift["note"]
    assert r2.manifest["shift_reference"] is None and "shift_accepted" not in r2.manifest

    # v0002 is representative: a genuine shift against it still fails the gate, naming the way out
    set_labels(cfg, "UPDATE labels SET label = 'spam'")
    with pytest.raises(GateFailedError, match="max_label_shift") as e:
        export(cfg)
    assert "--accept-shift" in str(e.value)
    checks = e.value.result["gate"]["checks"]
    assert checks["max_label_shift"]["success"] is False and checks["max_label_shift"]["observed"] > 0.4
    assert "vs v0002" in e.value.result["message"]
    assert V.read_latest(cfg.export_dir) == "v0002"


def test_accepted_shift_is_published_and_recorded(make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 40)
    export(cfg)
    set_labels(cfg, "UPDATE labels SET label = 'spam'")  # 50/50 -> all spam: TV 0.5
    with pytest.raises(ConfigError, match="needs a reason"):
        export(cfg, accept_shift="  ")
    r = export(cfg, accept_shift="new source: a spam-only channel was added")
    assert (r.status, r.version) == ("published", "v0002")
    acc = r.manifest["shift_accepted"]
    assert acc["reason"] == "new source: a spam-only channel was added" and acc["reference"] == "v0001"
    assert acc["observed"] == pytest.approx(0.5) and acc["threshold"] == 0.2 and acc["by"] and acc["at"]
    assert r.gate["checks"]["max_label_shift"]["note"].startswith("accepted: new source")
    assert json.loads((cfg.export_dir / "v0002" / "manifest.json").read_text())["shift_accepted"] == acc
    with open_store(cfg.db_path) as con:
        stored = con.execute("SELECT manifest FROM export_versions WHERE version = 'v0002'").fetchone()[0]
    assert json.loads(stored)["shift_accepted"] == acc
    # the accepted version is the new reference: the same labels again pass without acceptance
    set_labels(cfg, "UPDATE labels SET confidence = 0.96")
    r3 = export(cfg)
    assert r3.version == "v0003" and r3.gate["checks"]["max_label_shift"]["success"] is True
    assert "shift_accepted" not in r3.manifest


def test_acceptance_is_not_recorded_when_the_shift_is_within_bounds(make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 40)
    export(cfg)
    set_labels(cfg, "UPDATE labels SET confidence = 0.97")
    r = export(cfg, accept_shift="just in case")
    assert r.status == "published" and "shift_accepted" not in r.manifest
    assert r.gate["checks"]["max_label_shift"]["success"] is True
