"""Language models as judges of comparisons and as raters, against the chat-completions stand-in
(`python -m model_server --chat-standin`: a real HTTP server on 127.0.0.1 with a simulated judge, not a
language model), on real DuckDB projects: the votes, what is set aside, re-runs, and the judge as a source
of the real consensus stage beside simulated people (their votes written as collect writes them)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from model_server.chat_standin import StandinRules
from schemas.config import ProjectConfig
from tasks.consensus.stage import run_consensus_stage
from tasks.ingest.stage import import_gold, ingest_source, register_project
from tasks.kinds import get
from tasks.kinds.pairwise.llm_judge import render, shown_swapped
from tasks.kinds.protocol import AnswerError
from tasks.prelabel.llm_stage import apply_llm
from tasks.prelabel.stage import combine_and_route
from tasks.status import collect_status
from tests.conftest import write_project
from tests.model_servers import chat_calls as _calls
from tests.model_servers import chat_standins

pytestmark = pytest.mark.slow

RATER_RULES = "fluency=smooth,clear,lively;accuracy=correct,precise,sourced"
SERVERS = {
    "judge": ("--accuracy", "0.85", "--seed", "7", "--malformed-on", "wow", "--html-on", "login", "--unknown-label-on", "eggs",
              "--tie-on", "deadlock", "--slow-on", "slowly", "--delay", "4", "--rate-limit-on", "chorus", "--retry-after", "0.2",
              "--fence"),
    "biased": ("--position-bias",),
    "rater": ("--rules", RATER_RULES, "--leniency", "1", "--malformed-on", "wow", "--unknown-label-on", "eggs"),
}
FAULTS = {"wow": "unparseable_answer", "login": "html_body", "eggs": "unknown_choice", "deadlock": "tie_not_allowed", "slowly": "timeout"}


@pytest.fixture(scope="module")
def standin() -> Iterator[dict[str, str]]:
    with chat_standins(SERVERS) as urls:
        yield urls


def _llm(name: str, url: str, **kw) -> dict:
    """An LLM entry on a stand-in; `prompt=None` leaves the prompt to the kind's default."""
    entry = {"name": name, "kind": "llm", "url": url + "/v1", "model": "chat-standin", "concurrency": 4,
             "backoff_seconds": 0.05, "prompt": "{instructions}\n\n<text>\n{text}\n</text>", **kw}
    return {k: v for k, v in entry.items() if v is not None}


# -- pairwise ------------------------------------------------------------------------------------------

def _comparisons(n: int, faults: bool) -> list[dict]:
    """Comparisons whose better candidate (the truth) is the longer one, on either side by turns."""
    rows = []
    for k in range(n):
        good = f"A careful answer to question {k}, with the reasoning written out step by step and an example."
        bad = f"Answer {k}."
        first_good = k % 3 != 0
        rows.append({"id": f"q{k}", "prompt": f"Question {k}: explain topic {k % 5}.", "a": good if first_good else bad,
                     "b": bad if first_good else good, "system_a": "strong" if first_good else "weak",
                     "system_b": "weak" if first_good else "strong", "truth": "a" if first_good else "b"})
    if faults:
        rows += [{"id": f"f{w}", "prompt": f"A {w} question.", "a": f"first reply about {w}", "b": f"second reply on {w} topics",
                  "system_a": "strong", "system_b": "weak", "truth": "b"} for w in [*FAULTS, "chorus"]]
    return rows


def _pairwise_config(root: Path, models: list[dict], gold: dict | None) -> ProjectConfig:
    return write_project(root, task_kind="pairwise", labels=["a", "b"], answer={"allow_ties": False},
                         sources=[{"path": "data/pairs.jsonl", "text_field": "prompt"}],
                         gold={"path": "gold.jsonl", "key_field": "id", "label_field": "answer", **(gold or {})},
                         prelabel={"models": models})


