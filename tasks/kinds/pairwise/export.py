"""Pairwise: the export facet (see tasks/kinds/protocol.py, export).

The snapshot's answer column is `preference`, a struct: the preferred candidate in the item's terms
(`preferred`: a, b or tie), its posterior (`p_a`, `p_b`, `p_tie`), and the comparison itself (`prompt`,
`a`, `b`, `system_a`, `system_b`, from the item's payload), so every format reads typed values and no
format needs the state database. Formats:

- `preference_jsonl`: `formats/preference/preferences.jsonl`, one line per decided comparison with `prompt`,
  `chosen`, `rejected` (the layout preference-training libraries read: TRL's DPO trainer, OpenRLHF) plus
  `item_id`, `system_chosen`, `system_rejected`, `confidence`; ties are left out (they say nothing about
  which is better);
- `leaderboard`: `formats/leaderboard/leaderboard.csv` and `.json`, the systems ranked by Bradley–Terry
  strength (Davidson ties) fitted on the items' posteriors as soft comparisons, with the strength's and the
  rank's intervals; also published as a Prefect table artifact when the export runs inside a flow.

The Parquet of record is the snapshot itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tasks.export.writers import FORMATS_DIR, parquet_list_sql, reader_connection

from ..protocol import ExportWriter, FactCheck, GoldMatch, RowCheck
from . import labelstudio
from .bradley_terry import PAIR_TERMS_SQL, fit_bradley_terry
from .storage import options_of

if TYPE_CHECKING:
    from schemas.config import ProjectConfig

__all__ = ["FACET", "PREFERENCE_TYPE", "leaderboard", "preferred_sql", "write_leaderboard", "write_preference_jsonl"]

PREFERENCE_TYPE = pa.struct([
    ("preferred", pa.string()), ("p_a", pa.float64()), ("p_b", pa.float64()), ("p_tie", pa.float64()),
    ("prompt", pa.string()), ("a", pa.string()), ("b", pa.string()), ("system_a", pa.string()), ("system_b", pa.string()),
])


def preferred_sql(answer: str) -> str:
    """DuckDB: an answer's JSON text (`answer`, a VARCHAR expression) as a, b or tie in the item's terms."""
    return (f"CASE WHEN {answer}::JSON ->> '$.choice' = 'tie' THEN 'tie' "
            f"WHEN {answer}::JSON ->> '$.choice' NOT IN ('A', 'B') THEN NULL "
            f"WHEN ({answer}::JSON ->> '$.choice' = 'A') <> coalesce(TRY_CAST({answer}::JSON ->> '$.swapped' AS BOOLEAN), false) "
            "THEN 'a' ELSE 'b' END")


def _p(answer: str, side: str) -> str:
    # an accepted answer (gold, adjudicated) carries no posterior: it is certain
    return (f"coalesce(TRY_CAST({answer}::JSON ->> '$.p_{side}' AS DOUBLE), "
            f"CASE WHEN {preferred_sql(answer)} = '{side}' THEN 1.0 ELSE 0.0 END)")


def _write_json_lines(rc: Any, sql: str, path: Path) -> None:
    rc.execute(f"COPY ({sql}) TO '{str(path).replace(chr(39), chr(39) * 2)}' (FORMAT json)").fetchall()


def write_preference_jsonl(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/preference/preferences.jsonl`: `prompt, chosen, rejected` per decided comparison (ties left out)."""
    target = out_dir / FORMATS_DIR / "preference"
    target.mkdir(parents=True, exist_ok=True)
    path = target / "preferences.jsonl"
    files = parquet_list_sql(src)
    with reader_connection(cfg.export.memory_limit) as rc:
        _write_json_lines(rc, f"""
            SELECT item_id, preference.prompt AS prompt,
                   CASE preference.preferred WHEN 'a' THEN preference.a ELSE preference.b END AS chosen,
                   CASE preference.preferred WHEN 'a' THEN preference.b ELSE preference.a END AS rejected,
                   CASE preference.preferred WHEN 'a' THEN preference.system_a ELSE preference.system_b END AS system_chosen,
                   CASE preference.preferred WHEN 'a' THEN preference.system_b ELSE preference.system_a END AS system_rejected,
                   confidence
            FROM {files} WHERE preference.preferred IN ('a', 'b') ORDER BY item_id""", path)
    return [path]


