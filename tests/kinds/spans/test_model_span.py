"""The local span model (spaCy NER from a blank pipeline, no download) trained on a WNUT17 excerpt, and the
same model served by `python -m model_server --span-model` on 127.0.0.1 through the HTTP span client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from schemas.config import ModelConfig, ProjectConfig
from tasks.errors import ServiceError, TerminalError
from tasks.kinds import get
from tasks.kinds.spans.http_spans import HttpSpanModel
from tasks.kinds.spans.span_model import (
    SpanModel,
    load_span_model,
    save_span_model,
    train_span_model,
)
from tests.model_servers import model_servers

ROOT = Path(__file__).resolve().parents[3]
EXCERPT = ROOT / "tests" / "fixtures" / "wnut17_excerpt" / "train300.jsonl"
LABELS = ["corporation", "creative-work", "group", "location", "person", "product"]
pytestmark = pytest.mark.slow


def _rows(n: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    out = []
    for line in EXCERPT.read_text(encoding="utf-8").splitlines()[:n]:
        r = json.loads(line)
        out.append((r["text"], [(s["start"], s["end"], s["label"]) for s in r["spans"]]))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[SpanModel, Path, list]:
    rows = _rows(200)
    model = train_span_model([t for t, _ in rows], [s for _, s in rows], LABELS, members=2, epochs=20, seed=3, calibration_share=0.25)
    return model, save_span_model(model, tmp_path_factory.mktemp("state")), rows


def test_learns_its_training_spans_with_calibrated_confidences(trained: tuple) -> None:
    model, _, rows = trained
    rep = model.report
    assert (rep["trained_on"], rep["held_out"], rep["members"]) == (150, 50, 2)
    # calibration: one confidence per agreement level, monotone, strictly inside (0, 1) (Beta-smoothed)
    cal = model.calibration[1:]
    assert len(cal) == 2 and cal == sorted(cal) and all(0 < c < 1 for c in cal)
    assert sum(n for _, n in rep["precision_by_agreement"].values()) == rep["calibration_spans"]
    train_rows = rows
    pred = model.predict([t for t, _ in train_rows])
    truth = {(k, s) for k, (_, sp) in enumerate(train_rows) for s in sp}
    got = {(k, (s["start"], s["end"], s["label"])) for k, p in enumerate(pred) for s in p}
    # the sentences it saw (three quarters of them) are mostly recovered exactly, and what it marks is mostly right
    assert len(got & truth) / len(got) > 0.8 and len(got & truth) / len(truth) > 0.4, (len(got & truth), len(got), len(truth))
    confs = {s["confidence"] for p in pred for s in p}
    assert confs <= {round(c, 6) for c in cal}  # a span's confidence is its agreement level's calibrated precision
    for text, p in zip([t for t, _ in train_rows], pred):
        assert all(0 <= s["start"] < s["end"] <= len(text) and s["label"] in LABELS for s in p)


def test_deterministic_and_saved_with_its_version(trained: tuple, tmp_path: Path) -> None:
    model, path, _ = trained
    assert path.name == model.version and json.loads((path.parent / "current.json").read_text())["version"] == model.version
    again = load_span_model(path.parent)  # through current.json
    texts = [t for t, _ in _rows(40)]
    assert again.version == model.version and again.predict(texts) == model.predict(texts)
    rows = _rows(40)
    a = train_span_model([t for t, _ in rows], [s for _, s in rows], LABELS, members=1, epochs=2, seed=7)
    b = train_span_model([t for t, _ in rows], [s for _, s in rows], LABELS, members=1, epochs=2, seed=7)
    assert a.version == b.version and a.members[0].to_bytes() == b.members[0].to_bytes()
    c = train_span_model([t for t, _ in rows], [s for _, s in rows], LABELS, members=1, epochs=2, seed=8)
    assert c.version != a.version


def test_votes_are_json_answers_with_confidences(trained: tuple) -> None:
    model, _, rows = trained
    batch = pa.table({"item_id": ["x", "y"], "payload": [rows[0][0], "zzz qqq"]})
    votes = model.votes(batch)
    assert votes.column("source_id").to_pylist() == [f"model:{model.name}"] * 2
    assert set(votes.column("source_version").to_pylist()) == {model.version}
    ans = [json.loads(a) for a in votes.column("answer").to_pylist()]
    assert all(set(s) == {"start", "end", "label", "confidence"} for a in ans for s in a)


def test_facet_trains_out_of_fold_and_the_run_pickles(tmp_path: Path) -> None:
    """What the stage does with a spans project's local model: train through the facet, save and load the run with
    the stage's own persistence, predict with the reloaded ensemble exactly as before."""
    from schemas.config import ModelConfig
    from tasks.prelabel.models import load_sklearn, save_sklearn

    cfg = ProjectConfig(name="ner", labels=LABELS, task_kind="spans", root=str(tmp_path),
                        answer={"model": {"members": 1, "epochs": 2, "calibration_share": 0.0}})
    rows = _rows(30)
    batch = pa.table({"item_id": [f"i{k}" for k in range(30)], "payload": [t for t, _ in rows]})
    answers = pa.array([json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in sp]) for _, sp in rows])
    facet = get("spans").prelabel
    run = facet.train("ner", "text", LABELS, batch, answers, ModelConfig(name="ner"), cfg)
    assert run.model.n_train == 30 and run.oof_item_ids == batch.column("item_id").to_pylist() and len(run.oof_probs) == 30
    again = load_sklearn(save_sklearn(run, tmp_path / "models"))
    assert again.model.version == run.model.version and again.oof_probs == run.oof_probs
    preds = facet.predict(run.model, batch, LABELS)
    assert facet.predict(again.model, batch, LABELS).equals(preds)
    assert preds.column_names == ["item_id", "answer"] and preds.num_rows == 30


