"""The rating kind's simulated raters through the real app: a crowd made by the seam's simulation facet
rates every task of a rating project, each answer passes the app's check, and the consensus facet on the
pulled judgments recovers the true scores."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from annotation_app.process import start_app
from schemas.config import ProjectConfig
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings
from tasks.kinds import get
from tasks.queues.builtin import BuiltinBackend
from tasks.queues.simulated_crowd import run_simulated_crowd

pytestmark = pytest.mark.slow
ADMIN = "rating-crowd-admin"
EMPTY = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})


def test_simulated_raters_rate_a_project_and_consensus_recovers_the_scores(tmp_path: Path) -> None:
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[tmp_path], log=tmp_path / "app.log")
    try:
        cfg = ProjectConfig.model_validate({"name": "rating-crowd", "data_kind": "text", "task_kind": "rating",
                                            "labels": ["u", "v"], "sources": [{"path": "x.jsonl"}],
                                            "queue": {"url": app.url}, "answer": {"scale": [1, 5]}})
        truth = {f"answer {i}": {"score": 1 + i % 5} for i in range(40)}
        with BuiltinBackend(app.url, ADMIN, cfg.name) as b:
            b.ensure_project(cfg)
            b.push(pa.Table.from_pylist([{"assignment_id": f"a{i}-{k}", "item_id": f"i{i:02d}", "kind": "label",
                                          "payload": f"answer {i}"} for i in range(40) for k in range(3)]))
            report = run_simulated_crowd(app.url, ADMIN, b.project_id, truth, n_annotators=5, spammer_share=0.2,
                                         accuracy=(0.85, 0.99), seed=3)
            table, _ = b.pull_all(None)
    finally:
        app.stop()
    assert report.failures == [] and report.submitted == 120 and table.num_rows == 120
    votes = pa.table({"item_id": table["item_id"], "source_id": table["annotator_id"],
                      "source_kind": pa.array(["human"] * table.num_rows), "answer": table["answer"]})
    # the first ten items are gold: they anchor the consensus on the true scale
    gold = pa.table({"item_id": [f"i{i:02d}" for i in range(10)], "answer": [json.dumps({"score": 1 + i % 5}) for i in range(10)]})
    on_gold = pc.is_in(votes["item_id"], value_set=gold["item_id"])
    out = get("rating").consensus.run(ConsensusInputs(votes=votes, scoring_votes=votes.filter(on_gold), gold=gold,
                                                      adjudications=EMPTY),
                                      ConsensusSettings(classes=("u", "v"), kind="rating", answer={"scale": [1, 5]}), {})
    got = {r["item_id"]: json.loads(r["answer"])["score"] for r in out.labels.to_pylist()}
    right = sum(got[f"i{i:02d}"] == 1 + i % 5 for i in range(10, 40))
    mean = {r["item_id"]: r["score_mean"] for r in votes.append_column("score", pa.array(
        [json.loads(a)["score"] for a in votes["answer"].to_pylist()])).group_by("item_id").aggregate([("score", "mean")]).to_pylist()}
    naive = sum(int(mean[f"i{i:02d}"] + 0.5) == 1 + i % 5 for i in range(10, 40))
    assert right >= 24 and right >= naive, (right, naive)
