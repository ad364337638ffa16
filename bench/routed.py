"""Items routed to people: consensus with machine evidence vs people alone, and agreeing people overruled.

Run: ``uv run python -m bench.routed`` (about 3 min: one demo run). ``--before-loop`` also runs the
demo loop with the previous behaviour (another 2-3 min); ``--demo-state PATH`` evaluates a finished
demo's state instead of running one; ``--skip-demo`` runs only the simulated crowds.

(a) The demo project (examples/youtube-spam) run end to end by ``annoflow demo`` in a scratch copy:
SIMULATED annotators label through the app; the example ships true labels. On its final votes the
consensus core is run three ways: the default (machine evidence calibrated, ``label_model``), the
previous behaviour (``machine_evidence = "votes"``: every rule and model an independent hard vote)
and people alone (Dawid–Skene over human votes only, same gold).
(b) Simulated crowds: rules and a model that share one latent signal (the model learnt from the
rules, so they are correlated), a model whose probabilities are over-confident, the product's own
pre-label combiner and routing rule, and people of accuracy 0.6/0.7/0.8/0.9 (2 votes an item, a
third when they split). Same three ways, on the items routed to people.

"ECE" is the expected calibration error of the confidences on those items (10 bins). "Overruled" counts items where at least two people voted and all of them agree, yet the consensus
label differs; "(right)" is how many of those the people had right.
"""

from __future__ import annotations

__all__ = ["main", "simulate"]

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.consensus.calibration import expected_calibration_error
from tasks.consensus.dawid_skene import DawidSkene
from tasks.consensus.pipeline import ConsensusInputs, ConsensusSettings, run_consensus
from tasks.prelabel.combine import LogOddsCombiner
from tasks.prelabel.routing import route, select_thresholds

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "youtube-spam"
_STR = pa.string()


def _plain(t: pa.Table) -> pa.Table:
    return pa.table({c: (t[c].cast(t[c].type.value_type) if pa.types.is_dictionary(t[c].type) else t[c])
                     for c in t.column_names})


def _human_only(classes, votes: pa.Table, gold: pa.Table) -> pa.Table:
    human = votes.filter(pc.equal(votes["source_kind"], "human")).select(["item_id", "source_id", "label"])
    return DawidSkene(classes).fit(human, gold if gold.num_rows else None).labels_


def _unanimous_people(votes: pa.Table) -> dict[str, str]:
    """Items where at least two people voted and all agree -> their label."""
    h = votes.filter(pc.and_(pc.equal(votes["source_kind"], "human"), pc.is_valid(votes["label"])))
    g = h.group_by("item_id").aggregate([("label", "count"), ("label", "count_distinct"), ("label", "min")])
    g = g.filter(pc.and_(pc.greater_equal(g["label_count"], 2), pc.equal(g["label_count_distinct"], 1)))
    return dict(zip(g["item_id"].to_pylist(), g["label_min"].to_pylist()))


def evaluate(classes, inputs: ConsensusInputs, routed: list[str], truth: dict[str, str]) -> dict:
    """Accuracy on routed items with truth, and people overruled, for the three ways."""
    votes = _plain(inputs.votes)
    inputs = replace(inputs, votes=votes)
    s = ConsensusSettings(classes=tuple(classes), bootstrap=0)
    ways = {
        "consensus (calibrated machine)": run_consensus(s, inputs).labels,
        "consensus (machine as votes)": run_consensus(replace(s, machine_evidence="votes"), inputs).labels,
    }
    ways["people alone (DS, human votes)"] = _human_only(classes, votes, inputs.gold)
    agree = _unanimous_people(votes)
    items = [i for i in routed if i in truth]
    out = {"routed_items": len(items)}
    for name, t in ways.items():
        lab = dict(zip(t["item_id"].to_pylist(), t["label"].to_pylist()))
        conf = dict(zip(t["item_id"].to_pylist(), t["confidence"].to_pylist()))
        right = np.array([lab.get(i) == truth[i] for i in items], dtype=bool)
        ece = expected_calibration_error(np.array([conf.get(i) or 0.0 for i in items]), right) if items else None
        over = [i for i in agree if i in lab and lab[i] != agree[i]]
        out[name] = {"accuracy": round(float(right.mean()), 4) if items else None,
                     "ece": None if ece is None else round(ece, 4), "overruled": len(over),
                     "overruled_people_right": sum(agree[i] == truth.get(i) for i in over)}
    out["agreeing_items"] = len(agree)
    return out


