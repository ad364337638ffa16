"""The review loop end to end through the real annotation app on 127.0.0.1 and a real DuckDB file:
dispatch pushes review tasks → a reviewer accepts, corrects, rejects through /api/review → the annotator
reworks the rejected answer → collect → consensus counts the reviewer's votes and the reworked answer."""

from __future__ import annotations

import httpx
import pytest

from flows.consensus import consensus_report_markdown
from tasks.collect import collect
from tasks.consensus.stage import run_consensus_stage
from tasks.dispatch import dispatch
from tasks.errors import ConfigError
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items

TEXTS = {"cheap pills now": "spam", "see you at lunch": "ham", "win a free phone": "spam"}


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _q(cfg, sql, params=None):
    with open_store(cfg.db_path) as con:
        return con.execute(sql, params or []).fetchall()


def test_dispatch_review_decide_rework_collect_consensus(queue_project, app_server):
    cfg = queue_project(review={"share": 1.0}, gold={"rate": 0.0, "min_per_annotator": 0},
                        overlap={"policy": "fixed", "initial": 1, "max": 1})
    suffix = cfg.name
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as admin:
        ann_id, rev_id = f"ann-{suffix}", f"rev-{suffix}"
        ann = _client(app_server.url, admin.create_annotator(ann_id, roles=["annotator"]))
        rev = _client(app_server.url, admin.create_annotator(rev_id, roles=["reviewer"]))
    items = dict(zip(seed_items(cfg, list(TEXTS)), TEXTS))
    assert dispatch(cfg)["created_by_kind"] == {"label": 3}
    wrong = {"spam": "ham", "ham": "spam"}
    first_answer = {}
    for _ in range(3):  # the annotator gets the first text wrong
        task = ann.post(f"/api/annotate/{cfg.name}/next").json()["task"]
        truth = TEXTS[task["payload"]]
        answer = wrong[truth] if task["payload"] == "cheap pills now" else truth
        first_answer[task["payload"]] = answer
        ann.post(f"/api/annotate/leases/{task['lease_id']}/submit",
                 json={"client_id": f"c-{task['lease_id']}", "answer": answer}).raise_for_status()
    assert collect(cfg)["stored"] == 3
    pushed = dispatch(cfg)
    assert pushed["created_by_kind"] == {"review": 3} and pushed["new_to_backend"] == 3

    # the annotator can neither take a review nor see one; the reviewer gets all three with the answer to check
    status = ann.post(f"/api/review/{cfg.name}/next").status_code
    assert status == 403
    decided = {}
    for _ in range(3):
        task = rev.post(f"/api/review/{cfg.name}/next").json()["task"]
        review = task["context"]["review"]
        assert review["source_id"] == ann_id and review["origin"] == "human"
        text = task["payload"]
        assert review["answer"] == first_answer[text]
        if text == "cheap pills now":
            body = {"decision": "reject", "comment": "pills are spam", "client_id": f"r-{task['lease_id']}"}
        elif text == "win a free phone":
            body = {"decision": "correct", "answer": "spam", "comment": "sure?", "client_id": f"r-{task['lease_id']}"}
        else:
            body = {"decision": "accept", "client_id": f"r-{task['lease_id']}"}
        rev.post(f"/api/review/leases/{task['lease_id']}/submit", json=body).raise_for_status()
        decided[text] = body["decision"]
    assert rev.post(f"/api/review/{cfg.name}/next").json()["task"] is None

    # the rejection comes back to the annotator with the comment; they fix it
    rework = ann.post(f"/api/annotate/{cfg.name}/next").json()["task"]
    assert rework["context"]["rework"]["comment"] == "pills are spam"
    ann.post(f"/api/annotate/leases/{rework['lease_id']}/submit",
             json={"client_id": "fix-1", "answer": "spam"}).raise_for_status()

    report = collect(cfg)
    assert report["decisions"] == 3 and report["revised"] == 1 and report["quarantined"] == 0
    assert _q(cfg, "SELECT decision, count(*) FROM reviews GROUP BY 1 ORDER BY 1") == [
        ("accept", 1), ("correct", 1), ("reject", 1)]
    by_text = {t: i for i, t in items.items()}
    pills, phone, lunch = by_text["cheap pills now"], by_text["win a free phone"], by_text["see you at lunch"]
    assert _q(cfg, "SELECT label FROM votes WHERE source_id = ? AND item_id = ?", [f"human:{ann_id}", pills]) == [("spam",)]
    assert _q(cfg, "SELECT label FROM superseded_votes WHERE item_id = ?", [pills]) == [("ham",)]
    assert _q(cfg, "SELECT item_id, label FROM votes WHERE source_id = ? ORDER BY 1", [f"human:{rev_id}"]) == sorted(
        [(lunch, "ham"), (phone, "spam")])
    assert collect(cfg)["decisions"] == 0  # nothing applied twice

    summary = run_consensus_stage(cfg)
    [figures] = summary["review"]  # the reviewed annotator's figures, also in the consensus report artifact
    assert (figures["source_id"], figures["reviewed"], figures["accepted"], figures["corrected"], figures["rejected"]) == (
        f"human:{ann_id}", 3, 1, 1, 1)
    report_md = consensus_report_markdown(summary)
    assert "## Review" in report_md and f"| human:{ann_id} | 3 | 1 | 1 | 1 |" in report_md
    latest = dict((i, (lab, n, srcs)) for i, lab, n, srcs in _q(
        cfg, "SELECT item_id, label, n_human, sources FROM labels"
        " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1"))
    assert latest[pills][0] == "spam" and latest[pills][1] == 1  # the reworked answer, not the rejected one
    for item in (lunch, phone):
        assert latest[item][0] == TEXTS[items[item]] and latest[item][1] == 2  # the reviewer's vote counts
        assert f"human:{rev_id}" in latest[item][2]
    assert dispatch(cfg)["created"] == 0  # reviewed answers are not picked again, review votes are not reviewed
    ann.close()
    rev.close()


