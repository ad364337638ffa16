"""The span tool in the REAL annotation page, end to end: items and a machine suggestion in DuckDB,
dispatch through the built-in backend, a person in headless Chromium marking spans with the mouse,
typing types by key, fixing a suggested span, "no entities" by one key; then collect stores every
answer in `votes.answer` exactly. Screenshots: `<tmp_path>/shots/app-*.png`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from annotation_app.process import start_app
from tasks.collect import collect
from tasks.dispatch import dispatch
from tasks.queues.builtin import BuiltinBackend
from tests.browser.span_harness import CHROMIUM, browser_missing
from tests.collect.spans_project import (
    TEXTS,
    TRUTH,
    seed_spans,
    spans_of,
    spans_project,
    stored_answers,
)

pytestmark = pytest.mark.slow
ADMIN = "span-app-admin"


def at(text: str, word: str) -> tuple[int, int]:
    start = text.index(word)
    return start, start + len(word)


def test_mark_fix_and_submit_spans_in_the_real_page_then_collect(tmp_path: Path, monkeypatch) -> None:
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app.log")
    try:
        monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN)
        cfg = spans_project(tmp_path, "spans-page", {"url": app.url})
        first, second, empty = TEXTS
        # The machine suggests "Ana" as a location (wrong: a person) and "São Paulo" (right).
        seed_spans(cfg, TEXTS, {first: spans_of(first, ("Ana", "location"), ("São Paulo", "location"))})
        assert dispatch(cfg)["created"] == 3
        with BuiltinBackend(app.url, ADMIN, cfg.name) as admin:
            token = admin.create_annotator("page-person")
        reuters, new_york = at(first, "Reuters"), at(first, "New York")
        tasks = {
            first[:12]: [
                {"shot": "app-spans-suggested"},
                {"submit": True}, {"status": True},  # drafts unreviewed: Enter sends nothing
                {"drag": [reuters[0] + 1, reuters[1] - 2]}, {"status": True},  # "eute": snaps to "Reuters"
                {"shot": "app-spans-selecting"}, {"press": "3"},              # org
                {"click": at(first, "Ana")[0] + 1}, {"press": "1"},           # fix the suggestion: person
                {"click": at(first, "São Paulo")[0]}, {"press": "a"},        # accept the right one
                {"drag": [new_york[0], new_york[1]]}, {"press": "2"},         # New York: location
                {"shot": "app-spans-edited"}, {"submit": True},
            ],
            second[:12]: [
                *[a for word, key in (("Zoë", "1"), ("Bob", "1"), ("Acme", "3"), ("Berlin", "2"))
                  for a in ({"drag": list(at(second, word))}, {"press": key})],
                {"submit": True},
            ],
            empty[:12]: [{"press": "n"}],  # "no entities" submits by itself (the shell's ctx.submit)
        }
        shots = tmp_path / "shots"
        shots.mkdir()
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps(dict(url=app.url, chromium=CHROMIUM, userDataDir=str(tmp_path / "profile"),
                                        screenshotDir=str(shots), token=token, tasks=tasks)))
        run = subprocess.run(["node", str(Path(__file__).with_name("span_app.cjs")), str(plan)],
                             capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {tmp_path / 'app.log'}"
        out = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        app.stop()
    assert out["errors"] == []
    seen = {s["text"]: s for s in out["seen"]}
    assert set(seen) == set(TEXTS)
    log = seen[first]["log"]
    assert "suggested" in log[0]["status"]  # Enter on unreviewed suggestions sent nothing
    assert "Reuters" in log[1]["status"]
    for s in out["seen"]:  # the shell shows the widget's own keys under its Enter / skip line
        assert s["keysVisible"] and any(k.startswith("3 mark as org") for k in s["keys"]), s["keys"]
        assert any(k.startswith("N ") and "no entities" in k for k in s["keys"])
    for name in ("app-spans-suggested", "app-spans-selecting", "app-spans-edited", "app-spans-all-done"):
        assert (shots / f"{name}.png").stat().st_size > 5000
    app2 = start_app(tmp_path / "app.db", ADMIN, log=tmp_path / "app2.log")  # the store outlives the process
    try:
        c = collect(cfg.model_copy(update={"queue": cfg.queue.model_copy(update={"url": app2.url})}))
    finally:
        app2.stop()
    assert (c["stored"], c["quarantined"]) == (3, 0), c
    assert stored_answers(cfg) == TRUTH
