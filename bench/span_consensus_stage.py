"""Span consensus through the real stage at scale: DuckDB read + consolidation + agreement + write.

Run: ``uv run python -m bench.span_consensus_stage [--items 300000] [--annotators 3] [--gold 0.01]``.
A spans project's database is built in a temporary folder (sentences of 12 words, 0-2 true entities
each; 150 simulated annotators, 3 per sentence, who miss 10% of entities, shift a boundary on 10%,
mistype 5% and invent a span on 15% of sentences; 1% of sentences in gold), then the consensus stage
runs in a fresh process so its peak memory is its own: cold, no-op re-run, and a re-run after 1,000
new votes. Prints the stage's own split (read / fit / total), the process's peak RSS, and how well the
item confidences are calibrated (exact span-set accuracy vs confidence on the items the model decided),
and the stored per-span confidences (is the span a true one vs its confidence).
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import tomli_w

from tasks.kinds.spans.export import spans_sql
from tasks.kinds.spans.storage import SPANS_TYPE

LABELS = ["person", "location", "group", "product"]
WORDS = 12
# Word k of a sentence starts at 6 * k ("wNNNN " is six characters): spans are whole words.
_W = 6


def _spans(start_word, n_words, lab, n_rows, row_of):
    """SPANS_TYPE answers of `n_rows` rows from span arrays (`row_of` = each span's row)."""
    o = np.lexsort((lab, start_word, row_of))
    counts = np.bincount(row_of, minlength=n_rows)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    s = (start_word[o] * _W).astype(np.int32)
    e = ((start_word[o] + n_words[o]) * _W - 1).astype(np.int32)
    structs = pa.StructArray.from_arrays([pa.array(s), pa.array(e),
                                          pa.array(np.asarray(LABELS, dtype=object)[lab[o]], pa.string())],
                                         names=["start", "end", "label"])
    return pa.ListArray.from_arrays(pa.array(offsets), structs, type=SPANS_TYPE)


def synthetic(n_items: int, n_annot: int, seed: int = 0):
    """(answers: item, source, SPANS_TYPE; truth: item, SPANS_TYPE), built in numpy/Arrow."""
    rng = np.random.default_rng(seed)
    n_true = rng.choice([0, 1, 1, 2], n_items)
    t_item = np.repeat(np.arange(n_items), n_true)
    first = np.arange(len(t_item)) - np.repeat(np.cumsum(n_true) - n_true, n_true)
    t_start = first * 6 + rng.integers(0, 3, len(t_item))
    t_len = rng.integers(1, 3, len(t_item))
    t_lab = rng.integers(0, len(LABELS), len(t_item))
    rows_item, rows_src, sp_row, sp_start, sp_len, sp_lab = [], [], [], [], [], []
    for a in range(n_annot):
        src = rng.integers(0, 50, n_items) + 50 * a
        base = a * n_items
        keep = rng.random(len(t_item)) > 0.1
        shift = (rng.random(len(t_item)) < 0.1).astype(np.int64)
        lab = np.where(rng.random(len(t_item)) < 0.05, rng.integers(0, len(LABELS), len(t_item)), t_lab)
        spur = rng.random(n_items) < 0.15
        rows_item.append(np.arange(n_items))
        rows_src.append(src)
        sp_row += [base + t_item[keep], base + np.flatnonzero(spur)]
        sp_start += [t_start[keep], np.full(spur.sum(), WORDS - 1)]
        sp_len += [(t_len + shift)[keep], np.ones(spur.sum(), np.int64)]
        sp_lab += [lab[keep], rng.integers(0, len(LABELS), spur.sum())]
    n_rows = n_items * n_annot
    answers = _spans(np.concatenate(sp_start), np.concatenate(sp_len), np.concatenate(sp_lab), n_rows,
                     np.concatenate(sp_row))
    item = np.concatenate(rows_item)
    votes = pa.table({"item": item, "source": np.concatenate(rows_src), "answer": answers})
    truth = pa.table({"item": np.arange(n_items), "answer": _spans(t_start, t_len, t_lab, n_items, t_item)})
    return votes, truth


def build(root: Path, n_items: int, n_annot: int, gold_share: float) -> pa.Table:
    votes, truth = synthetic(n_items, n_annot)
    (root / "annoflow.toml").write_text(tomli_w.dumps({
        "name": "bench-spans", "task_kind": "spans", "labels": LABELS,
        "overlap": {"initial": 3, "max": 5}, "gold": {"ban_below": 0.5, "min_answers_for_ban": 20}}))
    from schemas.config import load_config
    from tasks.store import open_store

    cfg = load_config(root)
    rng = np.random.default_rng(1)
    gold = truth.take(pa.array(np.sort(rng.choice(n_items, int(n_items * gold_share), replace=False))))
    with open_store(cfg.db_path) as con:
        con.execute(f"INSERT INTO items (item_id, kind, payload, source, state) SELECT printf('i%07d', i), 'text',"
                    f" (SELECT string_agg(printf('w%04d', (i * 7 + k) % 10000), ' ') FROM range({WORDS}) w(k)),"
                    f" 'bench', 'queued' FROM range({n_items}) t(i)")
        con.execute("INSERT INTO sources (source_id, kind, name) SELECT printf('human:a%03d', s), 'human',"
                    f" printf('a%03d', s) FROM range({50 * n_annot}) t(s)")
        con.register("_v", votes)
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer, assignment_id, created_at)"
                    " SELECT md5(item || ':' || source), printf('i%07d', item), printf('human:a%03d', source), 'human',"
                    " to_json(answer), md5('asg' || item || ':' || source), now() FROM _v")
        con.register("_g", gold)
        con.execute("INSERT INTO gold (item_id, answer, origin) SELECT printf('i%07d', item), to_json(answer), 'file'"
                    " FROM _g")
    return truth


