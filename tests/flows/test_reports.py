"""What the flows publish on the Prefect API: artifact keys per project, the release gate's failures first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows.common import artifact_key
from schemas.config import ProjectConfig
from tests.conftest import write_project
from tests.export.conftest import seed_state


def latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
    )

    with get_client(sync_client=True) as client:
        found = client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key])))
    assert len(found) == 1, f"no artifact with key {key!r}"
    return found[0]


@pytest.mark.parametrize("name", ["youtube-spam", "My_Set", "my.set", "my-set", "Data_2026", "_x_"])
def test_artifact_keys_fit_prefect_and_never_collide(name: str) -> None:
    key = artifact_key(ProjectConfig(name=name, labels=["a", "b"]), "export-gate")
    assert re.fullmatch(r"[a-z0-9-]+", key) and key.endswith("-export-gate")
    others = {artifact_key(ProjectConfig(name=n, labels=["a", "b"]), "export-gate")
              for n in ("youtube-spam", "My_Set", "my.set", "my-set", "Data_2026", "_x_") if n != name}
    assert key not in others


def test_two_projects_on_one_server_keep_their_own_reports(prefect_harness, tmp_path: Path) -> None:
    from flows.export import export_flow

    projects = [write_project(tmp_path / n, name=n) for n in ("spam-a", "Spam_B")]
    for cfg in projects:
        seed_state(cfg, 20)
        assert export_flow(project_dir=cfg.root, config=cfg)["status"] == "published"
    for cfg in projects:
        report = latest_artifact(artifact_key(cfg, "export-gate"))
        assert str(cfg.export_dir) in report.data, "each key holds its own project's gate report"


def test_gate_report_lists_failures_first(prefect_harness, make_project) -> None:
    from flows.export import export_flow
    from tasks.export.stage import GateFailedError

    cfg = make_project(validation={"min_gold_accuracy": 0.9})
    seed_state(cfg, 40, gold={i: cfg.labels[(i + 1) % 2] for i in range(10)})  # every gold answer contradicts its label
    with pytest.raises(GateFailedError) as ei:
        export_flow(project_dir=cfg.root, config=cfg)
    checks = ei.value.result["gate"]["checks"]
    assert len(checks) > 5 and next(iter(checks)) == "min_gold_accuracy"
    assert [c["success"] for c in checks.values()].count(False) == 1
    markdown = latest_artifact(artifact_key(cfg, "export-gate")).data
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert "**FAIL**" in rows[0] and "min_gold_accuracy" in rows[0] and all("FAIL" not in r for r in rows[1:])
    html = Path(ei.value.result["report"]).read_text()
    assert html.index("FAIL</td>") < html.index("pass</td>")