def _pairwise_project(root: Path, rows: list[dict], models: list[dict], n_gold: int, gold: dict | None = None) -> ProjectConfig:
    (root / "data").mkdir(parents=True)
    (root / "data" / "pairs.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "truth"}) + "\n" for r in rows))
    (root / "gold.jsonl").write_text("".join(json.dumps({"id": r["id"], "answer": {"choice": r["truth"].upper()}}) + "\n"
                                             for r in rows[:n_gold]))
    cfg = _pairwise_config(root, models, gold)
    register_project(cfg)
    for src in cfg.sources:
        ingest_source(cfg, src)
    import_gold(cfg)
    return cfg


def _ids(cfg: ProjectConfig) -> dict[str, str]:
    """Row id -> item id."""
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return dict(con.execute("SELECT json_extract_string(metadata, '$.id'), item_id FROM items").fetchall())


def _answers(cfg: ProjectConfig, source: str) -> dict[str, dict]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        return {i: json.loads(a) for i, a in con.execute("SELECT item_id, answer::VARCHAR FROM votes WHERE source_id = ?",
                                                         [source]).fetchall()}


def _preference(answer: dict) -> str:
    return "tie" if answer["choice"] == "tie" else "a" if (answer["choice"] == "A") != answer["swapped"] else "b"


def _add_people(cfg: ProjectConfig, truth: dict[str, str], accuracy: float, n: int = 3, seed: int = 1) -> None:
    """Simulated careful judges' answers (the kind's simulation facet), written as collect writes votes."""
    sim, rng = get(cfg.task_kind.value).simulation, random.Random(seed)
    rows = []
    for j in range(n):
        profile = sim.annotator(accuracy, [], rng, None)
        rows += [(f"h{j}-{i}", i, f"human:p{j}", json.dumps(sim.answer(profile, t, rng, [], None))) for i, t in sorted(truth.items())]
    with duckdb.connect(str(cfg.db_path)) as con:
        con.executemany("INSERT INTO sources (source_id, kind, name) VALUES (?, 'human', ?) ON CONFLICT DO NOTHING",
                        [[f"human:p{j}", f"p{j}"] for j in range(n)])
        con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer) VALUES (?, ?, ?, 'human', ?)", rows)


def _source_stats(cfg: ProjectConfig) -> dict[str, dict]:
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        cur = con.execute("SELECT source_id, kind, n_gold, gold_correct, gold_accuracy, learned_accuracy, confusion::VARCHAR"
                          " FROM source_stats")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r)) | {"confusion": json.loads(r[-1] or "{}")} for r in cur.fetchall()}


