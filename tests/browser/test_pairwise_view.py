"""The pairwise side-by-side view in the REAL annotation page: comparisons pushed to the app, a person in
headless Chromium judging them by keyboard only (A, B, T, R for the reason, Escape out of it, Enter, also from
the reason box; letters typed into the reason pick nothing; Enter with nothing picked is refused). The candidates are rendered
as Markdown with every HTML character escaped (a candidate carrying a script tag and an `onerror` image runs
nothing and loads nothing), long candidates scroll together, the shown order is drawn per assignment and the
stored answer says it (`swapped`). Screenshots: `<tmp_path>/shots/app-pairwise-*.png`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.browser.conftest import BrowserApp
from tests.conftest import write_project

pytestmark = pytest.mark.slow
LONG_A = "\n\n".join(f"Step {k}: **bold** move number {k} with `code`." for k in range(60))
LONG_B = "\n".join(f"- item {k} of the *other* answer" for k in range(80))
EVIL = 'Looks fine <script>window.__pwned = 1</script><img src="http://example.invalid/x.png" onerror="window.__pwned = 1">'
ITEMS = {
    "long": {"prompt": "Long: explain the plan", "a": LONG_A, "b": LONG_B, "system_a": "s1", "system_b": "s2"},
    "evil": {"prompt": "Evil: which is safer?", "a": EVIL, "b": "A plain [link](https://example.org/docs) answer.",
             "system_a": "s2", "system_b": "s3"},
    "tie": {"prompt": "Tie: say hello", "a": "Hello!", "b": "Hi!", "system_a": "s1", "system_b": "s3"},
}


def test_judge_comparisons_by_keyboard_in_the_real_page(tmp_path: Path, browser_app: BrowserApp) -> None:
    cfg = write_project(tmp_path / "project", name="pairwise-page", task_kind="pairwise", queue={"url": browser_app.url},
                        instructions="Pick the better answer.", answer={"allow_ties": True})
    admin = browser_app.project(cfg)
    rows = [{"assignment_id": f"as-{k}", "item_id": k, "kind": "label", "priority": float(-i),
             "payload": json.dumps(v), "prelabel": None} for i, (k, v) in enumerate(ITEMS.items())]
    assert admin.push(pa.Table.from_pylist(rows)) == 3
    token = admin.create_annotator("pair-person")
    tasks = {
        "Long": [{"shot": "app-pairwise-long"}, {"scroll": True}, {"scroll": "B", "top": True},
                 {"submit": True}, {"state": True},              # Enter with nothing picked: refused
                 {"press": "a"}, {"state": True}, {"shot": "app-pairwise-picked"}, {"submit": True}],
        "Evil": [{"press": "b"}, {"press": "r"}, {"type": "no markup"}, {"state": True},  # letters typed pick nothing
                 {"press": "Escape"}, {"press": "a"}, {"state": True},   # out of the reason box, keys pick again
                 {"press": "b"}, {"state": True}, {"shot": "app-pairwise-evil"}, {"submit": True}],
        "Tie": [{"press": "t"}, {"press": "r"}, {"type": "both fine"}, {"press": "Enter"}],  # Enter in the box submits
    }
    out = browser_app.drive("pairwise_app.cjs", token, tasks)
    judgments = admin.pull(None)[0].to_pylist()
    assert out["errors"] == [] and out["pwned"] is False, out
    seen = {s["prompt"]: s for s in out["seen"]}
    assert list(seen) == ["Long", "Evil", "Tie"]
    answers = {j["item_id"]: json.loads(j["answer"]) for j in judgments}
    marks = {"long": {"a": "Step 0", "b": "item 0"}, "evil": {"a": "Looks fine", "b": "A plain"},
             "tie": {"a": "Hello!", "b": "Hi!"}}
    for name, item_key in (("Long", "long"), ("Evil", "evil"), ("Tie", "tie")):
        ans, s = answers[item_key], seen[name]
        first, second = ("b", "a") if ans["swapped"] else ("a", "b")  # what the stored order says each pane showed
        assert s["first"].startswith(marks[item_key][first]) and s["second"].startswith(marks[item_key][second]), (name, ans)
    assert answers["long"]["choice"] == "A" and answers["evil"]["choice"] == "B" and answers["tie"]["choice"] == "tie"
    assert answers["evil"]["reason"] == "no markup" and "reason" not in answers["long"]
    assert answers["tie"]["reason"] == "both fine"
    # Markdown rendered, markup from the candidate shown as text
    long_html, evil_html = seen["Long"]["html"], seen["Evil"]["html"]
    assert "<strong>bold</strong>" in long_html and "<code>code</code>" in long_html and "<li>" in long_html
    assert "<script" not in evil_html and "<img" not in evil_html and "&lt;script&gt;" in evil_html
    assert '<a href="https://example.org/docs" rel="noopener noreferrer" target="_blank">link</a>' in evil_html
    # the panes scroll together: pane A at its end moves pane B to its end too, and B back at its top moves A there
    (a_pane, b_pane), (a_back, b_back) = [x["scroll"] for x in seen["Long"]["log"] if "scroll" in x]
    assert a_pane["range"] > 0 and b_pane["range"] > 0 and abs(b_pane["top"] - b_pane["range"]) <= 2, (a_pane, b_pane)
    assert b_back["top"] == 0 and a_back["top"] <= 2, (a_back, b_back)
    states = [x["state"] for x in seen["Long"]["log"] if "state" in x]
    assert states[0]["picked"] == [] and states[1] == {**states[1], "picked": ["A"], "button": ["A"]}
    typed, escaped, repicked = [x["state"] for x in seen["Evil"]["log"] if "state" in x]
    assert typed["focused"] == "reason" and typed["picked"] == ["B"]
    assert escaped["focused"] != "reason" and escaped["picked"] == ["A"] and repicked["picked"] == ["B"]
    assert any(k.startswith("A / B") for k in seen["Tie"]["keys"]) and any(k.startswith("T") for k in seen["Tie"]["keys"])
    assert {p.name for p in (tmp_path / "shots").iterdir()} == {"app-pairwise-long.png", "app-pairwise-picked.png",
                                                                 "app-pairwise-evil.png"}
