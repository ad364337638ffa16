"""Ratings: the export facet (see tasks/kinds/protocol.py, export) and the release gate's rating checks.

The snapshot's answer column is `scores`: one struct per rated unit (the single score, or one per criterion
in config order) with the consensus `mean`, its interval `low`/`high` and `confidence` (null for gold and
adjudicated answers, which are taken as given). Format `ratings` (`formats/ratings.parquet`) has one row
per (item, criterion) with the interval, beside the item's method and lineage. Gate (per row): every unit
present with an integer score inside the scale, `low <= mean <= high` inside the scale, confidence in
[0, 1]. Gold: every score within `[answer] gold_tolerance` of gold. Answers compare on scores only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tasks.export.writers import FORMATS_DIR, parquet_list_sql, reader_connection

from ..part_checks import per_part
from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from .labelstudio import FROM_NAME
from .storage import options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "UNIT_TYPE", "units_sql", "write_ratings"]

UNIT_TYPE = pa.struct([("criterion", pa.string()), ("score", pa.int32()), ("mean", pa.float64()),
                       ("low", pa.float64()), ("high", pa.float64()), ("confidence", pa.float64())])


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def units_sql(answer: str, criteria: list[str]) -> str:
    """The JSON answer text `answer` (a labels or gold answer) as the list of `UNIT_TYPE` structs."""
    def unit(crit: str, score_path: str, est_path: str) -> str:
        num = lambda k: f"TRY_CAST(json_extract_string({answer}, {est_path} || '.{k}') AS DOUBLE)"
        return (f"{{'criterion': {crit}, 'score': TRY_CAST(json_extract_string({answer}, {score_path}) AS INTEGER),"
                f" 'mean': {num('mean')}, 'low': {num('low')}, 'high': {num('high')}, 'confidence': {num('confidence')}}}")
    if not criteria:
        return f"[{unit('NULL::VARCHAR', _lit('$.score'), _lit('$.estimate'))}]"
    listed = "[" + ", ".join(_lit(c) for c in criteria) + "]::VARCHAR[]"
    return (f"list_transform({listed}, lambda c: {unit('c', _lit('$.scores.') + ' || to_json(c)::VARCHAR', _lit('$.estimates.') + ' || to_json(c)::VARCHAR')})")


def write_ratings(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/ratings.parquet`: one row per (item, criterion): score, mean, low, high, confidence, plus the
    item's confidence, method, n_votes and sources."""
    target = out_dir / FORMATS_DIR / "ratings.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    files = parquet_list_sql(src)
    with reader_connection(cfg.export.memory_limit) as rc:
        split = ", split" if "split" in rc.sql(f"SELECT * FROM {files} LIMIT 0").columns else ""
        rc.execute(
            f"COPY (SELECT item_id{split}, r.criterion, r.score, r.mean, r.low, r.high, r.confidence,"
            " confidence AS item_confidence, method, n_votes, sources"
            f" FROM (SELECT *, unnest(scores) AS r FROM {files}) ORDER BY item_id, r.criterion)"
            f" TO {_lit(str(target))} (FORMAT parquet, COMPRESSION zstd)").fetchall()
    return [target]


def row_checks(lo: int, hi: int) -> list[RowCheck]:
    r = "scores[k + 1]"
    present = RowCheck("ratings_present", "every row has a score for every criterion",
                       "scores IS NULL OR len(scores) = 0", "ExpectColumnValuesToNotBeNull", {"column": "scores"})
    on_scale = per_part("scores", "scores_on_scale", f"every score is an integer on the scale {lo}-{hi}",
                        f"{r}.score IS NULL OR {r}.score < {lo} OR {r}.score > {hi}",
                        f"coalesce({r}.criterion || ' ', '') || 'score ' || coalesce({r}.score::VARCHAR, 'missing')"
                        f" || ' is not on the scale {lo}-{hi}'", sep=": ")
    sane = per_part("scores", "score_interval_sane", f"each consensus interval has low <= mean <= high inside {lo}-{hi}",
                    f"{r}.mean IS NOT NULL AND (NOT ({r}.low <= {r}.mean AND {r}.mean <= {r}.high) OR {r}.low < {lo}"
                    f" OR {r}.high > {hi} OR isnan({r}.mean))",
                    f"'interval ' || coalesce({r}.low::VARCHAR, 'null') || ' <= ' || {r}.mean || ' <= '"
                    f" || coalesce({r}.high::VARCHAR, 'null') || ' does not hold inside the scale'", sep=": ")
    conf = per_part("scores", "score_confidence_in_range", "each score's confidence (where recorded) is in [0, 1]",
                    f"{r}.confidence < 0 OR {r}.confidence > 1 OR isnan({r}.confidence)",
                    f"'confidence = ' || {r}.confidence || ' is outside [0, 1]'", sep=": ")
    return [present, on_scale, sane, conf]