def leaderboard(rc: Any, files: str, level: float) -> pa.Table:
    """The systems' ranking from the snapshot: each item's posterior is one soft comparison of its two systems,
    less the information its uncertainty does not carry (as the consensus model's own ranking)."""
    comparisons = rc.sql(f"""
        SELECT system_a, system_b, sum(p_a) AS win_a, sum(p_b) AS win_b, sum(p_tie) AS tie, {PAIR_TERMS_SQL}
        FROM (SELECT preference.system_a AS system_a, preference.system_b AS system_b, preference.p_a AS p_a,
                     preference.p_b AS p_b, preference.p_tie AS p_tie FROM {files})
        WHERE system_a IS NOT NULL AND system_b IS NOT NULL
        GROUP BY ALL ORDER BY ALL""").to_arrow_table()
    if not comparisons.num_rows:
        return pa.table({"system": pa.array([], pa.string()), "rank": pa.array([], pa.int32())})
    table, _ = fit_bradley_terry(comparisons, ties="davidson", level=level)
    return table


def _publish_artifact(table: pa.Table, cfg: ProjectConfig) -> None:
    """The leaderboard as a Prefect table artifact, when a flow or task run is there to hold it."""
    try:
        from prefect.artifacts import create_table_artifact
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:  # pragma: no cover - prefect is a dependency
        return
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    rows = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in table.to_pylist()]
    from flows.common import artifact_key

    create_table_artifact(table=rows, key=artifact_key(cfg, "leaderboard"),
                          description=f"{cfg.name}: systems ranked by Bradley–Terry strength with intervals")


def write_leaderboard(src: list[Path], out_dir: Path, cfg: ProjectConfig) -> list[Path]:
    """`formats/leaderboard/leaderboard.csv` and `.json`: the systems ranked with the intervals of strength and rank."""
    target = out_dir / FORMATS_DIR / "leaderboard"
    target.mkdir(parents=True, exist_ok=True)
    with reader_connection(cfg.export.memory_limit) as rc:
        table = leaderboard(rc, parquet_list_sql(src), options_of(cfg).level)
    csv_path, json_path = target / "leaderboard.csv", target / "leaderboard.json"
    pacsv.write_csv(table, csv_path)
    rows = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in table.to_pylist()]
    json_path.write_text(json.dumps({"level": options_of(cfg).level, "systems": rows}, indent=1) + "\n")
    _publish_artifact(table, cfg)
    return [csv_path, json_path]


