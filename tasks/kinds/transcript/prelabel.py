"""Transcripts: the prelabel facet (see tasks/kinds/protocol.py, prelabel) — what the pre-labeling stage asks a
transcript project.

- Machine votes come from speech recognisers behind HTTP (`[[prelabel.models]]` kind 'http', the `/transcribe`
  contract, `http_speech.py`; `python -m model_server --asr` is a local one). A vote's `answer` is the draft,
  `{"text", "words": [{"word", "start_s", "end_s", "score"}]}`, its `confidence` the mean word score (raw).
  There are no labeling functions and no local model to train: both are refused with a `ConfigError`
  naming what to configure instead.
- The combination chooses one draft per clip: with one recogniser its hypothesis; with several, the one
  closest to the others (fewest word errors against them, weighted by each source's word accuracy on gold,
  cross-fitted so a gold clip's weights never saw its own answer). Aligning words and voting per position
  (ROVER) is consolidation's job, on people's answers; a pre-label is one model's words that a person edits.
- Raw confidence: the draft's mean word score, times its agreement with the other recognisers when there
  are several. Calibrated on gold (a monotone logistic fit, cross-fitted on the gold clips themselves,
  apart for empty and non-empty drafts) into P(the draft is the reference word for word after the
  project's comparison rule). One decision per clip, keyed "text" or "no speech"; thresholds per key from
  gold and audits. At the accuracy of a small offline recogniser an exact transcript is rare, so few clips
  are ever auto-accepted: the draft's value is the typing it saves (`draft_use`).
- `lf-report` rows carry each recogniser's word accuracy on gold (1 - WER, as `gold_accuracy`) and, under
  `more`, its WER and share of exactly right clips.

The pre-label stored in `prelabels` is the full draft (with its word timings, which the queue shows), or NULL
for an empty draft (nothing to show); an auto-accepted label in `labels` is the plain answer `{"text"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import InputError

from ..boxes.machine_fusion import _calibrate_items
from ..model_only import ModelOnlyPrelabel
from ..protocol import PrelabelDecisions
from ..spans.prelabel import _human_answers
from . import draft_gate
from .draft_gate import gold_wer
from .drafts import compare_rule, kept_words, medoid, normalised_tokens, word_errors

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "KEYS", "TranscriptDecisions"]

_STR = pa.string()
KEYS = ("text", "no speech")
"""The decision keys: a draft with words, and an empty one (calibrated apart, so thresholded apart)."""
_EMPTY = '{"text":""}'
_NO_LOCAL_MODEL = ("a transcript project has no local model to train (kind 'sklearn'); pre-label with a speech recogniser: "
                   "[[prelabel.models]] kind = \"http\" with the url of an endpoint answering /transcribe, e.g. "
                   "`python -m model_server --asr --port 8793` (pocketsphinx, offline)")


def _options(con: Any) -> dict:
    """The project's `[answer]` options as registered in the state database (the methods that read state get no config)."""
    row = con.execute("SELECT config->'answer' FROM projects LIMIT 1").fetchall()
    return orjson.loads(row[0][0]) if row and row[0][0] else {}


def _texts(answers: pa.Array) -> pa.Array:
    """The `text` of each JSON answer (null stays null)."""
    con = duckdb.connect()
    try:
        con.register("_a", pa.table({"a": answers}))
        return con.sql("SELECT a::JSON->>'text' AS t FROM _a").to_arrow_table().column("t").combine_chunks()
    finally:
        con.close()


def _same_text(left: pa.Array, right: pa.Array, options: Any) -> np.ndarray:
    """Per position, whether two transcript answers say the same words (a null side: False)."""
    rule = compare_rule(options)
    a, b = rule(_texts(left)), rule(_texts(right))
    return pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)


def _fold(ids: Sequence[str]) -> np.ndarray:
    """Two folds by a stable hash of the item id (the same split every run)."""
    import zlib

    return np.array([zlib.crc32(i.encode()) & 1 for i in ids], np.int64)


@dataclass(frozen=True)
class TranscriptDecisions(PrelabelDecisions):
    """The decisions, and the comparison rule they are judged by (what `score` needs)."""

    options: dict = field(default_factory=dict)