# -- (a) the demo -------------------------------------------------------------------------------------
def run_demo(evidence: str) -> tuple[Path, dict]:
    """``annoflow demo`` in a scratch copy of the example, consensus counting machines as ``evidence``."""
    work = Path(tempfile.mkdtemp(prefix="annoflow-routed-")) / "youtube-spam"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns(".annoflow"))
    toml = work / "annoflow.toml"
    toml.write_text(toml.read_text().replace("[consensus]\n", f'[consensus]\nmachine_evidence = "{evidence}"\n'))
    cmd = [sys.executable, "-m", "annoflow_cli.main", "demo", "--project", str(work), "--json"]
    done = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return work, {k: summary.get(k) for k in ("accuracy", "accuracy_by_method", "human_judgments", "seconds")}


def demo_figures(project: Path) -> dict:
    from schemas.config import load_config
    from tasks.consensus.stage import read_inputs, settings_from_config
    from tasks.ingest.stage import key_match_sql, read_side_file
    from tasks.store import open_store

    cfg = load_config(project)
    truth = read_side_file(cfg.path("truth/labels.csv"), "truth file").select(["text", "label"])
    truth = truth.rename_columns(["key", "truth"]).cast(pa.schema([("key", _STR), ("truth", _STR)]))
    with open_store(cfg.db_path) as con:
        # the pre-labels are read whatever the project's own setting: the calibrated way needs them
        inputs = read_inputs(con, replace(settings_from_config(cfg), machine_evidence="calibrated"))
        routed = [r[0] for r in con.execute(
            "SELECT item_id FROM prelabels WHERE route = 'human' ORDER BY 1").fetchall()]
        con.register("_truth", truth)
        known = dict(con.execute(f"SELECT DISTINCT i.item_id, t.truth FROM _truth t JOIN items i"
                                 f" ON {key_match_sql(cfg, 'text', 'i', 't')}").fetchall())
    return evaluate(cfg.labels, inputs, routed, known)


# -- (b) simulated crowds ---------------------------------------------------------------------------
def simulate(accuracy: float, seed: int, n_items: int = 3000, n_people: int = 12, gold_share: float = 0.05,
             spam_share: float = 0.35) -> tuple[list[str], ConsensusInputs, list[str], dict[str, str]]:
    """A crowd of people around ``accuracy``, with correlated, over-confident machines (module doc)."""
    rng = np.random.default_rng(seed)
    classes = ["ham", "spam"]
    ids = np.array([f"i{j:05d}" for j in range(n_items)], dtype=object)
    y = (rng.random(n_items) < spam_share).astype(int)
    sign = 2 * y - 1
    # One latent machine signal per item: strong on easy items, near zero on hard ones.
    ease = rng.beta(1.2, 1.0, n_items)
    signal = sign * 3.0 * ease + rng.normal(0, 1.2, n_items)
    rows = []
    # The model: over-confident (probabilities sharper than its accuracy).
    p_spam = 1 / (1 + np.exp(-2.0 * signal))
    model_label = np.where(p_spam >= 0.5, "spam", "ham")
    probs = np.column_stack([1 - p_spam, p_spam])
    for j, lf_noise in enumerate((0.3, 0.5, 0.7)):
        seen = signal + rng.normal(0, lf_noise, n_items)  # the rules see the same signal as the model
        fires = np.abs(seen) > 2.0 + 0.3 * j
        lab = np.where(seen > 0, "spam", "ham")
        rows.append(pa.table({"item_id": ids.tolist(), "source_id": [f"lf:r{j}"] * n_items,
                              "source_kind": ["lf"] * n_items,
                              "label": pa.array(np.where(fires, lab, None).tolist(), _STR)}))
    rows.append(pa.table({"item_id": ids.tolist(), "source_id": ["model:m"] * n_items,
                          "source_kind": ["model"] * n_items, "label": model_label.tolist()}))
    machine_votes = pa.concat_tables(rows)
    is_gold = rng.random(n_items) < gold_share
    truth_lab = np.asarray(classes, dtype=object)[y]
    gold = pa.table({"item_id": ids[is_gold].tolist(), "label": truth_lab[is_gold].tolist()})
    with_probs = machine_votes.append_column(
        "probs", pa.array([None] * (3 * n_items) + probs.tolist(), pa.list_(pa.float64())))
    pre = LogOddsCombiner(classes).fit_predict_proba(with_probs, gold)
    P = np.column_stack([pre[c].to_numpy() for c in classes])
    pred = np.asarray(classes, dtype=object)[P.argmax(axis=1)]
    conf = P.max(axis=1)
    thr = select_thresholds(pred[is_gold], conf[is_gold], pred[is_gold] == truth_lab[is_gold], classes,
                            target=0.95, min_n=10)
    routes = route(ids.tolist(), pred, conf, thr, audit_rate=0.0, seed=seed)
    asked = is_gold | (routes == "human")
    # People: accuracy around the level, two votes an item, a third when the two split.
    skill = np.clip(rng.normal(accuracy, 0.05, n_people), 0.5, 0.99)
    human = []
    for item in np.flatnonzero(asked):
        who = rng.choice(n_people, size=3, replace=False)
        answers = []
        for k, p in enumerate(who):
            if k == 2 and answers[0] == answers[1]:
                break
            right = rng.random() < skill[p]
            answers.append(truth_lab[item] if right else classes[1 - y[item]])
            human.append((ids[item], f"human:p{p:02d}", "human", answers[-1]))
    people = pa.table({"item_id": [h[0] for h in human], "source_id": [h[1] for h in human],
                       "source_kind": [h[2] for h in human], "label": [h[3] for h in human]})
    votes = pa.concat_tables([machine_votes, people])
    machine = pa.table({"item_id": ids.tolist(), **{c: P[:, k] for k, c in enumerate(classes)}})
    inputs = ConsensusInputs(votes=votes, scoring_votes=votes.filter(pc.is_in(votes["item_id"], gold["item_id"])),
                             gold=gold, adjudications=pa.table({"item_id": pa.array([], _STR),
                                                                "label": pa.array([], _STR)}), machine=machine)
    routed = ids[(routes == "human") & ~is_gold].tolist()
    return classes, inputs, routed, dict(zip(ids.tolist(), truth_lab.tolist()))