def test_pairwise_judge_votes_order_faults_and_rerun(tmp_path: Path, standin: dict[str, str]) -> None:
    url = standin["judge"]
    rows = _comparisons(60, faults=True)
    cfg = _pairwise_project(tmp_path / "p", rows, [_llm("judge", url, price_per_1k_input_tokens=1.0, timeout_seconds=1, retries=2)],
                            n_gold=20)
    ids = _ids(cfg)
    before = _calls(url)
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert (r["calls"], r["inserted"], r["quarantined"]) == (66, 61, 5)
    assert _calls(url) - before == 68  # the 429 waited out and asked again, the slow item asked twice
    votes = _answers(cfg, "model:judge")
    assert set(votes) == {ids[x["id"]] for x in rows[:60]} | {ids["fchorus"]}
    del votes[ids["fchorus"]]

    # The shown order is the one drawn for (item, source), stored as `swapped`, and about half the items are swapped.
    assert all(v["swapped"] == shown_swapped(i, "model:judge") for i, v in votes.items())
    share = sum(v["swapped"] for v in votes.values()) / len(votes)
    assert 0.3 < share < 0.7, share
    # What the judge read is what was recorded: its answer, turned back into the item's order, is the stand-in's
    # verdict on the comparison (right unless the stand-in's seeded draw makes this item one it gets wrong).
    judge = StandinRules({}, accuracy=0.85, seed=7)
    for x in rows[:60]:
        i = ids[x["id"]]
        shown = (x["b"], x["a"]) if votes[i]["swapped"] else (x["a"], x["b"])
        assert votes[i]["choice"] == judge.judge(render(x["prompt"], *shown), ties=False)
        wrong = judge.wrong("\x1f".join([x["prompt"], *sorted([x["a"], x["b"]])]))
        assert (_preference(votes[i]) == x["truth"]) != wrong

    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        q = {raw: (reason, field, detail) for raw, reason, field, detail in con.execute(
            "SELECT raw, reason, field, detail FROM quarantine WHERE stage = 'prelabel.model.judge'").fetchall()}
    assert {raw: v[0] for raw, v in q.items()} == {ids[f"f{w}"]: reason for w, reason in FAULTS.items()}
    assert q[ids["fdeadlock"]][1] == "choice" and "does not allow ties" in q[ids["fdeadlock"]][2]
    assert q[ids["feggs"]][1] == "choice" and "'C' is not one of" in q[ids["feggs"]][2]
    assert all(f"model 'judge' on item {raw}" in d and "\n" not in d for raw, (_, _, d) in q.items())

    again = apply_llm(cfg, cfg.prelabel.models[0])  # only the five set-aside items are asked again
    assert (again["calls"], again["inserted"]) == (5, 0) and _calls(url) - before == 68 + 6
    assert {i: v for i, v in _answers(cfg, "model:judge").items() if i != ids["fchorus"]} == votes

    routed = combine_and_route(cfg)  # the judge's votes make no pre-label: people judge every comparison
    assert routed["auto"] == 0 and routed["with_machine_vote"] == 61
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        [m] = collect_status(con, get("pairwise").consensus)["model_spend"]
    assert (m["source_id"], m["calls"]) == ("model:judge", 71) and m["cost"] == pytest.approx(r["cost"] + again["cost"]) and m["cost"] > 0

    # The judge is a source of consensus beside three careful people: scored on gold, reliability learned.
    truth = {ids[x["id"]]: x["truth"] for x in rows[:60]}
    _add_people(cfg, truth, accuracy=0.9)
    out = run_consensus_stage(cfg)
    stats = _source_stats(cfg)["model:judge"]
    right = sum(_preference(votes[ids[x["id"]]]) == x["truth"] for x in rows[:20])
    assert (stats["kind"], stats["n_gold"], stats["gold_correct"]) == ("model", 20, right)
    assert 0.5 < stats["learned_accuracy"] < 1.0
    assert stats["confusion"]["learned"]["flag"] is None and "model:judge" not in out["agreement"]["flags"]
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        sources = con.execute("SELECT list_sort(sources) FROM labels WHERE item_id = ?", [ids["q30"]]).fetchone()[0]
    assert "model:judge" in sources


def test_a_position_biased_judge_is_flagged_and_banned(tmp_path: Path, standin: dict[str, str]) -> None:
    rows = _comparisons(60, faults=False)
    lenient = {"ban_below": 0.3, "min_answers_for_ban": 10}
    cfg = _pairwise_project(tmp_path / "b", rows, [_llm("biased", standin["biased"])], n_gold=40, gold=lenient)
    ids = _ids(cfg)
    assert apply_llm(cfg, cfg.prelabel.models[0])["inserted"] == 60
    votes = _answers(cfg, "model:biased")
    assert {v["choice"] for v in votes.values()} == {"A"}  # it always picks the response shown first...
    assert 0.3 < sum(v["swapped"] for v in votes.values()) / 60 < 0.7  # ...which was b about half the time

    _add_people(cfg, {ids[x["id"]]: x["truth"] for x in rows}, accuracy=0.95)
    out = run_consensus_stage(cfg)
    stats = _source_stats(cfg)
    learned = stats["model:biased"]["confusion"]["learned"]
    assert learned["flag"] == "position_biased" and learned["p_first"] > 0.9, learned
    assert out["agreement"]["flags"] == {"model:biased": "position_biased"}  # the careful people are not flagged
    right = sum(_preference(votes[ids[x["id"]]]) == x["truth"] for x in rows[:40])
    assert stats["model:biased"]["gold_correct"] == right and right / 40 < 0.7

    # The shared ban rule, stricter: the Wilson upper bound of its gold accuracy falls below 0.8.
    cfg = _pairwise_config(tmp_path / "b", [_llm("biased", standin["biased"])], gold={**lenient, "ban_below": 0.8})
    out = run_consensus_stage(cfg)
    assert out["new_bans"] == ["model:biased"]
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        assert con.execute("SELECT kind, banned FROM sources WHERE source_id = 'model:biased'").fetchall() == [("model", True)]
        counted = con.execute("SELECT count(*) FROM labels WHERE list_contains(sources, 'model:biased')").fetchall()[0][0]
    assert counted == 0  # once banned, its votes no longer count