class _TranscriptPrelabel(ModelOnlyPrelabel):
    kind_title = "a transcript project"
    lf_hint = "a rule that writes text is a recogniser, so serve it as [[prelabel.models]] kind = \"http\" (the /transcribe contract)"
    no_local_model = _NO_LOCAL_MODEL
    vote_columns = ("answer", "confidence")

    # -- models -----------------------------------------------------------------------------------------------

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        from .http_speech import HttpSpeechModel

        return HttpSpeechModel(mcfg, None)

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        """`item_id`, `answer` (the draft: text and scored words), `confidence` (its mean word score; null without scores)."""
        t = model.transcribe(batch)
        con = duckdb.connect()
        try:
            con.register("_t", t)
            return con.sql(
                "SELECT item_id, json_object('text', text, 'words', words::JSON)::VARCHAR AS answer,"
                " list_avg(list_transform(from_json(words, '[{\"score\":\"DOUBLE\"}]'), lambda w: w.score)) AS confidence FROM _t"
            ).to_arrow_table()
        finally:
            con.close()

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        answer, confidence = prediction_columns
        return {"answer": f"{answer}::JSON", "confidence": confidence}

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        """The client checks every word as it arrives; this is the last guard before storing."""
        conf = preds.column("confidence").to_numpy(zero_copy_only=False).astype(float)
        bad = np.flatnonzero(~np.isnan(conf) & ((conf < 0) | (conf > 1)))
        if len(bad):
            raise InputError(f"{what}: item {preds.column('item_id')[int(bad[0])].as_py()} has confidence {conf[bad[0]]!r}, outside [0, 1]")

    # -- combination and calibrated auto-accept ---------------------------------------------------------------

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        """One draft per voted clip: `item_id, answer, confidence, raw_confidence, word_scores`; each recogniser's word
        accuracy on gold (Beta(1, 1) smoothed); "draft_choice"."""
        from tasks.store import plain_strings

        rule = compare_rule(cfg.answer_options)
        v = pa.table({c: plain_strings(votes.column(c)) for c in ("item_id", "source_id", "answer")}).append_column(
            "confidence", votes.column("confidence"))
        v = v.filter(pc.is_valid(v.column("answer")))
        ids, srcs = v.column("item_id").to_pylist(), v.column("source_id").to_pylist()
        toks = normalised_tokens(_texts(v.column("answer").combine_chunks()), rule)
        g_ids = gold.column("item_id").to_pylist() if gold.num_rows else []
        g_tok = dict(zip(g_ids, normalised_tokens(_texts(gold.column("answer").combine_chunks()), rule))) if gold.num_rows else {}
        fold_of = dict(zip(set(ids) | set(g_ids), _fold(list(set(ids) | set(g_ids)))))

        # word errors and reference words per (source, fold) on gold clips: a source's accuracy
        err: dict[tuple[str, int], list[int]] = {}
        for i, s, t in zip(ids, srcs, toks):
            if i in g_tok:
                e = err.setdefault((s, fold_of[i]), [0, 0])
                e[0] += word_errors(t, g_tok[i])
                e[1] += len(g_tok[i])

        def accuracy(s: str, fold: int | None) -> float:
            parts = [e for (src, f), e in err.items() if src == s and f != fold]
            wrong, n = sum(p[0] for p in parts), sum(p[1] for p in parts)
            return float(np.clip((n - wrong + 1) / (n + 2), 0.0, 1.0))

        learned = {s: accuracy(s, None) for s in sorted(set(srcs))}
        conf_in = v.column("confidence").to_numpy(zero_copy_only=False).astype(float)
        answers = v.column("answer").to_pylist()
        out: dict[str, list] = {"item_id": [], "answer": [], "raw": []}
        start = 0
        while start < len(ids):  # votes are ordered by item: one group per clip
            end = start
            while end < len(ids) and ids[end] == ids[start]:
                end += 1
            item = ids[start]
            fold = fold_of[item] if item in g_tok else None
            w = np.array([accuracy(s, fold) for s in srcs[start:end]])
            k, agree = medoid(toks[start:end], w)
            c = conf_in[start + k]
            out["item_id"].append(item)
            out["answer"].append(answers[start + k])
            out["raw"].append((w[k] if np.isnan(c) else c) * agree)
            start = end

        raw = np.asarray(out["raw"], float)
        item_arr = pa.array(out["item_id"], _STR)
        ans_arr = pa.array(out["answer"], _STR)
        on_gold = np.array([i in g_tok for i in out["item_id"]], bool)
        ref = pa.array([None if i not in g_tok else orjson.dumps({"text": " ".join(g_tok[i])}).decode() for i in out["item_id"]], _STR)
        ok = _same_text(ans_arr, ref, cfg.answer_options) if len(raw) else np.zeros(0, bool)
        empty = np.array([not t for t in normalised_tokens(_texts(ans_arr), rule)], bool) if len(raw) else np.zeros(0, bool)
        fold = np.array([fold_of[i] for i in out["item_id"]], np.int64)
        conf = np.clip(_calibrate_items(raw, ok, on_gold, fold, empty.astype(np.int64)), 0.0, 1.0) if len(raw) else raw
        combined = pa.table({"item_id": item_arr, "answer": ans_arr, "confidence": pa.array(conf, pa.float64()),
                             "raw_confidence": pa.array(raw, pa.float64())})
        return combined.replace_schema_metadata({"options": orjson.dumps(cfg.answer_options.model_dump()).decode()}), learned, "draft_choice"

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """A clip the combination lacks gets the empty draft with confidence 0: nothing heard it, so nothing auto-accepts it."""
        n = len(item_ids)
        options = orjson.loads((combined.schema.metadata or {}).get(b"options", b"{}"))
        if n == 0 or combined.num_rows == 0:
            answer, conf = pa.array([_EMPTY] * n, _STR), np.zeros(n)
        else:
            at = pc.index_in(item_ids, value_set=combined.column("item_id")).to_numpy(zero_copy_only=False).astype(float)
            have = ~np.isnan(at)
            take = pa.array(np.where(have, at, 0).astype(np.int64))
            answer = pc.if_else(pa.array(have), combined.column("answer").take(take), pa.scalar(_EMPTY)).combine_chunks()
            conf = np.where(have, combined.column("confidence").to_numpy(zero_copy_only=False)[take.to_numpy()], 0.0)
        rule = compare_rule(options)
        empty = np.array([not t for t in normalised_tokens(_texts(answer), rule)], bool) if n else np.zeros(0, bool)
        key = np.where(empty, KEYS[1], KEYS[0]).astype(object)
        detail = self._word_scores(answer)
        return TranscriptDecisions(answer, conf, np.arange(n), key, conf, KEYS, detail, options=options)

    @staticmethod
    def _word_scores(answers: pa.Array) -> pa.Array:
        """Per draft, its words' scores as a JSON list (what `prelabels.probs` keeps)."""
        con = duckdb.connect()
        try:
            con.register("_a", pa.table({"a": answers}))
            return con.sql(
                "SELECT coalesce(to_json(list_transform(from_json(a::JSON->'words', '[{\"score\":\"DOUBLE\"}]'), lambda w: w.score)),"
                " '[]')::VARCHAR AS d FROM _a").to_arrow_table().column("d").combine_chunks()
        finally:
            con.close()

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        return _same_text(decisions.answer, reference, getattr(decisions, "options", {}))[decisions.item]

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        rows = con.sql(
            f"SELECT p.item_id, p.confidence, coalesce(p.answer::VARCHAR, '{_EMPTY}') AS a, h.a AS h FROM prelabels p"
            f" JOIN ({_human_answers()}) h USING (item_id)"
            " WHERE p.route = 'audit' ORDER BY p.item_id").to_arrow_table()
        opts = _options(con)
        a = rows.column("a").combine_chunks()
        ok = _same_text(a, rows.column("h").combine_chunks(), opts) if rows.num_rows else np.zeros(0, bool)
        empty = [not t for t in normalised_tokens(_texts(a), compare_rule(opts))] if rows.num_rows else []
        return pa.table({"item_id": rows.column("item_id"), "key": pa.array([KEYS[1] if e else KEYS[0] for e in empty], _STR),
                         "confidence": rows.column("confidence"), "correct": pa.array(ok, pa.bool_())})

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        if table == "labels":  # a label is the answer; the draft's word timings stay with the pre-label
            return {"answer": f"json_object('text', {column}::JSON->>'text')"}
        # an empty draft is no draft: the queue shows an empty box either way, and a project that does not allow
        # empty transcripts would refuse it as a suggestion
        return {"answer": f"CASE WHEN coalesce({column}::JSON->>'text', '') = '' THEN NULL ELSE {column}::JSON END"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return _texts(answers)

    # -- labeling-function analysis -----------------------------------------------------------------------

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict]:
        """Per recogniser: coverage, overlap, word accuracy on gold (1 - WER over all gold words, as `gold_accuracy` with
        its Wilson interval over words), and under `more` its WER and share of exactly right gold clips."""
        from tasks.prelabel.routing import wilson_interval

        options = _options(con)
        n_items = max(con.execute("SELECT count(*) FROM items").fetchall()[0][0], 1)
        out = []
        for sid, kind, version in con.execute("SELECT source_id, kind, version FROM sources WHERE list_contains(?::VARCHAR[], kind)"
                                              " ORDER BY source_id", [list(kinds)]).fetchall():
            cover = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM votes o WHERE o.item_id = v.item_id AND o.source_id <> v.source_id"
                " AND list_contains(?::VARCHAR[], o.source_kind))) FROM votes v JOIN sources s USING (source_id)"
                " WHERE v.source_id = ? AND v.source_version IS NOT DISTINCT FROM s.version AND v.answer IS NOT NULL",
                [list(kinds), sid]).fetchall()[0]
            m = gold_wer(con, sid, options)
            words = m.words
            right = max(words - m.errors, 0)
            lo, hi = wilson_interval(right, words)
            acc = right / words if words else None
            out.append({
                "source_id": sid, "kind": kind, "version": version, "polarity": "",
                "votes": int(cover[0]), "coverage": round(cover[0] / n_items, 4), "overlap": round(cover[1] / max(cover[0], 1), 4),
                "conflict": None, "n_gold": words, "gold_correct": right, "gold_accuracy": None if acc is None else round(acc, 4),
                "gold_acc_low": None if lo is None else round(lo, 4), "gold_acc_high": None if hi is None else round(hi, 4),
                "learned_accuracy": round(learned[sid], 4) if sid in learned else None,
                "more": {"gold clips": m.clips, "WER": None if m.wer is None else round(m.wer, 4),
                         "exact": round(m.exact / m.clips, 4) if m.clips else None},
            })
        return out

    # -- demo and reports: what the drafts saved -------------------------------------------------------------

    def draft_use(self, con: Any, cfg: ProjectConfig) -> dict[str, Any]:
        """How much of the machine drafts people kept: over every human judgment of a clip whose pre-label had words,
        the share of the draft's words that the submitted transcript keeps (aligned onto an equal word, after the
        comparison rule), and the drafts' WER against the final labels."""
        rule = compare_rule(cfg.answer_options)
        rows = con.execute(
            "SELECT p.answer->>'text', v.answer->>'text' FROM votes v JOIN prelabels p USING (item_id)"
            " WHERE v.source_kind = 'human' AND v.answer IS NOT NULL AND p.answer IS NOT NULL").fetchall()
        draft = normalised_tokens(pa.array([r[0] for r in rows], _STR), rule)
        said = normalised_tokens(pa.array([r[1] for r in rows], _STR), rule)
        total = sum(len(d) for d in draft)
        kept = sum(kept_words(d, s) for d, s in zip(draft, said))
        final = con.execute(
            "SELECT p.answer->>'text', l.answer->>'text' FROM labels l JOIN prelabels p USING (item_id)"
            " WHERE l.decision = 'resolved' AND l.method <> 'auto' AND l.answer IS NOT NULL AND p.answer IS NOT NULL").fetchall()
        fd = normalised_tokens(pa.array([r[0] for r in final], _STR), rule)
        fl = normalised_tokens(pa.array([r[1] for r in final], _STR), rule)
        ref_words = sum(len(t) for t in fl)
        gate = draft_gate.withheld_drafts(con, cfg)
        models = [r[0] for r in con.execute("SELECT source_id FROM sources WHERE kind IN ('model', 'lf')").fetchall()]
        return {"shown": bool(cfg.queue.show_prelabels) and (not models or any(m not in gate for m in models)), "withheld": gate,
                "judgments": len(rows), "draft_words": total, "kept_words": kept,
                "kept_share": round(kept / total, 4) if total else None,
                "draft_wer": round(sum(word_errors(d, t) for d, t in zip(fd, fl)) / ref_words, 4) if ref_words else None}


FACET = _TranscriptPrelabel()