class _NoReviewQueue:
    """A queue without a review workflow, as Label Studio's open-source edition is: tasks pushed to it are
    answered at once by its own people (not app annotators); it does not manage annotators."""

    name = "no-review"

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def ensure_project(self, config, *a, **k):
        return config.name

    def push(self, tasks):
        from datetime import UTC, datetime

        for t in tasks.to_pylist():
            self.rows.append({"judgment_id": f"ls-{len(self.rows)}", "assignment_id": t["assignment_id"],
                              "item_id": t["item_id"], "annotator_id": "ls-person", "label": TEXTS[t["payload"]],
                              "labels": [TEXTS[t["payload"]]], "submitted_at": datetime.now(UTC), "client_id": None})
        return tasks.num_rows

    def pull(self, cursor, limit=5_000):
        import pyarrow as pa

        from tasks.queues import JUDGMENT_SCHEMA

        start = int(cursor or 0)
        page = self.rows[start:start + limit]
        return pa.Table.from_pylist(page, schema=JUDGMENT_SCHEMA), str(start + len(page))

    def cancel(self, ids):
        return 0

    def close(self):
        pass


def test_a_queue_without_review_is_reviewed_in_the_app(queue_project, app_server, monkeypatch):
    """Review tasks of a project whose queue has no review workflow go to the app named by review.app_url,
    with their own queue and cursor; without it, such a project gets no review tasks."""
    cfg = queue_project(queue={"url": "http://127.0.0.1:9"}, review={"share": 1.0, "app_url": app_server.url},
                        gold={"rate": 0.0, "min_per_annotator": 0}, overlap={"policy": "fixed", "initial": 1, "max": 1})
    items = dict(zip(seed_items(cfg, list(TEXTS)), TEXTS))
    elsewhere = _NoReviewQueue()
    monkeypatch.delenv("ANNOFLOW_REVIEW_APP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="ANNOFLOW_REVIEW_APP_TOKEN"):
        dispatch(cfg, elsewhere)
    assert _q(cfg, "SELECT count(*) FROM assignments") == [(0,)]
    monkeypatch.setenv("ANNOFLOW_REVIEW_APP_TOKEN", ADMIN_TOKEN)
    assert dispatch(cfg, elsewhere)["created_by_kind"] == {"label": 3}
    assert collect(cfg, elsewhere)["stored"] == 3
    no_app = cfg.model_copy(update={"review": cfg.review.model_copy(update={"app_url": None})})
    assert dispatch(no_app, elsewhere)["created"] == 0  # nowhere to review: nothing is picked
    report = dispatch(cfg, elsewhere)
    assert report["created_by_kind"] == {"review": 3} and report["new_to_backend"] == 3
    assert len(elsewhere.rows) == 3  # nothing more was pushed to the queue without review
    review_queue_name = f"builtin:{app_server.url}/{cfg.name}"
    assert _q(cfg, "SELECT DISTINCT queue FROM assignments WHERE kind = 'review'") == [(review_queue_name,)]
    with BuiltinBackend(app_server.url, ADMIN_TOKEN, cfg.name) as admin:
        rev = _client(app_server.url, admin.create_annotator(f"rev-{cfg.name}", roles=["reviewer"]))
    for _ in range(3):
        task = rev.post(f"/api/review/{cfg.name}/next").json()["task"]
        assert task["context"]["review"]["source_id"] == "ls-person"
        rev.post(f"/api/review/leases/{task['lease_id']}/submit",
                 json={"decision": "accept", "client_id": task["lease_id"]}).raise_for_status()
    rev.close()
    out = collect(cfg, elsewhere)
    assert out["decisions"] == 3 and out["stored"] == 3 and out["quarantined"] == 0
    assert _q(cfg, "SELECT queue FROM queue_cursors ORDER BY 1") == sorted(
        [(review_queue_name,), (f"builtin:http://127.0.0.1:9/{cfg.name}",)])
    assert _q(cfg, "SELECT count(*) FROM votes WHERE source_id = ?", [f"human:rev-{cfg.name}"]) == [(3,)]
    assert set(r[0] for r in _q(cfg, "SELECT item_id FROM reviews")) == set(items)
