"""Pre-labeling benchmarks: `uv run python -m bench.prelabel [--rows N] [--only sql,python,sklearn,route,http,youtube]`.

- sql:     the YouTube-spam SQL labeling functions over N synthetic comments (item-rule evaluations/s)
- python:  three vectorised Python LFs over the same items (items/s)
- sklearn: TF-IDF + logistic regression trained on 10k labels (with out-of-fold votes), then votes for
           all N items, stored (seconds end to end)
- route:   combination (log-odds), calibration and routing of all N items after the sections above
- http:    the HTTP model client against `python -m model_server` vs the server's own throughput
           (raw pre-encoded requests at the same batch size and concurrency, no client-side work)
- youtube: the real UCI YouTube spam comments (CONTENT, CLASS 1 = spam): SQL LFs + the model, routing at
           several target precisions; auto-accept share and precision measured against the true labels

Synthetic items are the real comments, resampled, each made unique by a suffix; they are written into
the items table directly (ingest has its own bench). Every figure is printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UCI = "/work/shared/datasets/wrench_youtube/uci_raw/*.csv"

# The labeling functions of examples/youtube-spam/annoflow.toml.
YOUTUBE_LFS = [
    ("check_out_my", r"""CASE WHEN regexp_matches(lower(payload), 'check (it |this |them )?out (my|our|me)\b|check (my|our) ') THEN 'spam' END"""),
    ("subscribe", r"""CASE WHEN regexp_matches(lower(payload), 'subscrib|\bsub (to|me|back|for)|sub ?4 ?sub') THEN 'spam' END"""),
    ("link", r"""CASE WHEN regexp_matches(lower(payload), 'https?://|www\.|\.(com|net|org|info|ly)\b|youtu\.be/') THEN 'spam' END"""),
    ("my_channel", r"""CASE WHEN regexp_matches(lower(payload), '\bmy (own |new |youtube |yt )?(channel|videos?|vids?|music|page|songs?|mixtape|covers?|band|website|site|account|blog|app|track)') THEN 'spam' END"""),
    ("money_offer", r"""CASE WHEN regexp_matches(lower(payload), '\bfree\b|money|\$ ?\d|\bearn|gift ?cards?|promo|get paid|\bcash\b|\bwin (a|an)\b|giveaway') THEN 'spam' END"""),
    ("engagement_request", r"""CASE WHEN regexp_matches(lower(payload), 'please (like|share|check|subscribe|support|visit|help|watch|give|take)|thumbs? up|like (this|my) (comment|post)|give (me|us|it) a (chance|like|listen)|share (this|it|my)') THEN 'spam' END"""),
    ("social_media", r"""CASE WHEN regexp_matches(lower(payload), 'facebook|twitter|instagram|\bfollow (me|us)\b|\bfb\b|\big\b') THEN 'spam' END"""),
    ("share_button_text", r"""CASE WHEN regexp_matches(lower(trim(payload)), '^check out this (video|playlist) on youtube:?$') THEN 'spam' END"""),
    ("short_comment", r"""CASE WHEN length(trim(payload)) < 20 AND NOT regexp_matches(lower(payload), 'http|www|\.com|subscri|channel|check') THEN 'ham' END"""),
    ("about_the_song", r"""CASE WHEN regexp_matches(lower(payload), '\b(song|songs|dance|dancing|voice|lyrics|beat|chorus)\b|gangnam|waka|\broar\b|party rock|love the way|rihanna|shakira|eminem|katy|\bpsy\b|lmfao') AND NOT regexp_matches(lower(payload), 'check|subscri|\bsub\b|channel|http|www\.|cover|vote|visit|see my|thumbs|\bmy (music|songs?|videos?|blog|track)') THEN 'ham' END"""),
    ("view_count_talk", r"""CASE WHEN regexp_matches(lower(payload), 'billion|\bviews\b|who(''s| is) (still )?(watching|listening|here)|in 20(1[3-9])') AND NOT regexp_matches(lower(payload), 'check|subscri|channel|http|comment|please|share|attention') THEN 'ham' END"""),
    ("praise", r"""CASE WHEN regexp_matches(lower(payload), '^(i )?(love|like|miss) (this|it|her|him|you|u)\b|best (song|video|rapper|singer)|so (good|beautiful|cute|awesome|funny|catchy)') AND NOT regexp_matches(lower(payload), 'check|subscri|channel|http|comment|please|vote') THEN 'ham' END"""),
]

PY_LFS = '''
import numpy as np
import pyarrow.compute as pc
from tasks.prelabel.lf import labeling_function


@labeling_function(name="py_link", labels=["spam"], input="arrow")
def py_link(batch):
    return pc.if_else(pc.match_substring_regex(batch["payload"], r"https?://|www\\."), "spam", None)


@labeling_function(name="py_subscribe", labels=["spam"], input="arrow")
def py_subscribe(batch):
    return pc.if_else(pc.match_substring(batch["payload"], "subscribe", ignore_case=True), "spam", None)


@labeling_function(name="py_short", labels=["ham"], input="arrow")
def py_short(batch):
    return pc.if_else(pc.less(pc.utf8_length(batch["payload"]), 20), "ham", None)
'''


def _comments() -> tuple[list[str], np.ndarray]:
    import pandas as pd

    df = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(UCI))], ignore_index=True)
    return df["CONTENT"].astype(str).tolist(), df["CLASS"].to_numpy()


def _config(root: Path, **prelabel):
    from schemas.config import validate_config

    root.mkdir(parents=True, exist_ok=True)
    return validate_config({"name": "bench", "labels": ["ham", "spam"], "root": str(root), "prelabel": prelabel})


def _fill_items(cfg, rows: int) -> np.ndarray:
    """N unique synthetic comments in the items table; returns their true classes (1 = spam)."""
    import pyarrow as pa

    from tasks.store import open_store

    texts, y = _comments()
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(texts), rows)
    arr = np.asarray(texts, dtype=object)[pick]
    payload = [f"{t} #{i}" for i, t in enumerate(arr)]
    table = pa.table({"payload": payload, "truth": np.where(y[pick] == 1, "spam", "ham"), "row": np.arange(rows)})
    with open_store(cfg.db_path) as con:
        con.register("_syn", table)
        con.execute(
            "INSERT INTO items (item_id, kind, payload, source, source_row) SELECT md5('bench' || payload), 'text', payload, 'synthetic', row + 1 FROM _syn"
        ).fetchall()
        con.execute("CREATE TABLE bench_truth AS SELECT md5('bench' || payload) AS item_id, truth FROM _syn").fetchall()
        con.unregister("_syn")
    return y[pick]


def bench_sql(cfg) -> dict:
    from tasks.kinds import kind_of
    from tasks.prelabel.lf import apply_sql_lfs, load_lfs
    from tasks.store import open_store

    specs = [s for s in load_lfs(cfg) if s.kind == "sql"]
    with open_store(cfg.db_path) as con:
        n = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
        cols = ", ".join(f"count(({s.code})::VARCHAR)" for s in specs)
        t, c = time.perf_counter(), time.process_time()
        con.execute(f"SELECT {cols} FROM items").fetchall()
        eval_only, eval_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        res = apply_sql_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=cfg.prelabel.batch_rows, run_id="bench")
        s, cpu = time.perf_counter() - t, time.process_time() - c
        t = time.perf_counter()
        again = apply_sql_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=cfg.prelabel.batch_rows, run_id="bench2")
        s2 = time.perf_counter() - t
    evals = n * len(specs)
    return {"items": n, "rules": len(specs), "eval_only_seconds": round(eval_only, 2), "eval_only_item_rule_evals_per_s": round(evals / eval_only),
            "eval_only_cpu_seconds": round(eval_cpu, 2),
            "seconds_incl_votes": round(s, 2), "cpu_seconds_incl_votes": round(cpu, 2), "item_rule_evals_per_s_incl_votes": round(evals / s),
            "votes_written": sum(r.inserted for r in res), "errors": [r.error for r in res if r.error],
            "rerun_seconds": round(s2, 2), "rerun_inserted": sum(r.inserted for r in again)}


def bench_python(cfg) -> dict:
    from tasks.kinds import kind_of
    from tasks.prelabel.lf import apply_python_lfs, evaluate_python_lf, load_lfs
    from tasks.store import open_store

    specs = [s for s in load_lfs(cfg) if s.kind == "python"]
    with open_store(cfg.db_path) as con:
        n = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
        items = con.sql("SELECT item_id, payload, uri, metadata FROM items").to_arrow_table()
        t = time.perf_counter()
        for k in range(0, n, cfg.prelabel.batch_rows):
            batch = items.slice(k, cfg.prelabel.batch_rows)
            for s in specs:
                evaluate_python_lf(s.fn, batch, cfg.labels, kind_of(cfg).prelabel)
        eval_only = time.perf_counter() - t
        del items
        t, c = time.perf_counter(), time.process_time()
        res = apply_python_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=cfg.prelabel.batch_rows, run_id="bench")
        s, cpu = time.perf_counter() - t, time.process_time() - c
    return {"items": n, "lfs": len(specs), "eval_only_seconds": round(eval_only, 2), "eval_only_items_per_s_all_lfs": round(n / eval_only),
            "seconds_incl_votes": round(s, 2), "cpu_seconds_incl_votes": round(cpu, 2), "items_per_s_all_lfs": round(n / s),
            "item_lf_evals_per_s": round(n * len(specs) / s), "votes_written": sum(r.inserted for r in res),
            "errors": [r.error for r in res if r.error]}


def bench_sklearn(cfg, n_train: int = 10_000) -> dict:
    from tasks.prelabel.stage import apply_model
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:
        con.execute(
            f"INSERT INTO gold (item_id, label, origin) SELECT item_id, truth, 'file' FROM bench_truth USING SAMPLE {n_train} ROWS (reservoir, 1)"
        ).fetchall()
    t, c = time.perf_counter(), time.process_time()
    rep = apply_model(cfg, cfg.prelabel.models[0], "bench")
    s, cpu = time.perf_counter() - t, time.process_time() - c
    with open_store(cfg.db_path) as con:
        acc = con.execute(
            "SELECT avg((v.label = t.truth)::INT) FROM votes v JOIN bench_truth t USING (item_id) WHERE v.source_kind = 'model'"
            " AND v.item_id NOT IN (SELECT item_id FROM gold)"
        ).fetchall()[0][0]
    return {"items": rep["predicted"], "train_labels": n_train, "seconds_incl_training_and_votes": round(s, 2), "cpu_seconds": round(cpu, 2),
            "training": rep["training"], "votes_written": rep["inserted"], "accuracy_vs_truth_non_train": round(acc, 4)}


def bench_route(cfg) -> dict:
    """Combination, calibration and routing over every item (LF + model votes of the sections before)."""
    from tasks.prelabel.stage import combine_and_route

    t, c = time.perf_counter(), time.process_time()
    rep = combine_and_route(cfg, "bench")
    s, cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    again = combine_and_route(cfg, "bench2")
    return {"items": rep["items"], "seconds": round(s, 2), "cpu_seconds": round(cpu, 2), "auto": rep["auto"], "audit": rep["audit"],
            "human": rep["human"], "gold_accuracy": rep["gold_accuracy"], "ece": rep["ece"], "rerun_seconds": round(time.perf_counter() - t, 2),
            "rerun_same_routes": (again["auto"], again["audit"], again["human"]) == (rep["auto"], rep["audit"], rep["human"])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(cfg, n: int = 100_000, batch_size: int = 1024, concurrency: int = 2, rounds: int = 7) -> dict:
    import httpx

    from schemas.config import ModelConfig
    from tasks.prelabel.http_model import HttpModel
    from tasks.prelabel.models import load_sklearn
    from tasks.store import open_store

    model_dir = cfg.state_dir / "models" / cfg.prelabel.models[0].name
    with open_store(cfg.db_path) as con:
        batch = con.sql(f"SELECT item_id, payload, uri, metadata FROM items LIMIT {n}").to_arrow_table()
    local = load_sklearn(model_dir).model
    t = time.perf_counter()
    local.predict_proba(batch)
    in_process = n / (time.perf_counter() - t)

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "model_server", "--model", str(model_dir), "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        ids, texts = batch.column("item_id").to_pylist(), batch.column("payload").to_pylist()
        bodies = [
            json.dumps({"items": [{"item_id": i, "text": x, "uri": None} for i, x in zip(ids[k : k + batch_size], texts[k : k + batch_size])]}).encode()
            for k in range(0, n, batch_size)
        ]
        mcfg = ModelConfig(name="remote", kind="http", url=url, batch_size=batch_size, concurrency=concurrency, timeout_seconds=120)
        own, mine = [], []
        with httpx.Client(base_url=url, timeout=120) as raw, HttpModel(mcfg, cfg.labels) as client:
            raw.post("/predict", content=bodies[0], headers={"content-type": "application/json"})  # warm-up both
            client.predict_proba(batch.slice(0, batch_size))
            for _ in range(rounds):  # alternate, so both see the same machine load; medians compared
                t = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(lambda b: raw.post("/predict", content=b, headers={"content-type": "application/json"}).raise_for_status(), bodies))
                own.append(n / (time.perf_counter() - t))
                t = time.perf_counter()
                _, probs = client.predict_proba(batch)
                mine.append(n / (time.perf_counter() - t))
        server_own, client_rate = float(np.median(own)), float(np.median(mine))
        assert probs.shape == (n, 2)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"items": n, "batch_size": batch_size, "concurrency": concurrency, "in_process_items_per_s": round(in_process),
            "note": "server_own = pre-encoded requests, same batch size and concurrency, no client-side work",
            "server_own_items_per_s": round(server_own), "client_items_per_s": round(client_rate),
            "client_share_of_server": round(client_rate / server_own, 3), "rounds": rounds,
            "paired_share_median": round(float(np.median(np.array(mine) / np.array(own))), 3),
            "best_server_own_items_per_s": round(max(own)), "best_client_items_per_s": round(max(mine)),
            "best_client_share_of_best_server": round(max(mine) / max(own), 3),
            "server_own_runs": [round(x) for x in own], "client_runs": [round(x) for x in mine]}


def bench_youtube(workdir: Path, gold_per_class: int, targets=(0.8, 0.9, 0.95, 0.98)) -> dict:
    """Real comments, a stratified gold sample, SQL LFs + sklearn model; precision vs the true labels."""
    import pyarrow as pa

    from tasks.prelabel.stage import (
        apply_labeling_functions,
        apply_model,
        combine_and_route,
    )
    from tasks.store import open_store

    texts, y = _comments()
    cfg = _config(workdir, labeling_functions=[{"name": n, "sql": s} for n, s in YOUTUBE_LFS],
                  models=[{"name": "tfidf-logreg", "min_train_labels": 20}], audit_rate=0.0)
    truth = np.where(y == 1, "spam", "ham")
    rng = np.random.default_rng(1)
    with open_store(cfg.db_path) as con:
        t = pa.table({"payload": [s.strip() for s in texts], "truth": truth, "row": np.arange(len(texts))})
        con.register("_yt", t)
        con.execute("INSERT INTO items (item_id, kind, payload, source, source_row) SELECT DISTINCT ON (payload) md5(payload), 'text', payload, 'uci', row + 1 FROM _yt").fetchall()
        con.execute("CREATE TABLE bench_truth AS SELECT DISTINCT ON (payload) md5(payload) AS item_id, truth FROM _yt").fetchall()
        ids = con.execute("SELECT item_id, truth FROM bench_truth ORDER BY item_id").fetchall()
        gold = []
        for cls in ("ham", "spam"):
            cand = [i for i, c in ids if c == cls]
            gold += [(i, cls) for i in rng.choice(cand, gold_per_class, replace=False)]
        con.executemany("INSERT INTO gold (item_id, label, origin) VALUES (?, ?, 'file')", gold)
    apply_labeling_functions(cfg)
    apply_model(cfg, cfg.prelabel.models[0])
    rows = []
    curve = None
    for target in targets:
        c = cfg.model_copy(deep=True)
        c.prelabel.target_precision = target
        rep = combine_and_route(c)
        with open_store(cfg.db_path) as con:
            acc = con.execute(
                "SELECT count(*), avg((p.label = t.truth)::INT) FROM prelabels p JOIN bench_truth t USING (item_id) WHERE p.route IN ('auto', 'audit')"
            ).fetchall()[0]
            if curve is None:
                pr = con.execute(
                    "SELECT p.confidence, (p.label = t.truth) FROM prelabels p JOIN bench_truth t USING (item_id) WHERE p.route <> 'gold'"
                ).fetchall()
                conf = np.array([r[0] for r in pr])
                ok = np.array([r[1] for r in pr])
                curve = []
                for q in (0.9, 0.95, 0.98, 0.99, 0.995, 0.999):
                    m = conf >= q
                    curve.append({"global_confidence_cutoff": q, "share": round(m.mean(), 4), "precision_vs_truth": round(ok[m].mean(), 4) if m.any() else None})
        rows.append({"target": target, "thresholds": {t["label"]: t["threshold"] for t in rep["thresholds"]}, "auto_accepted": int(acc[0]),
                     "routable": rep["routable"], "auto_accept_share": rep["auto_accept_share"],
                     "precision_vs_truth": round(acc[1], 4) if acc[1] is not None else None})
    return {"items": len(ids), "gold": 2 * gold_per_class, "gold_accuracy": rep["gold_accuracy"], "ece_on_gold": rep["ece"],
            "coverage": rep["coverage"], "by_target": rows, "curve_confidence_cutoff": curve}


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.prelabel")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch-rows", type=int, default=250_000, help="prelabel.batch_rows for the synthetic project")
    p.add_argument("--only", default="sql,python,sklearn,route,http,youtube")
    a = p.parse_args(argv)
    only = set(a.only.split(","))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": _load()}}
    with tempfile.TemporaryDirectory(prefix="annoflow-bench-prelabel-") as tmp:
        root = Path(tmp)
        mod = "bench_py_lfs"
        (root / "big").mkdir()
        (root / "big" / f"{mod}.py").write_text(PY_LFS)
        cfg = _config(root / "big", batch_rows=a.batch_rows,
                      labeling_functions=[{"name": n, "sql": s} for n, s in YOUTUBE_LFS] + [{"name": n, "python": f"{mod}:{n}"} for n in ("py_link", "py_subscribe", "py_short")],
                      models=[{"name": "tfidf", "min_train_labels": 20}])
        if only & {"sql", "python", "sklearn", "route", "http"}:
            t = time.perf_counter()
            _fill_items(cfg, a.rows)
            print(f"setup: {a.rows:,} synthetic items in {time.perf_counter() - t:.1f}s", flush=True)
        for name, fn in (("sql", bench_sql), ("python", bench_python), ("sklearn", bench_sklearn), ("route", bench_route), ("http", bench_http)):
            if name in only:
                results[name] = {**fn(cfg), "load_avg_after": _load()}
                print(f"{name}: {json.dumps(results[name])}", flush=True)
        if "youtube" in only:
            for g in (30, 150):
                results[f"youtube_gold{2 * g}"] = bench_youtube(root / f"yt{g}", g)
                print(f"youtube (gold {2 * g}): {json.dumps(results[f'youtube_gold{2 * g}'])}", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
