"""Releases of comparisons and ratings in the Label Studio format, imported into a real Label Studio 1.23.2
with the kind's labeling config: every field the config reads (`$prompt`, `$left`, `$right`; `$text`) is in
each task's data, and the exported annotations, read back from Label Studio through the kind's
`from_label_studio`, are the release's answers (a comparison shown swapped included)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from schemas.config import ProjectConfig
from tasks.export import versions as V
from tasks.export.stage import export
from tasks.export.writers import label_studio_config
from tasks.http import make_client
from tasks.kinds import kind_of
from tests.conftest import write_project
from tests.export.conftest import seed_state
from tests.labelstudio.server import import_tasks

pytestmark = pytest.mark.slow
N = 9
CHOICES = ("A", "B", "tie")


def _release_in_label_studio(url: str, token: str, cfg: ProjectConfig) -> tuple[list[dict], list[dict[str, Any]]]:
    """Export the seeded state, import its label_studio.json into a new project with the written config;
    returns (the tasks as Label Studio holds them, the release's rows)."""
    r = export(cfg)
    fmt = Path(r.path) / "formats"
    config = (fmt / "label_studio_config.xml").read_text().strip()
    assert config == label_studio_config(cfg)
    tasks = json.loads((fmt / "label_studio.json").read_text())
    imported = import_tasks(url, token, f"annoflow-release-{uuid.uuid4().hex[:8]}", config, tasks)
    assert (imported["task_count"], imported["annotation_count"]) == (N, N), imported
    with make_client(url, token, auth_scheme="Token", timeout=300) as client:
        back = client.get(f"/api/projects/{imported['project_id']}/export", params={"exportType": "JSON"}).json()
    assert len(back) == N
    for t in back:  # every object the config names reads a field the task has
        for key in re.findall(r'value="\$(\w+)"', config):
            assert isinstance(t["data"].get(key), str) and t["data"][key].strip(), (key, t["data"])
    return back, V.load_version(cfg).to_table().to_pylist()


def test_comparisons_release_imports_and_reads_back(label_studio, tmp_path: Path) -> None:
    url, token = label_studio
    cfg = write_project(tmp_path / "p", task_kind="pairwise", answer={"allow_ties": True},
                        export={"formats": ["parquet", "label_studio"]})
    kind = kind_of(cfg)

    def payload(i: int) -> str:
        return json.dumps({"prompt": f"Question {i}?", "a": f"answer a{i}", "b": f"answer b{i}",
                           "system_a": "big", "system_b": "small"})

    seed_state(cfg, N, unresolved=0, label_of=lambda i: None, payload_of=payload,
               answer=lambda i: json.dumps({"choice": CHOICES[i % 3], "swapped": False}))
    back, rows = _release_in_label_studio(url, token, cfg)
    preferred = {row["item_id"]: row["preference"]["preferred"] for row in rows}
    assert sorted(preferred.values()) == sorted({"A": "a", "B": "b", "tie": "tie"}[CHOICES[i % 3]] for i in range(N))
    swapped = set()
    for t in back:
        data = t["data"]
        item = json.loads(data["text"])
        shown = (item["b"], item["a"]) if data["swapped"] else (item["a"], item["b"])
        assert [re.sub("<[^>]+>", "", data[side]) for side in ("left", "right")] == list(shown)
        answer = kind.queue.from_label_studio(t["annotations"][0]["result"], cfg, data["text"], data=data)
        said = "tie" if answer["choice"] == "tie" else ("a" if (answer["choice"] == "A") != answer["swapped"] else "b")
        assert said == preferred[data["item_id"]], (data, answer)
        if answer["choice"] != "tie":
            swapped.add(data["swapped"])
    assert swapped == {True, False}  # both layouts read back: the exported side follows the shown order


@pytest.mark.parametrize("criteria", [["accuracy", "fluency"], []])
def test_ratings_release_imports_and_reads_back(label_studio, tmp_path: Path, criteria: list[str]) -> None:
    url, token = label_studio
    cfg = write_project(tmp_path / "p", task_kind="rating", answer={"scale": [0, 4], "criteria": criteria},
                        export={"formats": ["parquet", "label_studio"]})

    def answer(i: int) -> dict[str, Any]:
        return {"scores": {c: (i + k) % 5 for k, c in enumerate(criteria)}} if criteria else {"score": i % 5}

    seed_state(cfg, N, unresolved=0, label_of=lambda i: None, answer=lambda i: json.dumps(answer(i)))
    back, rows = _release_in_label_studio(url, token, cfg)
    want = {row["item_id"]: {u["criterion"]: u["score"] for u in row["scores"]} for row in rows}
    assert sorted(want.values(), key=str) == sorted(({c: answer(i)["scores"][c] for c in criteria} if criteria
                                                     else {None: i % 5} for i in range(N)), key=str)
    for t in back:
        got = kind_of(cfg).queue.from_label_studio(t["annotations"][0]["result"], cfg, t["data"]["text"])
        assert (got["scores"] if criteria else {None: got["score"]}) == want[t["data"]["item_id"]]
