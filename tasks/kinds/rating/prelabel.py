"""Ratings: the prelabel facet (see tasks/kinds/protocol.py, machine votes).

The machine raters are language models (`[[prelabel.models]] kind = "llm"`, `llm_rater.py`): each is a
source whose ratings are votes like a person's, so consensus learns its leniency, range use and noise,
scores it on gold and can ban it. Their votes do not make a pre-label: there are no labeling functions,
local models or HTTP scorers, every item gets no pre-label and is routed to people (`route = human`), and
the ratings count in consensus beside the people's. Labeling functions and model entries of another kind
are refused with a `ConfigError` that says so, instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import ConfigError

from ..model_only import ModelOnlyPrelabel
from ..protocol import PrelabelDecisions
from . import llm_rater

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET"]

_STR = pa.string()


def _refuse(what: str) -> ConfigError:
    return ConfigError(f"{what}: a rating project's machine raters are language models (a model entry of "
                       "kind = \"llm\", docs/llm-annotators.md); remove it from [prelabel] or make it one "
                       "(items go to people, and consensus learns each rater's leniency and noise)")


def _units_sql(table: str, keep: str) -> str:
    """The ratings of `table` (`answer` JSON) as rated units `item_id, {keep}unit, value`: a single score is one unit
    (`unit` ''), a rating per criterion one unit per criterion; `value` the score as text."""
    return (f"SELECT item_id, {keep}'' AS unit, answer ->> '$.score' AS value FROM {table} WHERE answer ->> '$.score' IS NOT NULL"
            f" UNION ALL SELECT item_id, {keep}k AS unit, answer ->> ('$.scores.' || to_json(k)::VARCHAR) AS value"
            f" FROM (SELECT *, unnest(json_keys(answer, '$.scores')) AS k FROM {table} WHERE json_type(answer, '$.scores') = 'OBJECT')")


class _RatingPrelabel:
    vote_columns = ("answer",)
    auto_accepts = False  # the LLM's votes count in consensus beside people's; no pre-label is ever auto-accepted

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        if cfg.prelabel.labeling_functions:
            raise _refuse("prelabel.labeling_functions")
        return []

    def _no_model(self, mcfg: Any, *_: Any) -> Any:
        raise _refuse(f"model {getattr(mcfg, 'name', '?')!r}")

    http_model = train = _no_model

    def model_config_hash(self, data_kind: str, mcfg: Any, cfg: ProjectConfig) -> str:
        raise _refuse(f"model {mcfg.name!r}")

    def training_data(self, con: Any, labels: Sequence[str], item_columns: Sequence[str]) -> pa.Table:
        return con.sql(f"SELECT {', '.join(item_columns)}, NULL::VARCHAR AS answer FROM items LIMIT 0").to_arrow_table()

    machine_votes = ModelOnlyPrelabel.machine_votes  # the LLM raters' votes: the stage counts them per item

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql("SELECT item_id, answer::VARCHAR AS answer FROM gold WHERE answer IS NOT NULL ORDER BY item_id").to_arrow_table()

    def audited(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return pa.table({"item_id": pa.array([], _STR), "key": pa.array([], _STR), "confidence": pa.array([], pa.float64()),
                         "correct": pa.array([], pa.bool_())})

    def combine(self, votes: pa.Table, gold: pa.Table, cfg: ProjectConfig,
                item_ids: pa.Array | None = None) -> tuple[pa.Table, dict[str, float], str]:
        return pa.table({"item_id": pa.array([], _STR)}), {}, "none"

    def decide(self, combined: pa.Table, item_ids: pa.Array, labels: Sequence[str]) -> PrelabelDecisions:
        n = len(item_ids)
        return PrelabelDecisions(answer=pa.nulls(n, _STR), confidence=np.zeros(n), item=np.zeros(0, np.int64),
                                 key=np.zeros(0, object), decision_confidence=np.zeros(0), keys=("rating",))

    def score(self, decisions: PrelabelDecisions, reference: pa.Array) -> np.ndarray:
        return np.zeros(len(decisions.item), bool)

    def answer_sql(self, table: str, column: str) -> dict[str, str]:
        return {"answer": f"{column}::JSON"}

    def answer_text(self, answers: pa.Array) -> pa.Array:
        """The rating's JSON text; "no machine rating" where there is none (every item: LLM ratings count in consensus)."""
        return pc.fill_null(answers.cast(_STR), "no machine rating")

    def lf_summary(self, con: Any, labels: Sequence[str], learned: Mapping[str, float], kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Per rater, over rated units (an item's score, or each criterion's): coverage, gold accuracy = the share of
        gold units it scored exactly (Wilson interval), consensus's learned accuracy, and under `more` its mean absolute
        error on gold (text: it is in points, not a share), which tells a rater one point off from one far off."""
        from tasks.prelabel.analysis import consensus_learned, lf_summary

        votes, gold = _units_sql("votes", "source_id, source_kind, "), _units_sql("gold", "")
        rows = lf_summary(con, (votes, gold), {**consensus_learned(con), **learned}, kinds=tuple(kinds))
        mae = dict(con.execute(f"SELECT v.source_id, avg(abs(v.value::DOUBLE - g.value::DOUBLE)) FROM ({votes}) v"
                               f" JOIN ({gold}) g USING (item_id, unit) GROUP BY v.source_id").fetchall())
        return [r | {"more": {"gold MAE": None if mae.get(r["source_id"]) is None else f"{mae[r['source_id']]:.2f}"}} for r in rows]

    # -- language models as raters (`llm_rater.py`) ---------------------------------------------------------

    llm_prompt = llm_rater.PROMPT
    llm_instructions = staticmethod(llm_rater.instructions)
    parse_llm_answer = staticmethod(llm_rater.parse_answer)

    def llm_vote_sql(self, column: str, labels: Sequence[str]) -> dict[str, str]:
        """The canonical rating as it is: a hard vote, no confidence."""
        return {"answer": f"({column})::JSON"}


FACET = _RatingPrelabel()
