"""What `annoflow` prints when its output is piped (CliRunner's output is not a terminal either):
whole cells however wide, and the leaderboard's figures as percentages and [low, high] intervals."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from annoflow_cli.main import app
from tests.consensus.test_stage import crowd, seed

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
PEOPLE = ("human:ls-anna.kowalska@example.org", "human:ls-bartholomew.okonkwo@example.org",
          "human:ls-chandrasekhar.venkataraman@example.org", "human:ls-dominique.villeneuve@example.org")


def project_with_long_names(make_project):
    cfg = make_project(consensus={"method": "dawid_skene", "bootstrap": 20})
    truth, votes = crowd(n_items=24, good=PEOPLE[:3], bad=PEOPLE[3:])
    seed(cfg, votes, gold=list(truth.items())[:8])
    return cfg


def test_piped_tables_keep_whole_cells_and_format_figures(prefect_harness, make_project) -> None:
    cfg = project_with_long_names(make_project)
    out = runner.invoke(app, ["consensus", "--config", cfg.root])
    assert out.exit_code == 0, out.output
    status = runner.invoke(app, ["status", "--config", cfg.root])
    assert status.exit_code == 0, status.output
    for text in (out.output, status.output):
        assert "…" not in text
        rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.startswith("│ human:")}
        assert set(rows) == set(PEOPLE), rows.keys()
        for line in rows.values():
            cells = [c.strip() for c in line.split("│")[1:-1]]
            gold, learned, agrees = cells[4], cells[5], cells[6]
            assert re.fullmatch(r"\d{1,3}\.\d% \[\d{1,3}\.\d%, \d{1,3}\.\d%\]", gold), gold
            assert re.fullmatch(r"\d{1,3}\.\d%|-", learned) and re.fullmatch(r"\d{1,3}\.\d%|-", agrees), cells
        learned_cells = [line.split("│")[6].strip() for line in rows.values()]
        assert sum(bool(re.fullmatch(r"\d{1,3}\.\d%", c)) for c in learned_cells) >= 3, learned_cells
        assert not re.search(r"\d\.\d{4,}", "".join(rows.values())), "no raw floats"


def test_wide_table_through_a_real_pipe(prefect_harness, make_project) -> None:
    """A subprocess whose stdout is a pipe (not CliRunner): a 130+ column table arrives whole."""
    cfg = project_with_long_names(make_project)
    assert runner.invoke(app, ["consensus", "--config", cfg.root]).exit_code == 0
    r = subprocess.run([sys.executable, "-m", "annoflow_cli.main", "status", "--config", cfg.root], cwd=REPO,
                       capture_output=True, text=True, check=False, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    widest = max(len(line) for line in r.stdout.splitlines())
    assert widest > 130 and all(p in r.stdout for p in PEOPLE)


def test_demo_summary_prints_a_rate_as_a_percentage_and_an_error_in_its_own_units() -> None:
    from annoflow_cli.app import console
    from annoflow_cli.demo import _print_summary

    summary = {"project": "p", "items": 30, "resolved": 30, "auto_accepted": 0, "auto_accepted_share": 0.0,
               "human_judgments": 90, "human_judgments_per_item": 3.0, "human_judgments_per_human_labeled_item": 3.0,
               "rounds": [], "export": {"status": "published", "version": "v0001", "n_rows": 30, "path": "x"},
               "seconds": 1.0, "simulation": "SIMULATION", "agreement": None,
               "metric": "mae", "mae": 0.1834, "exact": 0.9, "metric_titles": {"mae": "mean absolute error", "exact": "exact rate"},
               "metric_formats": {"mae": ".2f"}, "mae_by_method": {"rating_model": {"items": 20, "mae": 0.25}, "gold": {"items": 10, "mae": None}}}
    with console.capture() as cap:
        _print_summary(summary, [])
    text = cap.get()
    assert re.search(r"mean absolute error vs true answers\s*│ 0\.18 ", text), text
    assert re.search(r"rating_model\s*│ 0\.25 of 20 items", text) and re.search(r"gold\s*│ - of 10 items", text), text
    assert re.search(r"exact rate vs true answers\s*│ 90\.0%", text), text
