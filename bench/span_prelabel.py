"""Span pre-labeling on WNUT17: LF quality, the local model, and calibration of the combined pre-labels.

Run: ``uv run python -m bench.span_prelabel [--train N] [--epochs E] [--members M]``.

- LFs: one phrase-list LF per entity type, the surface forms the training split tags with that type at
  least twice (a gazetteer a project would write from its first answers), evaluated in DuckDB over the
  dev and test texts; their lf-report on dev as gold.
- The local model: the spaCy NER ensemble (`span_model.py`) trained from a blank pipeline on the first
  N training sentences; its span confidences are calibrated on its held-out share.
- The combiner with dev as the project's gold; everything below is measured on test, which it never saw:
  ECE and reliability of the span confidences (is a span of confidence c right c of the time?) and of the
  item confidences (is the whole answer exactly right?), entity-level strict F1 (seqeval) of the
  pre-labels, and what auto-accept does at the target: share accepted and its exact-answer precision.
"""

from __future__ import annotations

__all__ = ["main", "read_conll"]

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tasks.kinds.spans.combine import combine_spans, route_spans
from tasks.kinds.spans.lf_report import span_lf_report
from tasks.kinds.spans.lfs import apply_sql_span_lfs, load_span_lfs
from tasks.kinds.spans.options import SpanOptions
from tasks.kinds.spans.span_model import train_span_model
from tasks.kinds.spans.tokens import bio_tags, spans_from_bio, tokenize
from tasks.prelabel.routing import calibration_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wnut17"


