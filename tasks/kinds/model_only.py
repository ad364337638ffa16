"""The prelabel pieces of a kind whose machine votes come only from served models (boxes, transcripts, segments).

Such a kind has no labeling functions (a rule over pixels or samples is a model: serve it) and no local model to
train; both are refused with a `ConfigError` that says what to configure instead. Its votes and gold answers are
the kind's JSON in the `answer` column, read here once for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tasks.errors import ConfigError

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["ModelOnlyPrelabel"]


class ModelOnlyPrelabel:
    """Base of such a facet: set `kind_title` ("a boxes project"), `lf_hint` (what a rule should be instead) and
    `no_local_model` (the message refusing a `[[prelabel.models]]` entry of kind 'sklearn')."""

    kind_title: str = ""
    lf_hint: str = ""
    no_local_model: str = ""
    vote_columns: tuple[str, ...] = ("answer",)

    def lf_specs(self, cfg: ProjectConfig) -> list[Any]:
        if cfg.prelabel.labeling_functions:
            names = [lf.name for lf in cfg.prelabel.labeling_functions]
            raise ConfigError(f"labeling functions {names}: {self.kind_title} has no labeling functions; {self.lf_hint}")
        return []

    def _no_lfs(self, *_: Any) -> Any:
        raise ConfigError(f"{self.kind_title} has no labeling functions")

    lf_sql = lf_python = lf_labels_sql = lf_vote_sql = _no_lfs

    def _no_local_model(self, *_: Any) -> Any:
        raise ConfigError(self.no_local_model)

    training_data = train = model_config_hash = predictions = _no_local_model

    def machine_votes(self, con: Any, labels: Sequence[str], kinds: Sequence[str]) -> pa.Table:
        """`item_id, source_id, spoke, answer` (JSON text) and the rest of `vote_columns`, of non-banned current sources."""
        from tasks.store import read_dictionary_encoded

        extra = "".join(f", v.{c}" for c in self.vote_columns if c != "answer")
        return read_dictionary_encoded(
            con, f"SELECT v.item_id, v.source_id, v.answer IS NOT NULL AS spoke, v.answer::VARCHAR AS answer{extra}"
            " FROM votes v JOIN sources s USING (source_id) WHERE list_contains(?::VARCHAR[], v.source_kind)"
            " AND NOT s.banned AND v.source_version IS NOT DISTINCT FROM s.version ORDER BY v.item_id, v.source_id",
            ["item_id", "source_id"], params=[list(kinds)])

    def reference(self, con: Any, labels: Sequence[str]) -> pa.Table:
        return con.sql("SELECT item_id, answer::VARCHAR AS answer FROM gold WHERE answer IS NOT NULL ORDER BY item_id").to_arrow_table()