class _RatingExport:
    column = "scores"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        return f"{units_sql(f'{alias}.answer::VARCHAR', list(options_of(cfg).criteria))} AS scores"

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return pa.list_(UNIT_TYPE)

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {"ratings": write_ratings}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        o = options_of(cfg)
        return {"scale": list(o.scale), "anchors": dict(o.anchors), "criteria": list(o.criteria),
                "interval": o.interval, "gold_tolerance": o.gold_tolerance,
                "scores": "one entry per criterion (criterion null for a single score): score (the nearest scale point), "
                          "mean with its interval low/high (the consensus estimate on gold's scale) and confidence "
                          "(P(the true score rounds to score)); null estimates for gold and adjudicated answers"}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        from .labelstudio import label_studio_config

        return label_studio_config(cfg)

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        lo = options_of(cfg).scale[0]
        return (f"list_transform(scores, lambda r: {{'from_name': CASE WHEN r.criterion IS NULL THEN '{FROM_NAME}'"
                f" ELSE '{FROM_NAME}_' || r.criterion END, 'to_name': '{data_key}', 'type': 'rating',"
                f" 'value': {{'rating': r.score - {lo} + 1}}}})")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        return row_checks(*options_of(cfg).scale)

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        return []  # the score distribution's shift is the generic label shift over `distribution_sql`

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT coalesce(r.criterion || '=', '') || r.score AS l FROM (SELECT unnest(scores) AS r FROM {src})"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        o = options_of(cfg)
        gold = units_sql("g.answer::VARCHAR", list(o.criteria))
        correct = (f"len(c.scores) = len({gold}) AND list_bool_and(list_transform(range(1, len(c.scores) + 1),"
                   f" lambda k: coalesce(abs(c.scores[k].score - ({gold})[k].score) <= {o.gold_tolerance}, false)))")
        return GoldMatch(present="g.answer IS NOT NULL", correct=correct, exported=f"{self.diff_key_sql('c.scores')}",
                         gold="g.answer::VARCHAR")

    def diff_key_sql(self, column: str = "scores") -> str:
        return f"to_json(list_transform({column}, lambda r: {{'criterion': r.criterion, 'score': r.score}}))::VARCHAR"

    def diff_units_sql(self) -> str | None:
        return ("list_transform(scores, lambda r: {'unit': coalesce(r.criterion, 'score') || '=' || r.score,"
                " 'label': coalesce(r.criterion, 'score')})")

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        """Mean absolute error and exact rate of the resolved scores against `truth` (rating JSON), per method."""
        crit = list(options_of(cfg).criteria)
        con.register("_truth", truth)
        try:
            rows = con.sql(
                f"SELECT t.item_id, coalesce(l.method, '(unresolved)') AS method, p.score AS predicted, q.score AS truth"
                f" FROM _truth t LEFT JOIN labels l ON l.item_id = t.item_id AND l.decision = 'resolved',"
                f" unnest({units_sql('t.truth::VARCHAR', crit)}) AS q,"
                f" LATERAL (SELECT unnest({units_sql('l.answer::VARCHAR', crit)}) AS p) pp"
                f" WHERE p.criterion IS NOT DISTINCT FROM q.criterion OR l.item_id IS NULL").to_arrow_table()
            per_item = con.sql("SELECT count(DISTINCT item_id) FROM _truth").fetchall()[0][0]
        finally:
            con.unregister("_truth")
        method = np.array(rows["method"].to_pylist(), dtype=object)
        pred = rows["predicted"].to_numpy(zero_copy_only=False).astype(np.float64)
        true = rows["truth"].to_numpy(zero_copy_only=False).astype(np.float64)
        ok = (method != "(unresolved)") & np.isfinite(pred) & np.isfinite(true)

        def score(mask: np.ndarray) -> dict[str, Any]:
            m = mask & ok
            return {"mae": float(np.abs(pred[m] - true[m]).mean()) if m.any() else None,
                    "exact": float((pred[m] == true[m]).mean()) if m.any() else None, "units": int(m.sum())}

        overall = score(np.ones(len(method), bool))
        by_method = {m: {"items": len(set(rows["item_id"].filter(pa.array(method == m)).to_pylist())), **score(method == m)}
                     for m in sorted(set(method.tolist()))}
        resolved = len(set(rows["item_id"].filter(pa.array(ok)).to_pylist()))
        return {"metric": "mae", "titles": {"mae": "mean absolute error (points)", "exact": "exact score rate"},
                "formats": {"mae": ".2f"},
                "items_with_truth": int(per_item), "resolved_with_truth": resolved, **overall, "by_method": by_method}


FACET = _RatingExport()