def calibration(root: Path, truth: pa.Table) -> dict:
    """Items decided by the model (not gold): exact-answer accuracy, mean confidence and ECE (10 bins),
    over all of them and over the resolved ones: the item confidence is what resolves an item."""
    from schemas.config import load_config
    from tasks.consensus.calibration import expected_calibration_error
    from tasks.store import open_store

    with open_store(load_config(root).db_path) as con:
        con.register("_truth", truth)
        # The stored spans carry their lineage (confidence, sources): compared on (start, end, label).
        got = con.sql(f"SELECT l.confidence, l.decision, {spans_sql('l.answer::VARCHAR')} = list_sort(t.answer) AS ok"
                      " FROM labels l JOIN _truth t ON l.item_id = printf('i%07d', t.item)"
                      " WHERE l.method NOT IN ('gold', 'adjudicated')").to_arrow_table()
        # Per span: is the stored span one of the item's true spans, against the span's own confidence.
        spans = con.sql("SELECT s.confidence AS c, list_contains(list_transform(t.answer, lambda x: x.start || '-' ||"
                        " x.\"end\" || x.label), s.start || '-' || s.\"end\" || s.label) AS ok FROM (SELECT item_id,"
                        " unnest(from_json(answer, '[{\"start\": \"INTEGER\", \"end\": \"INTEGER\", \"label\":"
                        " \"VARCHAR\", \"confidence\": \"DOUBLE\"}]')) AS s FROM labels"
                        " WHERE method NOT IN ('gold', 'adjudicated')) l"
                        " JOIN _truth t ON l.item_id = printf('i%07d', t.item)").to_arrow_table()
    conf = got["confidence"].to_numpy()
    ok = got["ok"].to_numpy(zero_copy_only=False).astype(float)
    res = got["decision"].to_numpy(zero_copy_only=False) == "resolved"
    span_conf = spans["c"].to_numpy()
    span_ok = spans["ok"].to_numpy(zero_copy_only=False).astype(float)
    return {"items": len(conf), "accuracy": round(float(ok.mean()), 4), "mean_conf": round(float(conf.mean()), 4),
            "ece": round(float(expected_calibration_error(conf, ok)), 4),
            "resolved": int(res.sum()), "resolved_accuracy": round(float(ok[res].mean()), 4),
            "resolved_mean_conf": round(float(conf[res].mean()), 4),
            "spans": len(spans), "span_precision": round(float(np.mean(span_ok)), 4),
            "span_mean_conf": round(float(span_conf.mean()), 4),
            "span_ece": round(float(expected_calibration_error(span_conf, span_ok)), 4)}


def add_votes(root: Path, n: int, n_items: int) -> None:
    from schemas.config import load_config
    from tasks.store import open_store

    with open_store(load_config(root).db_path) as con:
        con.execute("INSERT INTO sources (source_id, kind, name) VALUES ('human:late', 'human', 'late')")
        con.execute("INSERT INTO votes (vote_id, item_id, source_id, source_kind, answer, assignment_id, created_at)"
                    " SELECT md5('late' || i), printf('i%07d', (i * 7919) % ?), 'human:late', 'human',"
                    " '[{\"start\": 0, \"end\": 5, \"label\": \"person\"}]', md5('late-asg' || i), now() FROM range(?) t(i)",
                    [n_items, n])


def stage(root: str) -> None:
    """One stage run in this process; prints its summary figures and this process's peak RSS as JSON."""
    from schemas.config import load_config
    from tasks.consensus.stage import run_consensus_stage

    cfg = load_config(Path(root))
    t0 = time.perf_counter()
    out = run_consensus_stage(cfg)
    took = time.perf_counter() - t0
    print(json.dumps({"wall_s": round(took, 2), "seconds": out.get("seconds"), "n_votes": out.get("n_votes"),
                      "n_items": out.get("n_items"), "labels_written": out.get("labels_written"),
                      "unchanged": out.get("unchanged"), "n_iter": (out.get("fit") or {}).get("n_iter"),
                      "decisions": out.get("decisions"), "new_bans": len(out.get("new_bans") or []),
                      "alpha": (out.get("agreement") or {}).get("alpha"),
                      "span_f1": {k: v for k, v in ((out.get("agreement") or {}).get("span_f1") or {}).items()
                                  if k in ("strict", "overlap", "n_pairs")},
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, 2)}))


def _stage_in_child(root: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "bench.span_consensus_stage", "--stage-only", str(root)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300_000)
    ap.add_argument("--annotators", type=int, default=3)
    ap.add_argument("--gold", type=float, default=0.01)
    ap.add_argument("--stage-only", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage_only:
        stage(args.stage_only)
        return
    with tempfile.TemporaryDirectory(prefix="annoflow-bench-spans-stage-") as d:
        root = Path(d)
        t0 = time.perf_counter()
        truth = build(root, args.items, args.annotators, args.gold)
        print(f"built {args.items:,} sentences x {args.annotators} annotators in {time.perf_counter() - t0:.1f}s",
              flush=True)
        for name in ("cold", "no-op"):
            print(name, json.dumps(_stage_in_child(root)), flush=True)
        print("calibration", json.dumps(calibration(root, truth)), flush=True)
        add_votes(root, 1_000, args.items)
        print("after 1,000 new votes", json.dumps(_stage_in_child(root)), flush=True)


if __name__ == "__main__":
    main()