class _PairwiseExport:
    column = "preference"

    def select_sql(self, cfg: ProjectConfig, alias: str) -> str:
        ans, pay = f"{alias}.answer::VARCHAR", "i.payload::JSON"
        return ("{" + f"'preferred': {preferred_sql(ans)}, 'p_a': {_p(ans, 'a')}, 'p_b': {_p(ans, 'b')}, "
                f"'p_tie': {_p(ans, 'tie')}, " + ", ".join(f"'{k}': {pay} ->> '$.{k}'" for k in
                                                            ("prompt", "a", "b", "system_a", "system_b"))
                + "} AS preference")

    def arrow_type(self, cfg: ProjectConfig) -> pa.DataType:
        return PREFERENCE_TYPE

    def formats(self, cfg: ProjectConfig) -> Mapping[str, ExportWriter]:
        return {"preference_jsonl": write_preference_jsonl, "leaderboard": write_leaderboard}

    def manifest_section(self, cfg: ProjectConfig) -> dict[str, Any]:
        return {"preferred": "a, b or tie in the item's own order (candidates a and b of the payload)",
                "posterior": "p_a, p_b, p_tie: the consolidated probability of each outcome",
                "ties_allowed": options_of(cfg).allow_ties,
                "leaderboard": "Bradley–Terry (Davidson ties) on the items' posteriors as soft comparisons, "
                               f"{options_of(cfg).level:.0%} intervals"}

    def label_studio_config(self, cfg: ProjectConfig) -> str:
        return labelstudio.label_studio_config(cfg)

    def label_studio_result_sql(self, cfg: ProjectConfig, data_key: str) -> str:
        return ("CASE WHEN preference.preferred = 'tie' THEN [{'from_name': '" + labelstudio.TIE_NAME
                + "', 'to_name': 'prompt', 'type': 'choices', 'value': {'choices': ['tie'], 'selected': NULL}}] "
                "ELSE [{'from_name': '" + labelstudio.FROM_NAME + "', 'to_name': 'left,right', 'type': 'pairwise', "
                "'value': {'choices': NULL, 'selected': CASE WHEN (preference.preferred = 'a') "
                "!= coalesce((task_data ->> '$.swapped')::BOOLEAN, false) THEN 'left' ELSE 'right' END}}] END")

    def row_checks(self, cfg: ProjectConfig) -> list[RowCheck]:
        allowed = ["a", "b", "tie"] if options_of(cfg).allow_ties else ["a", "b"]
        return [
            RowCheck("preference_present", "every row prefers a, b or (where allowed) tie",
                     f"preference IS NULL OR preference.preferred IS NULL OR preference.preferred NOT IN {tuple(allowed)!r}".replace(",)", ")"),
                     "ExpectColumnValuesToBeInSet", {"column": "preferred", "value_set": allowed},
                     frame_columns={"preferred": "preference.preferred"}),
            RowCheck("candidates_distinct", "every comparison has two different, non-empty candidates",
                     "coalesce(trim(preference.a), '') = '' OR coalesce(trim(preference.b), '') = '' "
                     "OR trim(preference.a) = trim(preference.b)", "ExpectColumnValuesToBeNull", {"column": "bad_pair"},
                     frame_columns={"bad_pair": "CASE WHEN coalesce(trim(preference.a), '') = '' OR coalesce(trim(preference.b), '') = ''"
                                                " OR trim(preference.a) = trim(preference.b) THEN 'missing or identical candidates' END"}),
        ]

    def fact_checks(self, con: Any, src: str, cfg: ProjectConfig, reference: Mapping[str, Any] | None) -> list[FactCheck]:
        return []

    def distribution_sql(self, cfg: ProjectConfig, src: str) -> str:
        return f"SELECT preference.preferred AS l FROM {src}"

    def gold_match(self, cfg: ProjectConfig) -> GoldMatch:
        gold = preferred_sql("g.answer::VARCHAR")
        return GoldMatch(present="g.answer IS NOT NULL", correct=f"c.preference.preferred = {gold}",
                         exported="c.preference.preferred", gold=gold)

    def diff_key_sql(self) -> str:
        return "preference.preferred"

    def diff_units_sql(self) -> str | None:
        return None

    def evaluate(self, con: Any, cfg: ProjectConfig, truth: pa.Table) -> dict[str, Any]:
        """Accuracy of the resolved preferences against true ones (`truth`: a, b or tie, or an answer's JSON)."""
        con.register("_truth", truth)
        try:
            rows = con.sql(f"""
                WITH t AS (SELECT item_id, CASE WHEN truth IN ('a', 'b', 'tie') THEN truth
                                                ELSE {preferred_sql('truth')} END AS truth FROM _truth),
                     r AS (SELECT item_id, {preferred_sql('answer::VARCHAR')} AS p, method FROM labels
                           WHERE decision = 'resolved')
                SELECT coalesce(r.method, '(unresolved)') AS method, count(*) AS n,
                       avg(CASE WHEN r.p = t.truth THEN 1.0 ELSE 0.0 END) AS acc, count(r.p) AS resolved
                FROM t LEFT JOIN r USING (item_id) GROUP BY 1 ORDER BY 1""").fetchall()
        finally:
            con.unregister("_truth")
        resolved = [r for r in rows if r[0] != "(unresolved)"]
        n_res = sum(r[3] for r in resolved)
        acc = sum(r[2] * r[1] for r in resolved) / n_res if n_res else None
        return {"metric": "accuracy", "items_with_truth": sum(r[1] for r in rows), "resolved_with_truth": n_res,
                "accuracy": acc, "by_method": {r[0]: {"items": r[1], "accuracy": None if r[0] == "(unresolved)" else r[2]}
                                               for r in rows}}


FACET = _PairwiseExport()
