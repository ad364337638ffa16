"""Machine drafts reach people only from a recogniser whose WER on gold is at most `[answer] max_draft_wer`: the
gate's decision on hand-made measurements, and the real dispatch to the real app (the recognisers' drafts written
as the model stage writes its votes: the gate reads stored votes and gold, not a recogniser)."""

from __future__ import annotations

import json
import uuid

import pytest

from tasks.dispatch import dispatch
from tasks.dispatch.stage import suggestions_summary
from tasks.http import make_client
from tasks.kinds.transcript.draft_gate import GoldWer, measure, withheld
from tasks.prelabel.votes import register_source
from tasks.queues import BuiltinBackend
from tasks.store import open_store
from tests.conftest import ADMIN_TOKEN, seed_items

TRUTH = [f"clip {k} says the quick brown fox jumps over lazy dog number {k}" for k in range(10)]
GOLD = 5
"""The first clips are gold (not dispatched: the project mixes in no gold tasks)."""
WORK = TRUTH[GOLD:]


def _draft(text: str, wrong_every: int) -> str:
    """The text with every `wrong_every`-th word replaced (0: the text as it is)."""
    words = text.split()
    return " ".join("blah" if wrong_every and k % wrong_every == 0 else w for k, w in enumerate(words))


def test_measure_and_gate() -> None:
    m = measure([("Hello, world", "hello world"), ("a b c", "a x c d"), (None, "")], {})
    assert (m.clips, m.words, m.errors, m.exact) == (3, 6, 2, 2) and m.wer == pytest.approx(2 / 6)
    gate = withheld({"model:good": GoldWer(5, 100, 10, 2), "model:edge": GoldWer(5, 100, 30, 0),
                     "model:bad": GoldWer(5, 100, 31, 0), "model:new": GoldWer(0, 0, 0, 0)}, 0.3)
    assert sorted(gate) == ["model:bad", "model:new"]  # at the limit is still shown
    assert gate["model:bad"] == "model:bad: WER 0.310 on 5 gold clips is above max_draft_wer 0.3"
    assert "no gold clip transcribed yet" in gate["model:new"]
    line = suggestions_summary({"suggestions_shown": 3, "suggestions_withheld": 7, "withheld_sources": gate})
    assert line.startswith("Suggestions: shown on 3 pushed tasks, withheld on 7") and gate["model:bad"] in line
    assert suggestions_summary({"suggestions_shown": 3, "suggestions_withheld": 0, "withheld_sources": {}}) is None


def _project(queue_project, drafts: dict[str, tuple[int, float]], **answer):
    """A text transcript project on the session's app: the clips, gold for the first `GOLD`, and per recogniser
    (`source -> (wrong_every, confidence)`) a draft of every clip."""
    cfg = queue_project(task_kind="transcript", data_kind="text", labels=[], answer=answer,
                        queue={"show_prelabels": True}, overlap={"policy": "fixed", "initial": 1, "max": 1},
                        gold={"rate": 0.0})
    ids = seed_items(cfg, TRUTH)
    with open_store(cfg.db_path) as con:
        con.executemany("INSERT INTO gold (item_id, answer, origin) VALUES (?, ?::JSON, 'file')",
                        [(i, json.dumps({"text": t})) for i, t in zip(ids[:GOLD], TRUTH[:GOLD])])
        for sid, (every, conf) in drafts.items():
            register_source(con, sid, "model", sid.removeprefix("model:"), "v1")
            con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, source_version, answer, confidence)"
                            " VALUES (?, ?, ?, 'model', 'v1', ?::JSON, ?)",
                            [(uuid.uuid4().hex, i, sid, json.dumps({"text": _draft(t, every)}), conf) for i, t in zip(ids, TRUTH)])
    return cfg


def _suggestions(cfg) -> list[str | None]:
    """What an annotator is shown: the suggested text of every task served to them."""
    with BuiltinBackend(cfg.queue.url, ADMIN_TOKEN, cfg.name) as b:
        token = b.create_annotator(f"reader-{uuid.uuid4().hex[:6]}")
    out = []
    with make_client(cfg.queue.url, token) as c:
        while (task := c.post(f"/api/annotate/{cfg.name}/next").json()["task"]) is not None:
            s = task["suggestion"]
            out.append(None if s is None else json.loads(s["answer"])["text"] if isinstance(s["answer"], str) else s["answer"]["text"])
            c.post(f"/api/annotate/leases/{task['lease_id']}/submit", json={"client_id": uuid.uuid4().hex, "answer": {"text": "x"}})
    return out


def test_a_bad_recogniser_s_drafts_are_withheld_a_good_one_s_shown(queue_project) -> None:
    # every second word wrong (7 of 13): WER 0.538 on gold, above the default 0.3
    bad = _project(queue_project, {"model:bad": (2, 0.9)})
    r = dispatch(bad)
    assert r["created_by_kind"]["label"] == len(WORK) and (r["suggestions_shown"], r["suggestions_withheld"]) == (0, r["pushed"])
    assert r["withheld_sources"] == {"model:bad": "model:bad: WER 0.538 on 5 gold clips is above max_draft_wer 0.3"}
    # the reader is served the work (and no gold of other people: on the session's app every known annotator gets
    # gold tasks of their own, so `pushed` counts those too); none carries a draft
    seen = _suggestions(bad)
    assert len(seen) >= len(WORK) and set(seen) == {None}, seen

    # beside it a good one (the first word of 13 wrong, WER 0.077), less sure of itself: its drafts are the ones shown,
    # on gold tasks too (which the readers created above qualify on), so gold does not stand out
    both = _project(queue_project, {"model:bad": (2, 0.9), "model:good": (12, 0.5)})
    r = dispatch(both)
    assert (r["suggestions_shown"], r["suggestions_withheld"]) == (r["pushed"], 0) and list(r["withheld_sources"]) == ["model:bad"]
    shown = _suggestions(both)
    assert len(shown) >= len(WORK) and set(shown) >= {_draft(t, 12) for t in WORK}
    assert set(shown) <= {_draft(t, 12) for t in TRUTH}

    # the same bad recogniser under a looser limit is shown
    loose = _project(queue_project, {"model:bad": (2, 0.9)}, max_draft_wer=0.6)
    r = dispatch(loose)
    assert (r["suggestions_shown"], r["suggestions_withheld"], r["withheld_sources"]) == (r["pushed"], 0, {})
    assert set(_suggestions(loose)) >= {_draft(t, 2) for t in WORK}
