"""The pairwise kind's consensus facet at scale: one `run` over 1M simulated judgments (as the consensus stage
hands them over: JSON answers, the items' comparison payloads), the whole consolidation included (parsing,
PreferenceModel, labels, source stats, agreement on its sample, the ranking).

Run: ``uv run python -m bench.pairwise_facet [n_items]`` (default 333,334 items x 3 judgments = 1M). Crowd: 20
systems, 40 judges of reliability 0.5-0.9, one position-biased judge, one spammer
(``tasks.kinds.pairwise.simulation``). Prints the wall and CPU seconds (the process's threads, DuckDB's
included) with the load average, per-item accuracy against the truth and the flags.
"""

from __future__ import annotations

import os
import sys
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings
from tasks.kinds import get
from tasks.kinds.pairwise.simulation import PairAnnotator, simulate_comparisons


def main(n_items: int = 333_334) -> dict:
    rng = np.random.default_rng(1)
    judges = [PairAnnotator(0.5 + 0.4 * rng.random()) for _ in range(40)]
    judges += [PairAnnotator(0.3, (0.95, 0.05, 0.0)), PairAnnotator(0.0)]
    crowd = simulate_comparisons(rng, judges, n_items, n_systems=20, per_item=3)
    with duckdb.connect() as con:
        con.register("j", crowd.judgments)
        con.register("it", crowd.items)
        votes = con.sql("SELECT item_id, source_id, 'human' AS source_kind,"
                        " json_object('choice', choice, 'swapped', swapped)::VARCHAR AS answer FROM j").to_arrow_table()
        payloads = con.sql("SELECT item_id, json_object('prompt', 'p', 'a', 'x ' || item_id, 'b', 'y ' || item_id,"
                           " 'system_a', system_a, 'system_b', system_b)::VARCHAR AS payload FROM it").to_arrow_table()
    empty = pa.table({"item_id": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    inputs = ConsensusInputs(votes=votes, scoring_votes=votes.slice(0, 0), gold=empty, adjudications=empty, payloads=payloads)
    started, cpu = time.perf_counter(), time.process_time()
    out = get("pairwise").consensus.run(inputs, ConsensusSettings(classes=(), kind="pairwise", answer={"allow_ties": False}), {})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    with duckdb.connect() as con:
        con.register("l", out.labels)
        con.register("t", crowd.truth)
        acc = con.sql("SELECT avg(CASE WHEN (CASE l.answer::JSON ->> '$.choice' WHEN 'A' THEN 'a' ELSE 'b' END)"
                      " = t.preference THEN 1.0 ELSE 0.0 END) FROM l JOIN t USING (item_id)").fetchall()[0][0]
    return {"judgments": votes.num_rows, "items": n_items, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2), "load_average": os.getloadavg()[0], "cores": os.cpu_count(), "accuracy": round(acc, 4),
            "resolved": int(pc.sum(pc.equal(out.labels["decision"], "resolved")).as_py()), "flags": out.agreement["flags"]}


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 333_334))
