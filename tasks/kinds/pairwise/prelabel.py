"""Pairwise: the prelabel facet (see tasks/kinds/protocol.py, machine votes).

The machine judges of comparisons are language models (`[[prelabel.models]] kind = "llm"`, `llm_judge.py`):
each is a source whose answers are votes in the same positional form as a person's (`choice` + `swapped`),
so consensus learns its reliability and position bias and scores it on gold like any judge. Their votes
do not make a pre-label: no labeling functions, no local or HTTP model, and every item's pre-label is "no
answer" with confidence 0, which routes it to people and never auto-accepts it; the judges' votes count
in consensus beside the people's, where adaptive overlap asks fewer people about items they settle.
Gold is read as stored, so the stage's reports count it as for every kind. A model entry of another kind
is refused with a message naming the entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError

from ..protocol import PrelabelDecisions
from . import llm_judge
from .storage import preference_sql

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "KEYS"]

KEYS = ("comparison",)
_STR = pa.string()


def _refuse(mcfg: Any) -> ConfigError:
    name = getattr(mcfg, "name", None) or "?"
    return ConfigError(f"prelabel.models {name!r}: a pairwise project's machine judges are language models; "
                       "make the entry kind = \"llm\" (docs/llm-annotators.md) or remove it (people judge every comparison)")


class _PairwisePrelabel:
    vote_columns = ("answer",)
    auto_accepts = False  # the LLM's votes count in consensus beside people's; no pre-label is ever auto-accepted

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        return []

    def lf_sql(self, expr: str) -> str:
        return f"({expr})::VARCHAR"

    def lf_python(self, output: Any, batch: pa.Table) -> tuple[pa.Array, pa.Array]:
        raise ValueError("a pairwise project has no labeling functions")

    def lf_labels_sql(self, column: str) -> str:
        return "[]::VARCHAR[]"

    def lf_vote_sql(self, column: str, polarity: Sequence[str]) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        return pa.table({**{c: pa.array([], _STR) for c in item_columns}, "answer": pa.array([], _STR)})

    def train(self, name, data_kind, labels, batch, answers, mcfg, cfg):
        raise _refuse(mcfg)

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: ProjectConfig) -> str:
        raise _refuse(mcfg)

    def http_model(self, mcfg: Any, labels: Sequence[str]) -> Any:
        raise _refuse(mcfg)

    def predict(self, model: Any, batch: pa.Table, labels: Sequence[str]) -> pa.Table:
        raise _refuse(model)

    def predictions(self, item_ids, outputs, labels) -> pa.Table:
        return pa.table({"item_id": pa.array(list(item_ids), _STR), "answer": pa.array(list(outputs), _STR)})

    def model_vote_sql(self, prediction_columns: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
        return {"answer": f"{prediction_columns[0]}::JSON"}

    def check_predictions(self, preds: pa.Table, what: str) -> None:
        return None

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        return con.sql("SELECT v.item_id, v.source_id, v.answer IS NOT NULL AS spoke, v.answer::VARCHAR AS answer"
                       " FROM votes v JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind)"
                       " AND NOT s.banned ORDER BY v.item_id, v.source_id", params=[list(kinds)]).to_arrow_table()

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql("SELECT item_id, answer::VARCHAR AS answer FROM gold WHERE answer IS NOT NULL ORDER BY item_id").to_arrow_table()

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        return pa.table({"item_id": pa.array([], _STR)}), {}, "none"

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        """No evidence: no answer, confidence 0 (people judge it)."""
        n = len(item_ids)
        conf = np.zeros(n)
        return PrelabelDecisions(pa.nulls(n, _STR), conf, np.arange(n), np.full(n, KEYS[0], dtype=object), conf, KEYS, None)

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        return np.zeros(len(decisions.item), bool)

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return pa.table({"item_id": pa.array([], _STR), "key": pa.array([], _STR),
                         "confidence": pa.array([], pa.float64()), "correct": pa.array([], pa.bool_())})

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        return pc.fill_null(answers.cast(_STR), "(no machine pre-label)")

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict]:
        """Per judge: coverage, gold accuracy = agreement with the gold preference (its shown order undone, a tie
        right only where gold ties) with its Wilson interval, consensus's learned accuracy, and under `more` the share
        of its A/B picks that went to the response shown first (about 0.5 for a judge without position bias)."""
        from tasks.prelabel.analysis import consensus_learned, lf_summary

        pref = preference_sql("answer")
        votes = (f"SELECT * FROM (SELECT item_id, source_id, source_kind, 'preference' AS unit, {pref} AS value FROM votes"
                 " WHERE answer IS NOT NULL) WHERE value IS NOT NULL")
        gold = (f"SELECT * FROM (SELECT item_id, 'preference' AS unit, {pref} AS value FROM gold WHERE answer IS NOT NULL)"
                " WHERE value IS NOT NULL")
        rows = lf_summary(con, (votes, gold), {**consensus_learned(con), **learned}, kinds=tuple(kinds))
        first = dict(con.execute("SELECT source_id, avg((answer ->> '$.choice' = 'A')::INT) FROM votes"
                                 " WHERE answer ->> '$.choice' IN ('A', 'B') GROUP BY source_id").fetchall())
        return [r | {"more": {"picks first": None if first.get(r["source_id"]) is None else round(first[r["source_id"]], 4)}}
                for r in rows]

    # -- language models as judges (`llm_judge.py`) ---------------------------------------------------------

    llm_prompt = llm_judge.PROMPT
    llm_instructions = staticmethod(llm_judge.instructions)
    llm_view = staticmethod(llm_judge.view)
    llm_view_sample = llm_judge.VIEW_SAMPLE
    parse_llm_answer = staticmethod(llm_judge.parse_answer)

    def llm_vote_sql(self, column: str, labels: Sequence[str]) -> dict[str, str]:
        """The canonical answer `{"choice", "swapped"[, "reason"]}` as it is: a hard vote in the shown order."""
        return {"answer": f"({column})::JSON"}


FACET = _PairwisePrelabel()