@pytest.fixture(scope="module")
def servers(trained: tuple) -> Iterator[dict[str, str]]:
    _, path, _ = trained
    variants = {"plain": (), "fail2": ("--fail-first", "2"), "fail9": ("--fail-first", "9")}
    with model_servers(["--span-model", str(path.parent)], variants, timeout=90, what="span model server") as urls:
        yield urls


def _mcfg(url: str, **kw: object) -> ModelConfig:
    return ModelConfig(name="ner", kind="http", url=url, batch_size=16, concurrency=2, backoff_seconds=0.05, **kw)


def test_http_span_model_matches_the_local_model(trained: tuple, servers: dict[str, str]) -> None:
    model, _, rows = trained
    batch = pa.table({"item_id": [f"i{k}" for k in range(50)], "payload": [t for t, _ in rows[:50]]})
    with HttpSpanModel(_mcfg(servers["plain"]), LABELS) as remote:
        assert remote.version == model.version
        votes = remote.predict(batch)
    assert votes.column("item_id").to_pylist() == batch.column("item_id").to_pylist()
    assert votes.column("answer").to_pylist() == model.votes(batch).column("answer").to_pylist()


def test_http_retries_5xx_then_gives_up(trained: tuple, servers: dict[str, str]) -> None:
    batch = pa.table({"item_id": ["a"], "payload": [trained[2][0][0]]})
    with HttpSpanModel(_mcfg(servers["fail2"], retries=4), LABELS) as remote:
        assert remote.predict(batch).num_rows == 1
    assert httpx.get(servers["fail2"] + "/stats").json()["predict_calls"] == 3
    with HttpSpanModel(_mcfg(servers["fail9"], retries=2), LABELS) as remote, pytest.raises(ServiceError, match="answered 503 after 2 attempts"):
        remote.predict(batch)


def test_http_model_outside_the_label_set_is_refused(servers: dict[str, str]) -> None:
    with pytest.raises(TerminalError, match="predicts entity types .* outside the label set"):
        HttpSpanModel(_mcfg(servers["plain"]), ["person", "location"])


def test_http_bad_spans_are_refused_naming_item_and_span() -> None:
    """A third-party endpoint answering a span past the end of its text (its HTTP layer stands in for it)."""
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/info":
            return httpx.Response(200, json={"name": "other", "version": "1", "labels": ["person"]})
        items = json.loads(request.content)["items"]
        return httpx.Response(200, json={"spans": [[{"start": 0, "end": 99, "label": "person"}] for _ in items]})

    client = httpx.Client(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(answer))
    remote = HttpSpanModel(_mcfg("http://127.0.0.1:1"), ["person"], client=client)
    with pytest.raises(TerminalError, match=r"model 'ner' on item b: spans\[0\] = .* is outside the text \(length 3\)"):
        remote.predict(pa.table({"item_id": ["b"], "payload": ["Ann"]}))