# -- rating --------------------------------------------------------------------------------------------

_WORDS = {"fluency": ["smooth", "clear", "lively"], "accuracy": ["correct", "precise", "sourced"]}


def _rated(k: int) -> tuple[str, dict[str, int]]:
    """A text whose true scores are 1 + the number of each criterion's keywords in it (1-4 on a 1-5 scale)."""
    f, a = k % 4, (k // 4) % 4
    text = f"Answer {k}: " + " ".join(_WORDS["fluency"][:f] + _WORDS["accuracy"][:a] + ["plain"])
    return text, {"fluency": 1 + f, "accuracy": 1 + a}


def test_rating_llm_is_a_rater_whose_leniency_is_learned(tmp_path: Path, standin: dict[str, str]) -> None:
    url = standin["rater"]
    items = [_rated(k) for k in range(48)]
    faults = ["Answer wow: smooth", "Answer eggs: correct"]
    root = tmp_path / "r"
    (root / "data").mkdir(parents=True)
    (root / "data" / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in [t for t, _ in items] + faults))
    (root / "gold.jsonl").write_text("".join(json.dumps({"text": t, "label": json.dumps({"scores": s})}) + "\n" for t, s in items[:12]))
    cfg = write_project(root, task_kind="rating", labels=["unused", "scale"], sources=[{"path": "data/items.jsonl"}],
                        answer={"scale": [1, 5], "criteria": ["fluency", "accuracy"], "anchors": {"1": "unusable", "5": "perfect"}},
                        gold={"path": "gold.jsonl", "key_field": "text", "label_field": "label"},
                        prelabel={"models": [_llm("rater", url)]})
    register_project(cfg)
    ingest_source(cfg, cfg.sources[0])
    import_gold(cfg)
    before = _calls(url)
    r = apply_llm(cfg, cfg.prelabel.models[0])
    assert (r["calls"], r["inserted"], r["quarantined"]) == (50, 48, 2)
    with duckdb.connect(str(cfg.db_path)) as con:
        got = dict(con.execute("SELECT i.payload, v.answer::VARCHAR FROM votes v JOIN items i USING (item_id)"
                               " WHERE v.source_id = 'model:rater'").fetchall())
        q = {p: (reason, field) for p, reason, field in con.execute(
            "SELECT i.payload, q.reason, q.field FROM quarantine q JOIN items i ON i.item_id = q.raw").fetchall()}
        ids = dict(con.execute("SELECT payload, item_id FROM items").fetchall())
    # one point more lenient than the truth on every criterion (the stand-in's --leniency 1)
    assert {t: json.loads(a) for t, a in got.items()} == {t: {"scores": {c: v + 1 for c, v in s.items()}} for t, s in items}
    assert q == {faults[0]: ("unparseable_answer", "scores"), faults[1]: ("score_outside_scale", "scores.fluency")}
    again = apply_llm(cfg, cfg.prelabel.models[0])
    assert (again["calls"], again["inserted"]) == (2, 0) and _calls(url) - before == 52
    routed = combine_and_route(cfg)  # its ratings make no pre-label: people rate every item, beside it
    assert (routed["with_machine_vote"], routed["auto"]) == (48, 0)

    # Three careful people beside it: consensus learns its leniency and stays on the truth's scale.
    rng = random.Random(3)
    people = [(f"h{j}-{k}", ids[t], f"human:p{j}", json.dumps({"scores": {c: min(5, max(1, v + (rng.random() < 0.1) * rng.choice((-1, 1))))
                                                                          for c, v in s.items()}}))
              for j in range(3) for k, (t, s) in enumerate(items)]
    with duckdb.connect(str(cfg.db_path)) as con:
        con.executemany("INSERT INTO sources (source_id, kind, name) VALUES (?, 'human', ?)", [[f"human:p{j}", f"p{j}"] for j in range(3)])
        con.executemany("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer) VALUES (?, ?, ?, 'human', ?)", people)
    run_consensus_stage(cfg)
    stats = _source_stats(cfg)
    llm = stats["model:rater"]
    assert llm["kind"] == "model" and llm["n_gold"] == 24  # 12 gold items x 2 criteria
    assert llm["gold_accuracy"] == 1.0 and llm["confusion"]["gold"]["mae"] == pytest.approx(1.0)  # within tolerance 1, always 1 off
    assert 0.7 < llm["confusion"]["learned"]["leniency"] < 1.3, llm["confusion"]["learned"]
    assert all(abs(stats[f"human:p{j}"]["confusion"]["learned"]["leniency"]) < 0.3 for j in range(3))
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        labels = dict(con.execute("SELECT item_id, answer::VARCHAR FROM labels").fetchall())
    hits = [json.loads(labels[ids[t]])["scores"] == s for t, s in items[12:]]
    assert sum(hits) >= 0.9 * len(hits)  # the lenient machine does not drag the consensus up