def _print(title: str, fig: dict) -> None:
    print(f"\n{title}: {fig['routed_items']} routed items with truth, {fig['agreeing_items']} items where >=2 people agree")
    print(f"  {'way':34} {'accuracy':>9} {'ECE':>7} {'overruled':>10} {'(right)':>8}")
    for name, r in fig.items():
        if isinstance(r, dict) and "overruled" in r:
            print(f"  {name:34} {r['accuracy']!s:>9} {r['ece']!s:>7} {r['overruled']:>10} {r['overruled_people_right']:>8}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-state", type=Path, help="a finished demo's project folder to evaluate")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--before-loop", action="store_true",
                    help="also run the demo loop with machine_evidence = 'votes' (the previous behaviour)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    out: dict = {"crowds": {}}
    for acc in (0.6, 0.7, 0.8, 0.9):
        figs = [evaluate(*simulate(acc, seed)) for seed in (1, 2, 3)]
        merged = {"routed_items": sum(f["routed_items"] for f in figs),
                  "agreeing_items": sum(f["agreeing_items"] for f in figs)}
        for name in figs[0]:
            if isinstance(figs[0][name], dict) and "overruled" in figs[0][name]:
                n = [f["routed_items"] for f in figs]
                mean = lambda key: round(float(np.average([f[name][key] for f in figs], weights=n)), 4)  # noqa: B023
                merged[name] = {"accuracy": mean("accuracy"), "ece": mean("ece"),
                                "overruled": sum(f[name]["overruled"] for f in figs),
                                "overruled_people_right": sum(f[name]["overruled_people_right"] for f in figs)}
        out["crowds"][acc] = merged
        _print(f"(b) SIMULATED crowd, people ~{acc} accurate, correlated over-confident machines (3 seeds)", merged)
    if not args.skip_demo:
        loops = [(None, args.demo_state)] if args.demo_state else \
            [("calibrated", None)] + ([("votes", None)] if args.before_loop else [])
        for evidence, state in loops:
            project, summary = (state, {}) if state is not None else run_demo(evidence)
            fig = {**demo_figures(project), "loop": summary}
            how = f"loop run with machine_evidence={evidence!r}" if evidence else "given state"
            out[f"demo ({evidence or 'given state'})"] = fig
            _print(f"(a) demo youtube-spam, SIMULATED annotators, {how} ({project})", fig)
            if summary:
                print(f"  whole demo: accuracy {summary['accuracy']} over all items, {summary['human_judgments']}"
                      f" human judgments, {summary['seconds']} s")
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\n{out['seconds']} s")
    if args.json:
        print(json.dumps(out, default=str))
    return out


if __name__ == "__main__":
    main()
