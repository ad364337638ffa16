"""Language models as annotators against the chat-completions stand-in (`python -m model_server --chat-standin`,
a real HTTP server on 127.0.0.1 answering from keyword rules, not a language model), on real DuckDB projects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from model_server.chat_standin import StandinRules, parse_rules
from schemas.config import ModelConfig, ProjectConfig
from tasks.errors import ConfigError, ServiceError, TerminalError
from tasks.ingest.stage import import_gold, ingest_source, register_project
from tasks.kinds import get
from tasks.kinds.protocol import AnswerError
from tasks.prelabel.llm_stage import apply_llm
from tasks.prelabel.stage import combine_and_route, lf_report
from tasks.status import collect_status
from tests.conftest import write_project
from tests.model_servers import chat_calls as _calls
from tests.model_servers import chat_standins

pytestmark = pytest.mark.slow

RULES = "spam=check,subscribe,free,money;ham=song,love,funny,voice"
TICKETS = "billing=refund,invoice;bug=crash,error;feature=dark mode,calendar"
SERVERS = {
    "single": ("--rules", RULES, "--accuracy", "0.8", "--seed", "3", "--fence"),
    "faulty": ("--rules", RULES, "--malformed-on", "wow", "--html-on", "login", "--slow-on", "slowly", "--delay", "4",
               "--rate-limit-on", "chorus", "--retry-after", "0.2", "--unknown-label-on", "eggs", "--error-on", "gateway"),
    "throttled": ("--rules", RULES, "--rate-limit-on", "chorus", "--retry-after", "0.2", "--rate-limit-times", "50"),
    "multi": ("--rules", TICKETS),
    "spans": ("--rules", "person=Alice,Bob;location=Paris,Lyon"),
    "keyed": ("--rules", RULES, "--api-key", "sk-test-123"),
}


@pytest.fixture(scope="module")
def standin() -> Iterator[dict[str, str]]:
    with chat_standins(SERVERS) as urls:
        yield urls


def _single_rows() -> list[tuple[str, str]]:
    words = [(w, label) for label, ws in parse_rules(RULES).items() for w in ws]
    return [(f"comment {k}: {words[k % len(words)][0]} here", words[k % len(words)][1]) for k in range(80)]


def _project(root: Path, texts: list[str], model: dict, gold: list[tuple[str, str]] | None = None, **kw) -> ProjectConfig:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    extra = {}
    if gold:
        (root / "gold.csv").write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in gold))
        extra["gold"] = {"path": "gold.csv"}
    cfg = write_project(root, sources=[{"path": "data/items.jsonl"}], prelabel={"models": [{"name": "llm", "kind": "llm", **model}]},
                        **extra, **kw)
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    if gold:
        import_gold(cfg)
    return cfg


def _llm(url: str, **kw) -> dict:
    return {"url": url + "/v1", "model": "chat-standin", "concurrency": 4, "backoff_seconds": 0.05, **kw}


def _votes(cfg: ProjectConfig, col: str = "label") -> dict[str, object]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return dict(con.execute(f"SELECT i.payload, v.{col} FROM votes v JOIN items i USING (item_id) WHERE v.source_id = 'model:llm'").fetchall())


def _quarantine(cfg: ProjectConfig) -> dict[str, tuple[str, str, str]]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return {p: (r, f, d) for p, r, f, d in con.execute(
            "SELECT i.payload, q.reason, q.field, q.detail FROM quarantine q JOIN items i ON i.item_id = q.raw"
            " WHERE q.stage = 'prelabel.model.llm'").fetchall()}


def test_single_label_answers_cost_and_gold_score(tmp_path: Path, standin: dict[str, str]) -> None:
    url = standin["single"]
    rows = _single_rows()
    cfg = _project(tmp_path / "p", [t for t, _ in rows], _llm(url, price_per_1k_input_tokens=0.5, price_per_1k_output_tokens=2.0),
                   gold=rows[:40])
    rules = StandinRules(parse_rules(RULES), accuracy=0.8, seed=3)
    before = _calls(url)
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert (r["calls"], r["inserted"], r["quarantined"]) == (80, 80, 0)  # answers in ```json fences with prose were read
    assert _calls(url) - before == 80
    assert _votes(cfg) == {t: rules.single(t) for t, _ in rows}
    assert r["input_tokens"] > 0 and r["output_tokens"] > 0
    assert r["cost"] == pytest.approx(r["input_tokens"] / 1000 * 0.5 + r["output_tokens"] / 1000 * 2.0, abs=1e-6)

    again = apply_llm(cfg, cfg.prelabel.models[0])  # idempotent: nothing asked, nothing paid twice
    assert (again["calls"], again["inserted"], again["cost"]) == (0, 0, 0.0)
    assert _calls(url) - before == 80

    right = sum(not rules.wrong(t) for t, _ in rows[:40])
    assert 20 < right < 40  # the stand-in's measured accuracy on gold is what the source is scored at
    [src] = [s for s in lf_report(cfg) if s["source_id"] == "model:llm"]
    assert (src["n_gold"], src["gold_accuracy"]) == (40, pytest.approx(right / 40, abs=1e-4))
    routed = combine_and_route(cfg)
    assert 0.5 < routed["source_accuracy"]["model:llm"] < 1.0  # learned on gold like an LF's, not taken as certain

    with duckdb.connect(str(cfg.db_path)) as con:
        spend = dict(con.execute("SELECT metric, max(value) FROM metric_history WHERE subject = 'model:llm'"
                                 " AND metric IN ('spend', 'cost', 'input_tokens') GROUP BY metric").fetchall())
        assert spend["cost"] == pytest.approx(r["cost"]) and spend["input_tokens"] == r["input_tokens"]
        [m] = collect_status(con, get("single_label").consensus)["model_spend"]
        assert (m["source_id"], m["calls"], m["cost"]) == ("model:llm", 80, pytest.approx(r["cost"]))
        con.execute("UPDATE sources SET banned = true WHERE source_id = 'model:llm'")  # as the shared ban rule does
    assert "model:llm" not in combine_and_route(cfg)["source_accuracy"]
    apply_llm(cfg, cfg.prelabel.models[0])
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        assert con.execute("SELECT banned FROM sources WHERE source_id = 'model:llm'").fetchall() == [(True,)]

    changed = cfg.prelabel.models[0].model_copy(update={"temperature": 0.7})  # another prompt/sampling: another annotator
    r2 = apply_llm(cfg, changed)
    assert r2["version"] != r["version"] and (r2["retired"], r2["inserted"]) == (80, 80)


def test_multi_label_answers(tmp_path: Path, standin: dict[str, str]) -> None:
    texts = ["please refund the invoice", "app crash after update", "add dark mode and a calendar", "hello there",
             "crash when I ask for a refund"]
    cfg = _project(tmp_path / "m", texts, _llm(standin["multi"]), labels=["billing", "bug", "feature"], task_kind="multi_label")
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert r["inserted"] == 5
    got = {t: sorted(v) for t, v in _votes(cfg, "labels").items()}
    assert got == {texts[0]: ["billing"], texts[1]: ["bug"], texts[2]: ["feature"], texts[3]: [], texts[4]: ["billing", "bug"]}
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        probs, conf = con.execute("SELECT v.probs, v.confidence FROM votes v JOIN items i USING (item_id) WHERE i.payload = ?",
                                  [texts[4]]).fetchone()
    assert json.loads(probs) == {"billing": 1.0, "bug": 1.0, "feature": 0.0} and conf is None  # a hard vote on every label


def test_span_answers_are_mapped_to_offsets(tmp_path: Path, standin: dict[str, str]) -> None:
    texts = ["Alice met Bob in Paris", "Alice wrote to Alice in Lyon", "nobody here", "Alicea is not Alice"]
    cfg = _project(tmp_path / "s", texts, _llm(standin["spans"]), labels=["person", "location"], task_kind="spans")
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert (r["inserted"], r["quarantined"]) == (4, 0)
    got = {t: json.loads(v) for t, v in _votes(cfg, "answer").items()}
    assert got[texts[0]] == [{"start": 0, "end": 5, "label": "person"}, {"start": 10, "end": 13, "label": "person"},
                             {"start": 17, "end": 22, "label": "location"}]
    assert got[texts[1]] == [{"start": 0, "end": 5, "label": "person"}, {"start": 15, "end": 20, "label": "person"},
                             {"start": 24, "end": 28, "label": "location"}]
    assert got[texts[2]] == []
    assert got[texts[3]] == [{"start": 14, "end": 19, "label": "person"}]  # the whole word, not inside "Alicea"


def test_failures_are_set_aside_per_item_and_the_rest_stored(tmp_path: Path, standin: dict[str, str]) -> None:
    texts = ["free money", "wow", "please login first", "sing slowly", "the chorus song is great", "eggs and love", "nice song",
             "gateway down"]
    cfg = _project(tmp_path / "f", texts, _llm(standin["faulty"], timeout_seconds=1, retries=2))
    errors = httpx.get(standin["faulty"] + "/stats").json().get("errors", 0)
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert httpx.get(standin["faulty"] + "/stats").json()["errors"] - errors == 2  # a 502 is retried (retries = 2 attempts)
    assert _votes(cfg) == {"free money": "spam", "the chorus song is great": "ham", "nice song": "ham"}  # the 429 was waited out
    q = _quarantine(cfg)
    assert {t: v[0] for t, v in q.items()} == {"wow": "unparseable_answer", "please login first": "html_body",
                                               "sing slowly": "timeout", "eggs and love": "unknown_label", "gateway down": "server_error"}
    assert q["eggs and love"][1] == "label" and "'eggs' is not one of ['ham', 'spam']" in q["eggs and love"][2]
    assert all("model 'llm' on item" in d and "\n" not in d for _, _, d in q.values())
    assert "answered 502" in q["gateway down"][2]
    assert r["quarantined"] == 5 and r["first_problem"]

    again = apply_llm(cfg, cfg.prelabel.models[0])  # only the set-aside items are asked again; nothing stored is touched
    assert again["calls"] == 5 and again["inserted"] == 0
    assert len(_votes(cfg)) == 3

    cfg2 = _project(tmp_path / "t", ["the chorus song is great", "free money"], _llm(standin["throttled"], retries=2))
    r = apply_llm(cfg2, cfg2.prelabel.models[0])
    assert _votes(cfg2) == {"free money": "spam"}
    assert _quarantine(cfg2)["the chorus song is great"][0] == "rate_limited"


def test_api_key_from_the_environment(tmp_path: Path, standin: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _project(tmp_path / "k", ["free money", "nice song"], _llm(standin["keyed"], api_key_env="ANNOFLOW_TEST_LLM_KEY"))
    mcfg = cfg.prelabel.models[0]
    monkeypatch.delenv("ANNOFLOW_TEST_LLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANNOFLOW_TEST_LLM_KEY .* is not set"):
        apply_llm(cfg, mcfg)
    monkeypatch.setenv("ANNOFLOW_TEST_LLM_KEY", "wrong")
    with pytest.raises(TerminalError, match=r"refused \(401\).*ANNOFLOW_TEST_LLM_KEY"):
        apply_llm(cfg, mcfg)
    monkeypatch.setenv("ANNOFLOW_TEST_LLM_KEY", "sk-test-123")
    assert apply_llm(cfg, mcfg)["inserted"] == 2
    assert "sk-test-123" not in cfg.db_path.read_bytes().decode("latin-1")


def test_unreachable_endpoint_is_transient(tmp_path: Path) -> None:
    from annotation_app.process import free_port

    cfg = _project(tmp_path / "u", ["free money"], _llm(f"http://127.0.0.1:{free_port()}", retries=1))
    with pytest.raises(ServiceError, match="is the service running"):
        apply_llm(cfg, cfg.prelabel.models[0])


def _cfg(tmp_path: Path, kind: str, labels: list[str]) -> ProjectConfig:
    return write_project(tmp_path / kind, labels=labels, task_kind=kind)


def test_parsing_is_lenient_about_wrapping_and_strict_about_the_answer(tmp_path: Path) -> None:
    single, multi, spans = (get(k).prelabel for k in ("single_label", "multi_label", "spans"))
    c1 = _cfg(tmp_path, "single_label", ["ham", "spam"])
    assert single.parse_llm_answer('Sure!\n```json\n{"label": "spam"}\n```\nAnything else?', None, c1) == '"spam"'
    assert single.parse_llm_answer('The answer is {"label": "Spam"} as asked.', None, c1) == '"spam"'
    assert single.parse_llm_answer("ham.", None, c1) == '"ham"'
    with pytest.raises(AnswerError) as e:
        single.parse_llm_answer('{"label": "eggs"}', None, c1)
    assert (e.value.code, e.value.field) == ("unknown_label", "label")
    with pytest.raises(AnswerError) as e:
        single.parse_llm_answer("I cannot decide.", None, c1)
    assert e.value.code == "unparseable_answer"

    c2 = _cfg(tmp_path, "multi_label", ["a", "b", "c"])
    assert multi.parse_llm_answer('{"labels": ["c", "a", "a"]}', None, c2) == '["a", "c"]'
    assert multi.parse_llm_answer('{"labels": []}', None, c2) == "[]"
    with pytest.raises(AnswerError) as e:
        multi.parse_llm_answer('{"labels": ["a", "z"]}', None, c2)
    assert (e.value.code, e.value.field) == ("unknown_label", "labels[1]")

    c3 = _cfg(tmp_path, "spans", ["person", "location"])
    text = "Ann and Ann went to Rome"
    ans = '{"entities": [{"text": "Ann", "label": "person"}, {"text": "Ann", "label": "person"}, {"text": "rome", "label": "location"}]}'
    assert json.loads(spans.parse_llm_answer(ans, text, c3)) == [
        {"start": 0, "end": 3, "label": "person"}, {"start": 8, "end": 11, "label": "person"}, {"start": 20, "end": 24, "label": "location"}]
    assert json.loads(spans.parse_llm_answer('{"entities": [{"text": "Ann", "label": "person", "start": 8}]}', text, c3)) == [
        {"start": 8, "end": 11, "label": "person"}]
    for bad, code, field in [('{"entities": [{"text": "Ann", "label": "person"}, {"text": "Bo", "label": "person"}]}',
                              "entity_not_in_text", "entities[1].text"),
                             ('{"entities": [{"text": "Rome", "label": "city"}]}', "unknown_label", "entities[0].label"),
                             ('{"entities": [{"text": "Ann and Ann", "label": "person"}, {"text": "Ann", "label": "person"}]}',
                              "overlapping_spans", "entities[1]"),
                             ('{"entities": "Ann"}', "invalid_answer", "entities")]:
        with pytest.raises(AnswerError) as e:
            spans.parse_llm_answer(bad, text, c3)
        assert (e.value.code, e.value.field) == (code, field), bad


def test_config_needs_model_and_text_placeholder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs `model`"):
        ModelConfig(name="x", kind="llm", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="placeholder"):
        ModelConfig(name="x", kind="llm", url="http://127.0.0.1:1", model="m", prompt="classify this")