def test_parsing_judges_and_raters_is_strict_about_the_answer(tmp_path: Path) -> None:
    pw, rt = get("pairwise").prelabel, get("rating").prelabel
    ties = write_project(tmp_path / "t", task_kind="pairwise", labels=["a", "b"], answer={"allow_ties": True, "require_reason": True})
    assert "tie" in pw.llm_instructions(ties) and "reason is required" in pw.llm_instructions(ties)
    assert json.loads(pw.parse_llm_answer('Verdict: {"choice": "Tie", "reason": " both wrong "}', '{"swapped": true}', ties)) == {
        "choice": "tie", "swapped": True, "reason": "both wrong"}
    for bad, code, field in [('{"choice": "A"}', "missing_reason", "reason"), ('{"choice": 1, "reason": "x"}', "unknown_choice", "choice"),
                             ('{"verdict": "A"}', "missing_field", "choice"), ("A is better", "unparseable_answer", "choice")]:
        with pytest.raises(AnswerError) as e:
            pw.parse_llm_answer(bad, '{"swapped": false}', ties)
        assert (e.value.code, e.value.field) == (code, field), bad
    with pytest.raises(AnswerError) as e:  # a comparison with identical candidates is set aside before any call
        pw.llm_view("x", json.dumps({"prompt": "p", "a": "same", "b": "same", "system_a": "s", "system_b": "t"}), "model:j", ties)
    assert e.value.code == "identical_candidates"

    single = write_project(tmp_path / "s", task_kind="rating", labels=["u", "v"], answer={"scale": [0, 10], "anchors": {"0": "none"}})
    assert "scale from 0 to 10" in rt.llm_instructions(single) and "0: none" in rt.llm_instructions(single)
    assert rt.parse_llm_answer("7", None, single) == '{"score":7}' and rt.parse_llm_answer('{"score": "3"}', None, single) == '{"score":3}'
    crit = write_project(tmp_path / "c", task_kind="rating", labels=["u", "v"], answer={"criteria": ["fluency", "accuracy"]})
    for bad, code, field in [('{"score": 11}', "score_outside_scale", "score"), ('{"score": 2.5}', "not_an_integer", "score"),
                             ('{"scores": {"x": 1}}', "missing_field", "score")]:
        with pytest.raises(AnswerError) as e:
            rt.parse_llm_answer(bad, None, single)
        assert (e.value.code, e.value.field) == (code, field), bad
    for bad, code, field in [('{"scores": {"fluency": 3}}', "missing_criterion", "scores.accuracy"),
                             ('{"scores": {"fluency": 3, "accuracy": 2, "style": 4}}', "unknown_criterion", "scores.style"),
                             ('{"score": 3}', "missing_field", "scores"), ("4", "unparseable_answer", "scores")]:
        with pytest.raises(AnswerError) as e:
            rt.parse_llm_answer(bad, None, crit)
        assert (e.value.code, e.value.field) == (code, field), bad


@pytest.mark.parametrize("kind", ["pairwise", "rating"])
def test_other_machine_sources_are_refused_naming_the_entry(tmp_path: Path, kind: str) -> None:
    from tasks.errors import ConfigError
    from tasks.prelabel.stage import apply_model

    cfg = write_project(tmp_path / kind, task_kind=kind, labels=["a", "b"],
                        prelabel={"models": [{"name": "scorer", "kind": "http", "url": "http://127.0.0.1:9"}]})
    register_project(cfg)
    with pytest.raises(ConfigError, match=r"'scorer'.*kind = \"llm\""):
        apply_model(cfg, cfg.prelabel.models[0])


