"""A project whose history was written by the real stages, for the dashboard's end-to-end tests.

The demo flow (SIMULATED annotators through the real app) runs on a copy of examples/youtube-spam with
pay rates, a few rounds; then a planted crowd (a fast spammer and a straight-liner among steady
annotators, tasks/behaviour/simulation.py) is replayed into the same store so the real behaviour rules
flag and pause them; then pre-labelling runs again (it measures the audits answered meanwhile), consensus once more
(history records the planted sources) and a second version is exported. Nothing is written into history by hand.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.demo import EXAMPLE, demo_flow
from schemas.config import ProjectConfig, load_config
from tasks.behaviour.simulation import SimulatedWorker, replay, simulate_stream
from tasks.kinds import kind_of
from tasks.store import open_store

__all__ = ["PLANTED", "demo_project"]

PLANTED = {"human:replay-fast": "too_fast", "human:replay-straight": "straight_lining"}
"""The planted annotators and the rule that must pause each."""

_COST = '\n[cost]\nper_judgment = 0.04\nper_hour = 9.0\nper_call = {"model:*" = 0.001}\n'


def _plant_behaviour(cfg: ProjectConfig, n_items: int = 300) -> None:
    workers = [SimulatedWorker(f"replay-steady-{i}", 0.9) for i in range(3)] + [
        SimulatedWorker("replay-fast", 0.5, speed=0.05, spammer="uniform"),
        SimulatedWorker("replay-straight", 0.5, spammer="constant")]
    with open_store(cfg.db_path) as con:
        ids, truth = zip(*con.execute(
            "SELECT item_id, label FROM labels WHERE decision = 'resolved' ORDER BY item_id LIMIT ?", [n_items]).fetchall())
        rows = simulate_stream(kind_of(cfg), cfg.labels, list(truth), workers, seed=11)
        start = datetime.now(UTC) - timedelta(seconds=len(rows))
        for k, r in enumerate(rows):  # judged now, after the demo's own, one a second
            r["at"] = start + timedelta(seconds=k)
        replay(con, cfg, rows, list(ids), step=100)


def demo_project(root: Path, rounds: int = 3) -> ProjectConfig:
    """Run everything described above in `root` (needs the Prefect harness); returns the project's config."""
    from typer.testing import CliRunner

    from annoflow_cli.main import app
    from tasks.consensus.stage import run_consensus_stage

    project = root / "youtube-spam"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow"))
    toml = project / "annoflow.toml"
    toml.write_text(toml.read_text() + _COST)
    summary = demo_flow(project_dir=str(project), max_rounds=rounds)
    assert summary["export"]["status"] == "published", summary["export"]
    cfg = load_config(project)
    _plant_behaviour(cfg)
    again = CliRunner().invoke(app, ["prelabel", "--config", str(project)])
    assert again.exit_code == 0, again.output
    run_consensus_stage(cfg)
    second = CliRunner().invoke(app, ["export", "--config", str(project)])  # a second version: label drift between two
    assert second.exit_code == 0, second.output
    return cfg
