"""The rating kind's consensus facet at scale: one `run` over 1M simulated ratings (as the consensus stage
hands them over: JSON answers, gold as accepted answers), the whole consolidation included (parsing, the
gold scores and ban rule, RatingModel, the gold anchor, labels, source stats, agreement on its sample).

Run: ``uv run python -m bench.rating_facet [n_items] [--criteria]`` (default 200,000 items x 5 ratings = 1M;
with ``--criteria`` half the items, each answer scoring two criteria, `accuracy` as simulated and `clarity` its
mirror 6 - score, so again 1M scores; accuracy and MAE are then on `accuracy`). Crowd: 50
raters of leniency -0.8..0.8, range use 0.6..1.2 and noise 0.3..0.9 on a 1-5 scale, one careless rater who
scores at random (``tasks.kinds.rating.simulation``); 2,000 gold items (the rounded truth; a tenth of the
items when fewer). Prints the wall seconds, the process CPU seconds over the run, the load average, accuracy
(rounded consensus = rounded truth) and MAE against the continuous truth, and how often the consensus
interval holds the truth.
"""

from __future__ import annotations

import os
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa

from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings
from tasks.kinds import get
from tasks.kinds.rating.simulation import Rater, simulate_ratings

N_GOLD = 2_000


def crowd_inputs(n_items: int, seed: int = 1, criteria: bool = False) -> tuple[ConsensusInputs, pa.Table]:
    """The consensus stage's inputs for a simulated crowd, and the truth (`item_id, score`)."""
    rng = np.random.default_rng(seed)
    raters = [Rater(bias=rng.uniform(-0.8, 0.8), scale=rng.uniform(0.6, 1.2), noise=rng.uniform(0.3, 0.9)) for _ in range(50)]
    raters.append(Rater(spam=True))
    crowd = simulate_ratings(rng, raters, n_items, per_item=5)
    answer = "json_object('scores', json_object('accuracy', {x}, 'clarity', 6 - {x}))" if criteria else "json_object('score', {x})"
    with duckdb.connect() as con:
        con.register("r", crowd.ratings)
        con.register("t", crowd.truth)
        votes = con.sql(f"SELECT item_id, source_id, 'human' AS source_kind, {answer.format(x='score')}::VARCHAR AS answer"
                        " FROM r").to_arrow_table()
        gold_score = "least(5, greatest(1, round(score)))::INTEGER"
        gold = con.sql(f"SELECT item_id, {answer.format(x=gold_score)}::VARCHAR AS answer"
                       f" FROM t ORDER BY item_id LIMIT {min(N_GOLD, n_items // 10)}").to_arrow_table()
        scoring = con.sql("SELECT * FROM votes WHERE item_id IN (SELECT item_id FROM gold)").to_arrow_table()
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    return ConsensusInputs(votes=votes, scoring_votes=scoring, gold=gold, adjudications=empty), crowd.truth


def main(n_items: int = 200_000, criteria: bool = False) -> dict:
    inputs, truth = crowd_inputs(n_items, criteria=criteria)
    answer = {"scale": [1, 5], **({"criteria": ["accuracy", "clarity"]} if criteria else {})}
    settings = ConsensusSettings(classes=(), kind="rating", target_confidence=0.8, answer=answer)
    cpu, started = time.process_time(), time.perf_counter()
    out = get("rating").consensus.run(inputs, settings, {})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    score = "$.scores.accuracy" if criteria else "$.score"
    estimate = "$.estimates.accuracy" if criteria else "$.estimate"
    with duckdb.connect() as con:
        con.register("l", out.labels)
        con.register("t", truth)
        acc, mae, cover, n = con.sql(f"""
            SELECT avg(((l.answer::JSON ->> '{score}')::INTEGER = least(5, greatest(1, round(t.score)))::INTEGER)::DOUBLE),
                   avg(abs((l.answer::JSON ->> '{estimate}.mean')::DOUBLE - t.score)),
                   avg((t.score BETWEEN (l.answer::JSON ->> '{estimate}.low')::DOUBLE AND (l.answer::JSON ->> '{estimate}.high')::DOUBLE)::DOUBLE),
                   count(*)
            FROM l JOIN t USING (item_id) WHERE l.method = 'rating_model'""").fetchall()[0]
    return {"answers": inputs.votes.num_rows, "scores": inputs.votes.num_rows * (2 if criteria else 1), "items": n_items, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "loadavg": os.getloadavg()[0], "accuracy": round(acc, 4), "mae": round(mae, 4), "interval_coverage": round(cover, 4),
            "model_items": n, "bans": out.new_bans["source_id"].to_pylist(), "alpha_ordinal": out.agreement["alpha_ordinal"],
            "n_iter": out.fit["n_iter"]}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--criteria"]
    crit = "--criteria" in sys.argv[1:]
    print(main(int(args[0]) if args else (100_000 if crit else 200_000), crit))