def test_recording_the_shown_order_is_what_makes_a_biased_judge_useful() -> None:
    """The simulated bench (bench/llm_overlap.py --kind pairwise): at equal final accuracy, a reliable judge saves
    people's judgments; a position-biased one saves some only when its per-slot accuracy is used (the stored
    `swapped`), and one that always answers "A" saves nothing."""
    from bench.llm_overlap import simulate_pairwise

    rows = {r["llm"]: r for r in simulate_pairwise(4_000, 0.8, 5, seed=1)}
    base = rows["none"]
    assert rows["0.95"]["saved"] > 1.5 and rows["0.95"]["accuracy"] >= base["accuracy"]
    biased, ignored = rows["0.80 p_first 0.9"], rows["0.80 p_first 0.9 bias ignored"]
    assert biased["slots"][0] > biased["slots"][1] + 0.2
    assert biased["saved"] > 0.5 and biased["saved"] > ignored["saved"] + 0.5
    assert abs(rows["0.50 p_first 1.0"]["saved"]) < 0.05


def test_judges_and_raters_without_a_prompt_get_their_kinds_default(tmp_path: Path, standin: dict[str, str]) -> None:
    """An entry without `prompt` is asked with its kind's default: no `Labels:` line for a comparison or a score,
    the item inside `<text>`; single-label keeps the label-set prompt and so its version."""
    from schemas.config import LLM_PROMPT
    from tasks.prelabel.llm_client import LlmAnnotator

    rows = _comparisons(24, faults=False)
    cfg = _pairwise_project(tmp_path / "p", rows, [_llm("judge", standin["judge"], prompt=None)], n_gold=4)
    mcfg = cfg.prelabel.models[0]
    with LlmAnnotator(mcfg, cfg, get("pairwise").prelabel) as llm:
        user = llm._messages("SHOWN")[1]["content"]
    assert "Labels" not in user and user.startswith(get("pairwise").prelabel.llm_instructions(cfg)) and "<text>\nSHOWN\n</text>" in user
    assert apply_llm(cfg, mcfg)["inserted"] == 24
    ids, votes, judge = _ids(cfg), _answers(cfg, "model:judge"), StandinRules({}, accuracy=0.85, seed=7)
    for x in rows:  # the judge read both responses out of the default prompt
        v = votes[ids[x["id"]]]
        assert v["choice"] == judge.judge(render(x["prompt"], *((x["b"], x["a"]) if v["swapped"] else (x["a"], x["b"]))), ties=False)
        assert (_preference(v) == x["truth"]) != judge.wrong("\x1f".join([x["prompt"], *sorted([x["a"], x["b"]])]))

    root = tmp_path / "r"
    (root / "data").mkdir(parents=True)
    items = [_rated(k) for k in range(8)]
    (root / "data" / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in items))
    rcfg = write_project(root, task_kind="rating", labels=["unused", "scale"], sources=[{"path": "data/items.jsonl"}],
                         answer={"scale": [1, 5], "criteria": ["fluency", "accuracy"]},
                         prelabel={"models": [_llm("rater", standin["rater"], prompt=None)]})
    register_project(rcfg)
    ingest_source(rcfg, rcfg.sources[0])
    with LlmAnnotator(rcfg.prelabel.models[0], rcfg, get("rating").prelabel) as llm:
        assert "Labels" not in llm._messages("T")[1]["content"] and "scale from 1 to 5" in llm._messages("T")[1]["content"]
    assert apply_llm(rcfg, rcfg.prelabel.models[0])["inserted"] == 8
    with duckdb.connect(str(rcfg.db_path), read_only=True) as con:
        got = dict(con.execute("SELECT i.payload, v.answer::VARCHAR FROM votes v JOIN items i USING (item_id)").fetchall())
    assert {t: json.loads(a) for t, a in got.items()} == {t: {"scores": {c: v + 1 for c, v in s.items()}} for t, s in items}

    single = write_project(tmp_path / "s", labels=["ham", "spam"], prelabel={"models": [_llm("llm", standin["judge"], prompt=None),
                                                                                     _llm("same", standin["judge"], prompt=LLM_PROMPT)]})
    assert LLM_PROMPT == "{instructions}\n\nLabels: {labels}\n\n<text>\n{text}\n</text>"
    facet = get("single_label").prelabel
    with LlmAnnotator(single.prelabel.models[0], single, facet) as a, LlmAnnotator(single.prelabel.models[1], single, facet) as b:
        assert a.prompt == LLM_PROMPT and a.version == b.version and "Labels: ham, spam" in a._messages("x")[1]["content"]


