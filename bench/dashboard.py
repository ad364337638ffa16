"""Dashboard and report at scale: 10M votes and 500 stage runs of history, generated in DuckDB with SQL.

    uv run python -m bench.dashboard [--votes 10000000] [--runs 500] [--db PATH] [--browser]

Prints the server time of the dashboard's JSON (open read-only, compute every view, close) and of the
report (the same plus writing the self-contained HTML), best of `--repeat`; with `--browser`, the time
from navigation to every chart drawn in headless Chromium, for the app's page and for the report file.
Targets (issue 14): server <= 2 s, browser <= 3 s. The generated database is kept at --db and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["generate", "main"]

HUMANS, MODELS, LFS, LABELS = 60, 3, 5, 8


def generate(db: Path, votes: int, runs: int) -> None:
    """A plausible project state: every table the dashboard reads, sized like a large project."""
    from tasks.store import open_store

    labels_sql = "['" + "','".join(f"label{i}" for i in range(LABELS)) + "']"
    items = max(votes // 10, 1)
    with open_store(db) as con:
        # a non-negative BIGINT hash (DuckDB's hash is a UBIGINT, which mixes badly with signed arithmetic)
        con.execute("CREATE TEMP MACRO hh(x) AS CAST(hash(x) & 2147483647 AS BIGINT)")
        con.execute("INSERT INTO projects (name, config_hash, config) VALUES ('bench', 'h', '{}')")
        con.execute(f"""INSERT INTO sources (source_id, kind, name, paused)
            SELECT CASE WHEN i < {HUMANS} THEN 'human:a' || i WHEN i < {HUMANS + MODELS} THEN 'model:m' || i ELSE 'lf:f' || i END,
                   CASE WHEN i < {HUMANS} THEN 'human' WHEN i < {HUMANS + MODELS} THEN 'model' ELSE 'lf' END,
                   'n' || i, i % 29 = 7
            FROM range({HUMANS + MODELS + LFS}) t(i)""")
        # 70% of votes from humans (duration: log-normal around 8 s, per-annotator speed), 30% machine
        con.execute(f"""INSERT INTO votes (vote_id, item_id, source_id, source_kind, label, duration_ms, created_at)
            SELECT 'v' || i, 'i' || (i % {items}),
                   CASE WHEN h THEN 'human:a' || (hh(i) % {HUMANS}) ELSE
                        CASE WHEN hh(i) % 8 < 3 THEN 'model:m' || ({HUMANS} + hh(i) % {MODELS})
                             ELSE 'lf:f' || ({HUMANS + MODELS} + hh(i) % {LFS}) END END,
                   CASE WHEN h THEN 'human' WHEN hh(i) % 8 < 3 THEN 'model' ELSE 'lf' END,
                   {labels_sql}[1 + (hh(i * 7) % {LABELS})],
                   CASE WHEN h THEN CAST(exp(8.9 + 0.6 * sqrt(-2 * ln((hh(i * 3) % 1000000 + 1) / 1000001.0))
                        * cos(6.283185 * (hh(i * 5) % 1000000) / 1000000.0) + (hh(i) % {HUMANS}) / 60.0) AS BIGINT) END,
                   TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_milliseconds(CAST(i AS BIGINT) * 5184000000 // {votes})
            FROM (SELECT i, hh(i * 11) % 10 < 7 AS h FROM range({votes}) t(i))""")
        con.execute(f"""INSERT INTO items (item_id, kind, payload, source, state)
            SELECT 'i' || i, 'text', 'x', 'f', ['new', 'prelabeled', 'queued', 'auto_accepted', 'resolved', 'resolved',
                   'resolved', 'adjudicate'][1 + hh(i) % 8] FROM range({items}) t(i)""")
        con.execute(f"""INSERT INTO labels (item_id, label, confidence, method, decision, n_votes, n_human)
            SELECT 'i' || i, 'label0', 0.9, 'ds', ['resolved', 'resolved', 'needs_more', 'adjudicate'][1 + hh(i) % 4], 3, 2
            FROM range({items}) t(i)""")
        con.execute("""INSERT INTO source_stats (source_id, kind, n_votes, n_gold, gold_correct, gold_accuracy, gold_low, gold_high,
                           learned_accuracy, agreement_with_consensus)
            SELECT source_id, kind, 1000, 200, 170, 0.85 - (hh(source_id) % 20) / 100, 0.8 - (hh(source_id) % 20) / 100,
                   0.9 - (hh(source_id) % 20) / 100, 0.84, 0.8 FROM sources""")
        con.execute(f"""INSERT INTO export_versions (version, path, content_hash, n_rows, manifest, created_at)
            SELECT printf('v%04d', v), '/x', 'c', 1000, json_object('label_distribution',
                   map_from_entries(list_transform(range({LABELS}), lambda k: {{'key': 'label' || k, 'value': 1000 + hh(v * 31 + k) % 400}}))),
                   TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_days(CAST(v * 3 AS INTEGER))
            FROM range(1, 21) t(v)""")
        run_at = f"TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_milliseconds(CAST(r AS BIGINT) * 5184000000 // {runs})"
        source_rows = f"""SELECT 'run-' || r, 'consensus', {run_at}, 'source', s.source_id, m.metric,
                   CASE m.metric WHEN 'gold_accuracy' THEN 0.7 + 0.2 * r / {runs} - (hh(s.source_id) % 20) / 100
                        WHEN 'seconds_per_judgment' THEN 8 + hh(s.source_id) % 5 WHEN 'cost' THEN r * 0.3
                        ELSE 0.8 END, 0.6, 0.9, 50 + r
            FROM range({runs}) t(r), sources s, (VALUES ('gold_accuracy'), ('learned_accuracy'), ('agreement_with_consensus'),
                 ('seconds_per_judgment'), ('judgments'), ('cost')) m(metric)"""
        project_rows = f"""SELECT 'run-' || r, 'collect', {run_at}, 'project', '', m.metric, 1000 + hh((r, m.metric)) % 500,
                   NULL, NULL, NULL
            FROM range({runs}) t(r), (VALUES ('judgments'), ('queue_depth'), ('lease_expiries'), ('cost_per_label'),
                 ('cost_per_resolved_item'), ('auto_accept_share'), ('audit_precision'), ('cost_saved'), ('alpha')) m(metric)"""
        label_rows = f"""SELECT 'run-' || r, 'consensus', {run_at}, sc.scope, 'label' || k, sc.metric, 0.7 + (hh((r, k)) % 100) / 1000,
                   0.6, 0.8, 100
            FROM range({runs}) t(r), range({LABELS}) l(k), (VALUES ('label', 'alpha'), ('label', 'share'),
                 ('label', 'resolved')) sc(scope, metric)
            UNION ALL SELECT 'run-' || r, 'consensus', {run_at}, 'agreement', a.key, 'value', 0.6 + (hh((r, a.key)) % 100) / 1000,
                   NULL, NULL, 100
            FROM range({runs}) t(r), (VALUES ('pairs.mean_kappa'), ('fleiss')) a(key)"""
        state_rows = f"""SELECT 'run-' || r, 'consensus', {run_at}, 'state', s.state, 'items', 1000 + r, NULL, NULL, NULL
            FROM range({runs}) t(r), (VALUES ('new'), ('queued'), ('resolved'), ('auto_accepted')) s(state)"""
        con.execute(f"INSERT INTO metric_history {source_rows} UNION ALL {project_rows} UNION ALL {label_rows} UNION ALL {state_rows}")
        con.execute("""UPDATE metric_history SET value = value / 1500.0 WHERE metric IN ('auto_accept_share', 'audit_precision', 'alpha')""")
        con.execute("""INSERT INTO annotator_events (event_id, source_id, action, rule, reason, actor)
            SELECT 'e' || i, 'human:a' || (i % 7), 'flag', ['too_fast', 'straight_lining', 'gold_drift'][1 + i % 3], 'r', 'annoflow'
            FROM range(40) t(i)""")


def _server_times(db: Path, repeat: int) -> dict[str, float]:
    from tasks.report.data import dashboard_data
    from tasks.report.html import report_for_db
    from tasks.store import open_store

    memo: dict = {}

    def dashboard(memo: dict | None = None) -> int:
        with open_store(db, read_only=True) as con:
            return len(json.dumps(dashboard_data(con, memo=memo), default=str))

    best: dict[str, float] = {}
    out = Path(tempfile.mkdtemp()) / "report.html"
    for name, fn in (("dashboard_json", dashboard), ("report_html", lambda: report_for_db(db, out)),
                     ("dashboard_json_warm", lambda: dashboard(memo))):
        if name.endswith("warm"):
            dashboard(memo)  # what the app keeps between requests while no vote changed
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        best[name] = min(times)
    best["json_bytes"] = dashboard()
    best["report_bytes"] = out.stat().st_size
    best["report_path"] = str(out)
    return best


def _browser_times(db: Path, report: Path) -> dict[str, float]:
    from annotation_app.process import REPO_ROOT, start_app

    driver = REPO_ROOT / "tests" / "browser" / "dashboard.cjs"
    tmp = Path(tempfile.mkdtemp())
    app = start_app(tmp / "app.db", "bench-admin", project_dbs={"bench": db}, log=tmp / "app.log")
    out: dict[str, float] = {}
    try:
        page = f"{app.url}/admin/dashboard?project=bench#token=bench-admin"
        for name, url, offline in (("browser_dashboard", page, False), ("browser_dashboard_warm", page, False),
                                   ("browser_report", report.as_uri(), True)):
            plan = tmp / f"{name}.json"
            plan.write_text(json.dumps(dict(url=url, chromium=shutil.which("chromium") or "/usr/bin/chromium",
                                            userDataDir=str(tmp / f"profile-{name}"), screenshotDir=str(tmp), offline=offline)))
            run = subprocess.run(["node", str(driver), str(plan)], check=False, capture_output=True, text=True, timeout=300)
            if run.returncode:
                raise RuntimeError(run.stderr)
            seen = json.loads(run.stdout.strip().splitlines()[-1])
            out[name] = seen["browser_ms"] / 1000
            out[name + "_charts"] = len(seen["charts"])
            out[name + "_drawn_at_ms"] = round(seen["render_ms"])
            out[name + "_resources"] = seen["resources"]
    finally:
        app.stop()
    out["screenshots"] = str(tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "annoflow-bench-dashboard" / "state.duckdb")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time the page and the report in headless Chromium")
    args = ap.parse_args(argv)
    marker = args.db.with_suffix(".json")
    want = {"votes": args.votes, "runs": args.runs, "history_names": 2}  # bump when the generated rows change
    if not (args.db.exists() and marker.exists() and json.loads(marker.read_text()) == want):
        args.db.parent.mkdir(parents=True, exist_ok=True)
        args.db.unlink(missing_ok=True)
        t = time.perf_counter()
        generate(args.db, args.votes, args.runs)
        marker.write_text(json.dumps(want))
        print(f"generated {args.votes:,} votes and {args.runs} runs of history in {time.perf_counter() - t:.1f} s at {args.db}")
    res = {"votes": args.votes, "runs": args.runs, **_server_times(args.db, args.repeat)}
    if args.browser:
        res.update(_browser_times(args.db, Path(res["report_path"])))
    print(f"machine load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"dashboard JSON (server, best of {args.repeat}): {res['dashboard_json']:.3f} s  ({res['json_bytes'] / 1e3:.0f} kB)   target <= 2 s")
    print(f"dashboard JSON, votes unchanged since the last request (the app's memo): {res['dashboard_json_warm']:.3f} s")
    print(f"report HTML   (server, best of {args.repeat}): {res['report_html']:.3f} s  ({res['report_bytes'] / 1e3:.0f} kB)   target <= 2 s")
    if args.browser:
        print(f"browser, app page to all {res['browser_dashboard_charts']} charts drawn: {res['browser_dashboard']:.3f} s first view, "
              f"{res['browser_dashboard_warm']:.3f} s next view   target <= 3 s")
        print(f"browser, report file (offline) to all {res['browser_report_charts']} charts drawn: {res['browser_report']:.3f} s   target <= 3 s")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