def read_conll(path: Path) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Sentences as (text with tokens joined by one space, spans from the BIO tags)."""
    out, toks, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            tok, _, tag = line.rpartition("\t")
            toks.append(tok), tags.append(tag)
            continue
        if toks:
            offs, pos = [], 0
            for t in toks:
                offs.append((pos, pos + len(t)))
                pos += len(t) + 1
            out.append((" ".join(toks), [tuple(s) for s in spans_from_bio(tags, offs)]))
        toks, tags = [], []
    return out


def _answers(rows: list[tuple[str, list]]) -> list[str]:
    return [json.dumps([{"start": s, "end": e, "label": lab} for s, e, lab in sorted(sp)]) for _, sp in rows]


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _scale(n: int) -> None:
    """Wall and CPU time of two span LFs (50 phrases, one regex) over `n` items built inside DuckDB."""
    import os

    con = duckdb.connect()
    con.execute(f"CREATE TABLE items AS SELECT 'i' || i AS item_id, 'Zoë flew from Zürich to city' || (i % 100)"
                f" || ' with ACME Corp 🛫 on day ' || i AS payload FROM range({n}) t(i)")
    opts = SpanOptions.model_validate({"lfs": [
        {"name": "cities", "label": "location", "phrases": ["Zürich", *[f"city{k}" for k in range(49)]]},
        {"name": "corps", "label": "corporation", "regex": r"\p{Lu}+ Corp", "case_sensitive": True}]})
    specs = load_span_lfs(opts, ["location", "corporation"], Path("."))
    t0, c0 = time.perf_counter(), os.times()
    votes = apply_sql_span_lfs(con, specs)
    wall, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"span LFs in DuckDB: {n} items x 2 LFs -> {votes.num_rows} votes in {wall:.2f}s wall, {cpu:.2f} CPU-s "
          f"({n * 2 / cpu / 1e6:.2f}M item-LF evaluations per CPU-s; load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--scale", type=int, default=0, help="Only time the DuckDB span LFs over this many synthetic items.")
    a = ap.parse_args(argv)
    if a.scale:
        _scale(a.scale)
        return
    train = read_conll(DATA / "wnut17train.conll")
    dev, test = read_conll(DATA / "emerging.dev.conll"), read_conll(DATA / "emerging.test.annotated")
    labels = sorted({lab for _, sp in train for *_, lab in sp})

    forms: Counter = Counter((t[s:e], lab) for t, sp in train for s, e, lab in sp)
    best: dict[str, tuple[int, str]] = {}
    for (form, lab), n in forms.items():
        if n >= 2 and (form not in best or n > best[form][0]):
            best[form] = (n, lab)
    lfs = [{"name": f"gazetteer_{lab}", "label": lab, "phrases": sorted(f for f, (_, lb) in best.items() if lb == lab)}
           for lab in labels if any(lb == lab for _, lb in best.values())]
    specs = load_span_lfs(SpanOptions.model_validate({"lfs": lfs}), labels, Path("."))
    ids = [f"dev{i}" for i in range(len(dev))] + [f"test{i}" for i in range(len(test))]
    items = pa.table({"item_id": ids, "payload": [t for t, _ in dev + test]})
    con = duckdb.connect()
    con.register("items", items)
    t0 = time.perf_counter()
    lf_votes = apply_sql_span_lfs(con, specs)
    t_lf = time.perf_counter() - t0
    gold_dev = pa.table({"item_id": ids[: len(dev)], "answer": _answers(dev)})
    report = span_lf_report(lf_votes, len(ids), gold_dev)
    print(f"LFs: {len(specs)} gazetteers, {lf_votes.num_rows} votes over {len(ids)} items in {t_lf:.2f}s (DuckDB)")
    for r in report["lfs"]:
        print(f"  {r['lf']:<28} coverage {r['coverage']:.3f} overlap {r['overlap']:.2f} conflict {r['conflict']:.2f} "
              f"P {r['precision']} R {r['recall']} F1 {r['f1']} (dev gold)")

    t0 = time.perf_counter()
    model = train_span_model([t for t, _ in train[: a.train]], [sp for _, sp in train[: a.train]], labels,
                             members=a.members, epochs=a.epochs, seed=0)
    t_train = time.perf_counter() - t0
    print(f"model {model.version}: {a.members} members x {a.epochs} epochs on {model.report['trained_on']} sentences "
          f"({model.report['held_out']} held out for calibration) in {t_train:.0f}s; precision by agreement "
          f"{model.report['precision_by_agreement']}")
    m_votes = model.votes(items)
    pre, rep = combine_spans(pa.concat_tables([lf_votes, m_votes]), gold_dev, ids, candidates=True)

    truth = {i: {(s, e, lab) for s, e, lab in sp} for i, (_, sp) in zip(ids[len(dev):], test)}
    test_rows = [r for r in pre.to_pylist() if r["item_id"] in truth]
    span_conf, span_ok, item_conf, item_ok, y_true, y_pred = [], [], [], [], [], []
    for r, (text, sp) in zip(test_rows, test):
        got = [(s["start"], s["end"], s["label"]) for s in json.loads(r["answer"])]
        span_conf += r["span_confidence"]
        span_ok += [g in truth[r["item_id"]] for g in got]
        item_conf.append(r["confidence"])
        item_ok.append(set(got) == truth[r["item_id"]])
        toks = tokenize(text, "whitespace")
        y_true.append(bio_tags(sp, toks))
        y_pred.append(bio_tags(got, toks))
    from seqeval.metrics import f1_score, precision_score, recall_score

    m_only = [[(s["start"], s["end"], s["label"]) for s in json.loads(x)] for x in m_votes.column("answer").to_pylist()[len(dev):]]
    y_model = [bio_tags(g, tokenize(t, "whitespace")) for g, (t, _) in zip(m_only, test)]
    print(f"test entity-level strict (seqeval): pre-labels P {precision_score(y_true, y_pred):.3f} R {recall_score(y_true, y_pred):.3f} "
          f"F1 {f1_score(y_true, y_pred):.3f}; model alone F1 {f1_score(y_true, y_model):.3f}")
    cand = [r for r in rep["candidates"].to_pylist() if r["item_id"] in truth]
    cand_conf = [r["confidence"] for r in cand]
    cand_ok = [(r["start"], r["end"], r["label"]) in truth[r["item_id"]] for r in cand]
    m_conf = [s["confidence"] for x in m_votes.column("answer").to_pylist()[len(dev):] for s in json.loads(x)]
    m_ok = [(s["start"], s["end"], s["label"]) in truth[i] for i, x in zip(ids[len(dev):], m_votes.column("answer").to_pylist()[len(dev):])
            for s in json.loads(x)]
    for what, conf, ok in (("kept span", span_conf, span_ok), ("candidate span", cand_conf, cand_ok),
                           ("model-alone span", m_conf, m_ok), ("item", item_conf, item_ok)):
        ece, table = calibration_table(np.array(conf), np.array(ok))
        dev = {"candidate span": "span", "item": "item"}.get(what)
        dev_ece = f" (on dev gold, cross-fitted: {_f(rep[dev + '_calibration']['ece'])})" if dev else ""
        print(f"test {what} calibration: n={len(conf)} ECE {_f(ece)}{dev_ece}")
        for row in table:
            print(f"    {row['bin']}  n={row['n']:<5} confidence {row['mean_confidence']:.3f}  right {row['accuracy']:.3f}")
    routes, thr = route_spans(pre, gold_dev, target=a.target, min_n=10)
    test_mask = np.array([i in truth for i in pre.column("item_id").to_pylist()])
    acc = routes[test_mask] != "human"
    prec = float(np.array(item_ok)[acc].mean()) if acc.any() else None
    print(f"auto-accept at target {a.target}: threshold {thr['threshold']} (dev precision {thr['precision']}, lower bound "
          f"{thr['precision_low']}, n={thr['n_eval']}); test: {acc.mean():.3f} of items accepted, exact-answer precision "
          f"{prec if prec is None else round(prec, 4)}")


if __name__ == "__main__":
    main()