def test_a_changed_rendering_of_the_comparison_re_asks_every_item(tmp_path: Path, standin: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """How a comparison is shown is part of the judge's version: answers to the old rendering do not count as current."""
    from tasks.kinds.pairwise import llm_judge

    url = standin["judge"]
    cfg = _pairwise_project(tmp_path / "v", _comparisons(12, faults=False), [_llm("judge", url)], n_gold=4)
    first = apply_llm(cfg, cfg.prelabel.models[0])
    assert first["inserted"] == 12 and apply_llm(cfg, cfg.prelabel.models[0])["calls"] == 0  # same view: nothing asked

    shown = llm_judge.render
    monkeypatch.setattr(llm_judge, "render", lambda p, a, b: "Judge the two responses below.\n\n" + shown(p, a, b))
    before = _calls(url)
    again = apply_llm(cfg, cfg.prelabel.models[0])
    assert again["version"] != first["version"]
    assert (again["retired"], again["calls"], again["inserted"]) == (12, 12, 12) and _calls(url) - before == 12
    with duckdb.connect(str(cfg.db_path), read_only=True) as con:
        current = con.execute("SELECT DISTINCT source_version FROM votes WHERE source_id = 'model:judge'").fetchall()
    assert current == [(again["version"],)]


def _rating_project(root: Path, url: str, n: int, n_gold: int) -> tuple[ProjectConfig, list[tuple[str, dict[str, int]]]]:
    """Texts rated on two criteria (`_rated`), the first `n_gold` with gold scores, an LLM rater on `url`."""
    items = [_rated(k) for k in range(n)]
    (root / "data").mkdir(parents=True)
    (root / "data" / "items.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in items))
    (root / "gold.jsonl").write_text("".join(json.dumps({"text": t, "label": json.dumps({"scores": s})}) + "\n" for t, s in items[:n_gold]))
    cfg = write_project(root, task_kind="rating", labels=["unused", "scale"], sources=[{"path": "data/items.jsonl"}],
                        answer={"scale": [1, 5], "criteria": ["fluency", "accuracy"]},
                        gold={"path": "gold.jsonl", "key_field": "text", "label_field": "label"},
                        prelabel={"models": [_llm("rater", url, prompt=None)]})
    register_project(cfg)
    ingest_source(cfg, cfg.sources[0])
    import_gold(cfg)
    return cfg, items


def test_prelabel_says_judges_votes_count_in_consensus_not_how_to_auto_accept(prefect_harness, tmp_path: Path,
                                                                              standin: dict[str, str]) -> None:
    """`annoflow prelabel` on comparison and rating projects: what happens to the model's votes, no threshold advice."""
    from typer.testing import CliRunner

    from annoflow_cli.main import app

    pw = _pairwise_project(tmp_path / "p", _comparisons(12, faults=False), [_llm("judge", standin["judge"])], n_gold=4)
    rt, _ = _rating_project(tmp_path / "r", standin["rater"], 8, 4)
    for cfg, answered in [(pw, 8), (rt, 4)]:  # gold items are not routed; the model answered them too
        res = CliRunner().invoke(app, ["prelabel", "--config", str(cfg.root)])
        assert res.exit_code == 0, res.output
        out = " ".join(res.output.split())
        assert "Machine votes never auto-accept in this project" in out and "count in consensus beside people's" in out
        assert f"the {answered + 4} items a model answered" in out
        assert "reaches precision" not in out and "Thresholds" not in out and "Calibration on gold" not in out


def test_routing_advice_for_kinds_that_auto_accept() -> None:
    from tasks.prelabel.routing import routing_advice

    base = {"target_precision": 0.95, "precision_confidence": 0.95, "with_machine_vote": 3}
    none = {**base, "thresholds": [{"threshold": None, "n_eval": 10}, {"threshold": None, "n_eval": 5}]}
    assert "No class (or label) reaches precision 0.95 with 95% confidence on the 15 evaluated" in routing_advice(none)
    assert routing_advice({**base, "thresholds": [{"threshold": 0.9, "n_eval": 60}, {"threshold": None, "n_eval": 5}]}) is None
    assert routing_advice({**none, "auto_accepts": False}).startswith("Machine votes never auto-accept")


def _lf_report(cfg: ProjectConfig) -> dict[str, dict]:
    from typer.testing import CliRunner

    from annoflow_cli.main import app

    res = CliRunner().invoke(app, ["lf-report", "--config", str(cfg.root), "--json"])
    assert res.exit_code == 0, res.output
    table = CliRunner().invoke(app, ["lf-report", "--config", str(cfg.root)])
    assert table.exit_code == 0 and "model:" in table.output, table.output
    return {r["source_id"]: r for r in json.loads(res.output)}


def test_lf_report_scores_judges_on_the_gold_preference(tmp_path: Path, standin: dict[str, str]) -> None:
    from tasks.prelabel.routing import wilson_interval

    rows = _comparisons(30, faults=False)
    cfg = _pairwise_project(tmp_path / "p", rows, [_llm("judge", standin["judge"]), _llm("biased", standin["biased"])], n_gold=12)
    for m in cfg.prelabel.models:
        apply_llm(cfg, m)
    ids, judge = _ids(cfg), StandinRules({}, accuracy=0.85, seed=7)
    right = sum(not judge.wrong("\x1f".join([x["prompt"], *sorted([x["a"], x["b"]])])) for x in rows[:12])
    biased = _answers(cfg, "model:biased")
    biased_right = sum(_preference(biased[ids[x["id"]]]) == x["truth"] for x in rows[:12])
    report = _lf_report(cfg)
    j, b = report["model:judge"], report["model:biased"]
    assert (j["coverage"], j["n_gold"], j["gold_correct"]) == (1.0, 12, right)
    assert (j["gold_acc_low"], j["gold_acc_high"]) == tuple(round(x, 4) for x in wilson_interval(right, 12))
    assert (b["n_gold"], b["gold_correct"]) == (12, biased_right) and b["more"]["picks first"] == 1.0
    assert 0.2 < j["more"]["picks first"] < 0.8 and j["polarity"] == "a,b"
    assert j["learned_accuracy"] is None  # consensus has not run yet

    _add_people(cfg, {ids[x["id"]]: x["truth"] for x in rows}, accuracy=0.9)
    run_consensus_stage(cfg)
    learned = _source_stats(cfg)["model:judge"]["learned_accuracy"]
    assert _lf_report(cfg)["model:judge"]["learned_accuracy"] == pytest.approx(learned, abs=1e-4) and learned is not None


def test_lf_report_scores_raters_exactly_and_by_mean_error(tmp_path: Path, standin: dict[str, str]) -> None:
    cfg, items = _rating_project(tmp_path / "r", standin["rater"], 12, 6)
    apply_llm(cfg, cfg.prelabel.models[0])
    r = _lf_report(cfg)["model:rater"]
    # the stand-in rater is one point generous wherever the truth is below the scale's top: never exact on gold
    assert (r["coverage"], r["n_gold"], r["gold_correct"], r["gold_accuracy"]) == (1.0, 12, 0, 0.0)
    assert r["gold_acc_low"] == 0.0 and 0.2 < r["gold_acc_high"] < 0.3 and r["more"]["gold MAE"] == "1.00"
    with duckdb.connect(str(cfg.db_path)) as con:  # one gold unit the rater matches exactly: 1 of 12 right, MAE 11/12
        t, s = items[0]
        con.execute("UPDATE gold SET answer = ?::JSON WHERE item_id = (SELECT item_id FROM items WHERE payload = ?)",
                    [json.dumps({"scores": {"fluency": s["fluency"] + 1, "accuracy": s["accuracy"]}}), t])
    r = _lf_report(cfg)["model:rater"]
    assert (r["gold_correct"], r["gold_accuracy"], r["more"]["gold MAE"]) == (1, round(1 / 12, 4), f"{11 / 12:.2f}")
