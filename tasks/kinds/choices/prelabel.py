"""Choices: machine votes, their combination and the decisions auto-accept judges (see protocol.py, prelabel).

Single label: a vote is one label (NULL = abstain); the combiner gives a distribution over the classes;
the pre-label is the most probable class, one decision keyed by that class.

Multi-label is binary relevance: every label is its own present/absent question. A machine vote stores
the labels it says are present in `labels` and its per-label view in `probs` (JSON): a model's
P(present) for every label, a labeling function's 1.0 (present) / 0.0 (absent) for the labels it
spoke about, the others left out (abstain). The combiner runs once per label on those binary votes
(the single-label combiner with classes absent/present); the pre-label is the set of labels with
P(present) >= 0.5, made of one decision per label whose confidence is max(p, 1 - p), keyed by the label.
The item's confidence is its weakest decision's, as in consensus.

A multi-label LF's output per item is one of: a label (that label is present; no word on the others),
a set of labels (exactly these of the LF's declared labels are present, the rest of them absent; an
undeclared LF speaks for every label), or per-label booleans (True present, False absent, None
abstain: a struct/map in SQL, a frame with one column per label in Python); NULL / None abstains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..protocol import PrelabelDecisions

__all__ = ["MULTI", "SINGLE"]

_STR = pa.string()
_BINARY = ("absent", "present")


def _lit(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]::VARCHAR[]"


def _probs_json(prob_columns: Sequence[str], labels: Sequence[str]) -> str:
    pairs = ", ".join(f"'{str(c).replace(chr(39), chr(39) * 2)}', round({p}, 6)" for p, c in zip(prob_columns, labels))
    return f"json_object({pairs})"


def _json_paths(labels: Sequence[str]) -> list[str]:
    return ['$."' + str(c).replace('"', '\\"') + '"' for c in labels]


def _as_labels(out: Any, n: int) -> pa.Array:
    """A single-label LF's output (list, numpy, pandas, polars, Arrow) as a string array of length n."""
    import pandas as pd

    if hasattr(out, "to_arrow") and not isinstance(out, (pa.Array, pa.ChunkedArray)):
        out = out.to_arrow()
    if isinstance(out, pd.Series):
        out = out.astype(object).where(out.notna(), None).to_list()
    elif isinstance(out, np.ndarray):
        out = [None if (x is None or (isinstance(x, float) and np.isnan(x))) else x for x in out.tolist()]
    arr = pa.chunked_array([out]) if isinstance(out, pa.Array) else out
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    else:
        arr = pa.array(list(arr), _STR)
    if len(arr) != n:
        raise ValueError(f"returned {len(arr)} labels for a batch of {n} items")
    return arr if arr.type == _STR else arr.cast(_STR)


def _lists(values: pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """list<string> of length n whose row r holds `values[rows == r]` (rows sorted ascending)."""
    offsets = np.zeros(n + 1, np.int32)
    np.add.at(offsets, rows + 1, 1)
    return pa.ListArray.from_arrays(pa.array(np.cumsum(offsets, dtype=np.int32)), values.cast(_STR))


def _indicator(sets: pa.Array, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows x labels bool matrix of membership, bool per row: the set is not null)."""
    sets = sets.combine_chunks() if isinstance(sets, pa.ChunkedArray) else sets
    n, C = len(sets), len(labels)
    out = np.zeros((n, C), bool)
    flat = pc.list_flatten(sets)
    if len(flat):
        rows = pc.list_parent_indices(sets).to_numpy(zero_copy_only=False)
        col = pc.index_in(flat, value_set=pa.array(list(labels), _STR)).to_numpy(zero_copy_only=False)
        ok = ~np.isnan(col.astype(float))
        out[rows[ok], col[ok].astype(np.int64)] = True
    return out, sets.is_valid().to_numpy(zero_copy_only=False)


def _probs_text(P: np.ndarray, labels: Sequence[str]) -> pa.Array:
    """Per row, `{label: probability}` as JSON text (rounded to 6 decimals), what `prelabels.probs` holds."""
    import duckdb

    cols = [f"p{j}" for j in range(len(labels))]
    con = duckdb.connect()
    try:
        con.register("_p", pa.table({c: P[:, j] for j, c in enumerate(cols)}) if cols else pa.table({"_": np.zeros(len(P))}))
        return con.sql(f"SELECT {_probs_json(cols, labels) if cols else 'NULL'}::VARCHAR AS j FROM _p").to_arrow_table().column("j").combine_chunks()
    finally:
        con.close()


class _ChoicesPrelabel:
    def __init__(self, multi: bool) -> None:
        self.multi = multi
        self.column = "labels" if multi else "label"
        self.vote_columns = ("labels", "probs") if multi else ("label",)

    # -- labeling functions -------------------------------------------------------------------------------

    def lf_specs(self, cfg: Any) -> list[Any]:
        from tasks.prelabel.lf import load_lfs

        return load_lfs(cfg)

    def lf_sql(self, expr: str) -> str:
        return f"to_json({expr})" if self.multi else f"({expr})::VARCHAR"

    def lf_python(self, output: Any, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        n = batch.num_rows
        if not self.multi:
            arr = _as_labels(output, n)
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            return arr, _lists(arr.filter(arr.is_valid()), np.flatnonzero(valid), n)
        arr = self._multi_output(output, n)
        if pa.types.is_struct(arr.type):  # per-label booleans: the labels it did not leave null
            names = [arr.type.field(j).name for j in range(arr.type.num_fields)]
            spoke = np.column_stack([pc.is_valid(arr.field(j)).to_numpy(zero_copy_only=False) & arr.is_valid().to_numpy(zero_copy_only=False)
                                     for j in range(len(names))]) if names else np.zeros((n, 0), bool)
            rows, cols = np.nonzero(spoke)
            return arr, _lists(pa.array(np.asarray(names, dtype=object)[cols].tolist(), _STR), rows, n)
        if pa.types.is_list(arr.type):
            return arr, arr
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        return arr, _lists(arr.filter(arr.is_valid()), np.flatnonzero(valid), n)

    @staticmethod
    def _multi_output(out: Any, n: int) -> pa.Array:
        """A multi-label LF's output as string (one label), list<string> (a set) or struct<bool> (per label)."""
        import pandas as pd

        if isinstance(out, dict):
            out = pa.table({str(k): pa.array(v, pa.bool_()) for k, v in out.items()})
        elif isinstance(out, pd.DataFrame) or (hasattr(out, "to_arrow") and hasattr(out, "columns")):
            out = pa.Table.from_pandas(out, preserve_index=False) if isinstance(out, pd.DataFrame) else out.to_arrow()
        if isinstance(out, pa.Table):
            if out.num_rows != n:
                raise ValueError(f"returned {out.num_rows} rows for a batch of {n} items")
            cols = [c.combine_chunks().cast(pa.bool_()) for c in out.columns]
            return pa.StructArray.from_arrays(cols, names=out.column_names) if cols else pa.array([{}] * n)
        if isinstance(out, (pa.Array, pa.ChunkedArray)):
            arr = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
        else:
            if hasattr(out, "to_list"):
                out = out.to_list()
            values = [None if v is None or (isinstance(v, float) and np.isnan(v))
                      else sorted(v) if isinstance(v, (set, frozenset)) else list(v) if isinstance(v, (tuple, np.ndarray)) else v
                      for v in out]
            kinds = {type(v) for v in values if v is not None}
            if kinds - {str, list}:
                raise ValueError(f"returned {sorted(k.__name__ for k in kinds - {str, list})}; expected a label, a set of labels or None per item")
            if kinds == {str, list}:
                raise ValueError("mixes single labels and sets of labels; return one form for every item")
            arr = pa.array(values, pa.list_(_STR) if kinds == {list} else _STR)
        if len(arr) != n:
            raise ValueError(f"returned {len(arr)} answers for a batch of {n} items")
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            return arr.cast(pa.list_(_STR))
        if pa.types.is_struct(arr.type):
            return arr
        return arr.cast(_STR)

    def lf_labels_sql(self, column: str) -> str:
        if not self.multi:
            return f"[{column}]"
        j = f"to_json({column})"
        return (f"CASE json_type({j}) WHEN 'VARCHAR' THEN [{j} ->> '$'] WHEN 'ARRAY' THEN ({j} ->> '$[*]')"
                f" WHEN 'OBJECT' THEN json_keys({j}) WHEN 'NULL' THEN []::VARCHAR[] ELSE [{j}::VARCHAR] END")

    def lf_vote_sql(self, column: str, polarity: Sequence[str]) -> dict[str, str]:
        if not self.multi:
            return {"label": column}
        j = f"to_json({column})"
        t = f"json_type({j})"
        present = (f"CASE {t} WHEN 'VARCHAR' THEN [{j} ->> '$'] WHEN 'ARRAY' THEN ({j} ->> '$[*]')"
                   f" WHEN 'OBJECT' THEN list_filter(json_keys({j}), lambda k: ({j} ->> k)::BOOLEAN) END")
        absent = (f"CASE {t} WHEN 'VARCHAR' THEN []::VARCHAR[]"
                  f" WHEN 'ARRAY' THEN list_filter({_lit(polarity)}, lambda l: NOT list_contains({j} ->> '$[*]', l))"
                  f" WHEN 'OBJECT' THEN list_filter(json_keys({j}), lambda k: NOT ({j} ->> k)::BOOLEAN) END")
        entries = (f"list_concat(list_transform({present}, lambda l: {{k: l, v: 1.0}}),"
                   f" list_transform({absent}, lambda l: {{k: l, v: 0.0}}))")
        spoke = f"len(coalesce({entries}, [])) > 0"  # all-null per-label booleans abstain like NULL
        return {"labels": f"CASE WHEN {spoke} THEN list_sort(list_distinct({present})) END",
                "probs": f"CASE WHEN {spoke} THEN to_json(map_from_entries({entries})) END"}

    # -- models ---------------------------------------------------------------------------------------

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        col = self.column
        keep = "list_has_all(?::VARCHAR[], t.a)" if self.multi else "list_contains(?::VARCHAR[], t.a)"
        answer = "list_sort(t.a)" if self.multi else "t.a"
        return con.sql(
            f"""
            WITH resolved AS (
                SELECT item_id, {col} AS a FROM labels WHERE decision = 'resolved' AND method <> 'auto' AND {col} IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1
            ), t AS (
                SELECT item_id, {col} AS a FROM gold WHERE {col} IS NOT NULL
                UNION ALL SELECT item_id, a FROM resolved WHERE item_id NOT IN (SELECT item_id FROM gold)
            )
            SELECT {', '.join('i.' + c for c in item_columns)}, {answer} AS answer FROM items i JOIN t USING (item_id)
            WHERE {keep} ORDER BY i.item_id
            """,
            params=[list(labels)],
        ).to_arrow_table()

    def train(self, name: str, data_kind: str, labels: Sequence[str], batch: pa.Table, answers: pa.Array, mcfg: Any,
              cfg: Any = None) -> Any:
        from tasks.prelabel.models import train_sklearn, train_sklearn_ovr

        if self.multi:
            present, _ = _indicator(answers, labels)
            return train_sklearn_ovr(name, data_kind, list(labels), batch, present, mcfg)
        return train_sklearn(name, data_kind, list(labels), batch, answers.to_pylist(), mcfg)

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: Any) -> str:
        from tasks.prelabel.models import _config_hash

        return _config_hash(data_kind, mcfg)

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        from tasks.prelabel.http_model import HttpModel

        return HttpModel(mcfg, list(labels))

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        _, probs = model.predict_proba(batch)
        return self.predictions(batch.column("item_id").to_pylist(), probs, labels)

    def predictions(self, item_ids: Sequence[str], outputs: Sequence[Any], labels: Sequence[str]) -> pa.Table:
        P = np.asarray(np.vstack(outputs) if len(outputs) else np.zeros((0, len(labels))), float).reshape(len(item_ids), len(labels))
        return pa.table({"item_id": pa.array(list(item_ids), _STR), **{f"p{j}": P[:, j] for j in range(len(labels))}})

    def model_vote_sql(self, prob_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        ps = ", ".join(prob_columns)
        if self.multi:
            confident = ", ".join(f"greatest({p}, 1 - {p})" for p in prob_columns)
            return {"labels": f"list_filter({_lit(labels)}, lambda l, i: [{ps}][i] >= 0.5)",
                    "confidence": f"least({confident})", "probs": _probs_json(prob_columns, labels)}
        lit = "[" + ", ".join("'" + str(c).replace("'", "''") + "'" for c in labels) + "]"
        return {"label": f"{lit}[list_position([{ps}], greatest({ps}))]", "confidence": f"greatest({ps})",
                "probs": _probs_json(prob_columns, labels)}

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        if not self.multi:
            from schemas.tables import ModelPredictions, check

            check(preds, ModelPredictions, what)
            return
        from tasks.errors import InputError

        for name in preds.column_names[1:]:
            p = preds.column(name).to_numpy(zero_copy_only=False)
            bad = np.flatnonzero(~((p >= -1e-9) & (p <= 1 + 1e-9)))
            if len(bad):
                item = preds.column("item_id")[int(bad[0])].as_py()
                raise InputError(f"{what}: probability {p[bad[0]]!r} of column {name} for item {item} is outside [0, 1]")

    # -- combination and calibrated auto-accept --------------------------------------------------------------

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        from tasks.store import read_dictionary_encoded

        current = ("FROM votes v JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind)"
                   " AND NOT s.banned AND v.source_version IS NOT DISTINCT FROM s.version")
        if self.multi:
            p = "[" + ", ".join("json_extract_string(v.probs, ?)::DOUBLE" for _ in labels) + "]"
            # a model's vote is soft (P(present) per label, with a confidence); an LLM's is hard (no confidence), like an LF's
            return read_dictionary_encoded(
                con, f"SELECT v.item_id, v.source_id, v.source_kind = 'model' AND v.confidence IS NOT NULL AS is_model, v.probs IS NOT NULL AS spoke,"
                f" {p} AS p {current}", ["item_id", "source_id"], params=[*_json_paths(labels), list(kinds)])
        probs = "[" + ", ".join("coalesce(json_extract_string(v.probs, ?)::DOUBLE, 0)" for _ in labels) + "]"
        return read_dictionary_encoded(
            con, f"SELECT v.item_id, v.source_id, v.label, CASE WHEN v.source_kind = 'model' AND v.confidence IS NOT NULL THEN {probs} END AS probs,"
            f" v.label IS NOT NULL AS spoke {current}", ["item_id", "source_id", "label"],
            params=[*_json_paths(labels), list(kinds)])

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql(f"SELECT item_id, {self.column} AS answer FROM gold WHERE {self.column} IS NOT NULL"
                       " ORDER BY item_id").to_arrow_table()

    @staticmethod
    def _combiner(cfg: Any, classes: Sequence[str]) -> Any:
        from tasks.prelabel.combine import LabelModelCombiner, LogOddsCombiner

        if cfg.prelabel.combiner == "label_model":
            from tasks.consensus.label_model import LabelModel

            return LabelModelCombiner(LabelModel(classes=list(classes)))
        return LogOddsCombiner(list(classes))

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: Any, item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        labels = list(cfg.labels)
        if not self.multi:
            comb = self._combiner(cfg, labels)
            probs = comb.fit_predict_proba(votes, gold.rename_columns(["item_id", "label"]))
            return probs, dict(getattr(comb, "source_accuracy_", {})), comb.name
        return self._combine_per_label(votes, gold, cfg, labels)

    def _combine_per_label(self, votes: pa.Table, gold: pa.Table, cfg: Any, labels: list[str]) -> tuple[pa.Table, dict[str, float], str]:
        """One binary combination per label; a source's accuracy is its mean over the labels it spoke on.

        An LF's abstain on a label (no entry in its `probs`) is an abstain vote in that label's
        combination; a model's P(present) is a two-class probability vector, as in the single-label case.
        """
        C, n = len(labels), votes.num_rows
        P = pc.list_flatten(votes.column("p")).to_numpy(zero_copy_only=False).astype(float).reshape(n, C) if n else np.zeros((0, C))
        is_model = votes.column("is_model").to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
        gold_present, _ = _indicator(gold.column("answer"), labels)
        base = votes.select(["item_id", "source_id"])
        out: dict[str, Any] = {}
        acc: dict[str, list[float]] = {}
        name = "log_odds"
        for j, c in enumerate(labels):
            p = P[:, j]
            lf_vote = np.where(np.isnan(p) | is_model, None, np.where(p >= 0.5, _BINARY[1], _BINARY[0]))
            model_rows = is_model & ~np.isnan(p)
            offsets = np.r_[0, np.cumsum(np.where(model_rows, 2, 0))].astype(np.int32)
            flat = np.column_stack([1 - p, p])[model_rows].ravel()
            probs = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.float64()), mask=pa.array(~model_rows))
            binary = base.append_column("label", pa.array(lf_vote.tolist(), _STR)).append_column("probs", probs)
            g = pa.table({"item_id": gold.column("item_id"),
                          "label": pa.array(np.where(gold_present[:, j], _BINARY[1], _BINARY[0]).tolist(), _STR)})
            comb = self._combiner(cfg, _BINARY)
            name = comb.name
            res = comb.fit_predict_proba(binary, g)
            if "item_id" not in out:
                out["item_id"] = res.column("item_id")
            out[c] = res.column(_BINARY[1])
            spoke = set(pc.unique(base.column("source_id").filter(pa.array(~np.isnan(p)))).cast(_STR).to_pylist()) if n else set()
            for s, a in getattr(comb, "source_accuracy_", {}).items():
                if s in spoke:
                    acc.setdefault(s, []).append(a)
        if "item_id" not in out:
            return pa.table({"item_id": pa.array([], _STR), **{c: pa.array([], pa.float64()) for c in labels}}), {}, name
        return pa.table(out), {s: float(np.mean(a)) for s, a in acc.items()}, name

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """Items the combination lacks get the uniform distribution (no evidence either way)."""
        from tasks.store import plain_strings

        C = len(labels)
        P = np.full((len(item_ids), C), 1.0 / C)
        if combined.num_rows:
            at = pc.index_in(item_ids, value_set=plain_strings(combined.column("item_id"))).to_numpy(zero_copy_only=False).astype(float)
            have = ~np.isnan(at)
            Pt = np.column_stack([combined.column(c).to_numpy(zero_copy_only=False) for c in labels])
            P[have] = Pt[at[have].astype(np.int64)]
        d = self.decide_probs(P, labels)
        return PrelabelDecisions(d.answer, d.confidence, d.item, d.key, d.decision_confidence, tuple(labels), _probs_text(P, labels))

    def decide_probs(self, probs: np.ndarray, labels: Sequence[str]) -> PrelabelDecisions:
        """The pre-label of each row of `probs` (columns in `labels` order) and its decisions."""
        n, C = probs.shape
        names = np.asarray(list(labels), dtype=object)
        if not self.multi:
            idx = probs.argmax(axis=1) if n else np.zeros(0, np.int64)
            conf = probs.max(axis=1) if n else np.zeros(0)
            pred = names[idx]
            return PrelabelDecisions(pa.array(pred.tolist(), _STR), conf, np.arange(n), pred, conf)
        present = probs >= 0.5
        dconf = np.where(present, probs, 1 - probs)
        rows, cols = np.nonzero(present)
        answer = _lists(pa.array(names[cols].tolist(), _STR), rows, n)
        conf = dconf.min(axis=1) if C else np.ones(n)
        return PrelabelDecisions(answer, conf, np.repeat(np.arange(n), C), np.tile(names, n), dconf.ravel())

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        if not self.multi:
            ref = np.asarray(reference.to_pylist(), dtype=object)
            return (np.asarray(decisions.answer.to_pylist(), dtype=object) == ref)[decisions.item]
        labels = list(dict.fromkeys(decisions.key.tolist()))
        got, _ = _indicator(decisions.answer, labels)
        want, _ = _indicator(reference, labels)
        return (got == want).ravel()

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        col = self.column
        human = (f"SELECT item_id, {col} AS a FROM labels WHERE decision = 'resolved' AND method <> 'auto' AND {col} IS NOT NULL"
                 " QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY updated_at DESC) = 1")
        if not self.multi:
            return con.sql(
                f"SELECT p.item_id, p.label AS key, p.confidence, p.label = h.a AS correct"
                f" FROM prelabels p JOIN ({human}) h USING (item_id) WHERE p.route = 'audit' ORDER BY p.item_id"
            ).to_arrow_table()
        return con.sql(
            f"""SELECT item_id, key, greatest(p, 1 - p) AS confidence, (p >= 0.5) = list_contains(a, key) AS correct FROM (
                SELECT p.item_id, l.key, h.a, json_extract_string(p.probs, '$."' || replace(l.key, '"', '\\"') || '"')::DOUBLE AS p
                FROM prelabels p JOIN ({human}) h USING (item_id) CROSS JOIN (SELECT unnest(?::VARCHAR[]) AS key) l
                WHERE p.route = 'audit') WHERE p IS NOT NULL ORDER BY item_id, key""",
            params=[list(labels)],
        ).to_arrow_table()

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        if not self.multi:
            return {"label": column}
        return {"answer": f"to_json({column})"} if table == "prelabels" else {"labels": column}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return pc.binary_join(answers, ", ") if self.multi else answers

    # -- language models as annotators ------------------------------------------------------------------

    def llm_instructions(self, cfg: Any) -> str:
        if self.multi:
            return ("Choose every label that applies to the text (possibly none). Answer with a JSON object and nothing else: "
                    '{"labels": ["<label>", ...]}')
        return 'Choose the one label that fits the text best. Answer with a JSON object and nothing else: {"label": "<label>"}'

    def parse_llm_answer(self, text: str, payload: str | None, cfg: Any) -> str:
        """A JSON object with `label` (a string) or `labels` (a list of strings); a reply that is just one label
        (quotes and a final full stop aside) counts as `{"label": ...}` for single-label projects."""
        import json

        from ..llm_json import answer_object, label_named
        from ..protocol import AnswerError

        labels = list(cfg.labels)
        key = self.column
        try:
            obj = answer_object(text, key)
        except AnswerError:
            bare = text.strip().strip("\"'`").rstrip(".").strip()
            if self.multi or not any(bare.casefold() == lab.casefold() for lab in labels):
                raise
            obj = {key: bare}
        if key not in obj:
            raise AnswerError("missing_field", f"the answer's JSON has no {key!r} (keys: {sorted(obj)})", key)
        value = obj[key]
        if not self.multi:
            return json.dumps(label_named(value, labels, key))
        if not isinstance(value, list):
            raise AnswerError("invalid_answer", f"labels is {value!r}, expected a list of labels", key)
        return json.dumps(sorted({label_named(v, labels, f"labels[{k}]") for k, v in enumerate(value)}))

    def llm_vote_sql(self, column: str, labels: Sequence[str]) -> dict[str, str]:
        j = f"({column})::JSON"
        if not self.multi:
            return {"label": f"{j} ->> '$'"}
        present = f"({j} ->> '$[*]')"
        # like a labeling function that speaks on every label: 1.0 present, 0.0 absent, no confidence
        entries = f"list_transform({_lit(labels)}, lambda l: {{k: l, v: CASE WHEN list_contains({present}, l) THEN 1.0 ELSE 0.0 END}})"
        return {"labels": f"list_sort({present})", "probs": f"to_json(map_from_entries({entries}))"}

    # -- labeling-function analysis -----------------------------------------------------------------------

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Any, kinds: Sequence[str]) -> list[dict]:
        from tasks.prelabel.analysis import lf_summary

        return lf_summary(con, self._vote_units_sql(labels), learned, kinds=tuple(kinds))

    def _vote_units_sql(self, labels: Sequence[str]) -> tuple[str, str]:
        """(votes, gold) as units `item_id, unit, value`: one unit per item (single label), one per item and label (multi)."""
        if not self.multi:
            return ("SELECT item_id, source_id, source_kind, '' AS unit, label AS value FROM votes WHERE label IS NOT NULL",
                    "SELECT item_id, '' AS unit, label AS value FROM gold WHERE label IS NOT NULL")
        path = "'$.\"' || replace(unit, '\"', '\\\"') || '\"'"
        votes = ("SELECT item_id, source_id, source_kind, unit, CASE WHEN p >= 0.5 THEN '+' ELSE '-' END || unit AS value FROM ("
                 f" SELECT *, json_extract_string(probs, {path})::DOUBLE AS p FROM ("
                 "  SELECT item_id, source_id, source_kind, probs, unnest(json_keys(probs)) AS unit FROM votes WHERE probs IS NOT NULL)"
                 ") WHERE p IS NOT NULL")
        gold = ("SELECT item_id, unit, CASE WHEN list_contains(labels, unit) THEN '+' ELSE '-' END || unit AS value FROM ("
                f" SELECT item_id, labels, unnest({_lit(labels)}) AS unit FROM gold WHERE labels IS NOT NULL)")
        return votes, gold


SINGLE = _ChoicesPrelabel(multi=False)
MULTI = _ChoicesPrelabel(multi=True)
