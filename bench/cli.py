"""Wall time of `annoflow status` and `annoflow collect` as a user runs them, first call and repeated.

    uv run python -m bench.cli [--repeats 3] [--skip-ephemeral] [--json]

A temp copy of examples/youtube-spam whose queue is an annotation app started here; `annoflow ingest`
once, then the project's background Prefect server is stopped so the first timed `collect` pays
for starting it, as a user's first command does. Each command is a fresh process
(`.venv/bin/annoflow`, no `uv run` in front), timed from spawn to exit. The peer row is the same
collect flow run the way every command ran before the background server: a fresh process in
Prefect's ephemeral mode (a temporary server per process). Goal: a repeated command ≤ 3 s wall.
CPU seconds (user + system of the command's process tree, without the server) are printed too: on a
shared machine wall time also measures everyone else's load (the load average is printed).
Nothing is left running: the server and the app are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

from annotation_app.process import free_port, start_app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "youtube-spam"
TOKEN = "bench-cli-token"
GOAL_S = 3.0
EPHEMERAL = """
import sys
from flows.collect import collect_flow
collect_flow(project_dir=sys.argv[1])
"""


def _env() -> dict[str, str]:
    """The environment of a user's shell: no Prefect API chosen, the queue token exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["ANNOFLOW_QUEUE_TOKEN"] = TOKEN
    return env


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _annoflow(args: list[str], project: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command (CPU: what it costs on an otherwise idle machine)."""
    exe = Path(sys.executable).with_name("annoflow")
    t0, c0 = time.perf_counter(), _children_cpu()
    r = subprocess.run([str(exe), *args, "--config", str(project)], env=env, cwd=project, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if r.returncode != 0:
        raise RuntimeError(f"annoflow {' '.join(args)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return wall, cpu


def _ephemeral_collect(project: Path, env: dict[str, str], home: Path) -> tuple[float, float]:
    """The collect flow in a fresh process in Prefect's ephemeral mode (with the CLI's former settings)."""
    env = {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90", "PREFECT_LOGGING_LEVEL": "WARNING"}
    t0, c0 = time.perf_counter(), _children_cpu()
    r = subprocess.run([sys.executable, "-c", EPHEMERAL, str(project)], env=env, cwd=REPO, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if r.returncode != 0:
        raise RuntimeError(f"ephemeral collect exited {r.returncode}:\n{r.stderr[-2000:]}")
    return wall, cpu


def run(repeats: int, ephemeral: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="annoflow-bench-cli-"))
    project = work / "youtube-spam"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".annoflow", "__pycache__"))
    app = start_app(work / "app.sqlite", TOKEN, port=free_port(), log=work / "app.log")
    env = _env()
    try:
        doc = tomllib.loads((project / "annoflow.toml").read_text())
        doc.setdefault("queue", {})["url"] = app.url
        (project / "annoflow.toml").write_text(tomli_w.dumps(doc))
        setup = {"ingest (starts the server)": _annoflow(["ingest"], project, env)[0]}
        _annoflow(["server", "stop"], project, env)
        rows: list[dict] = []
        for cmd in ("status", "collect"):
            for i in range(repeats + 1):
                wall, cpu = _annoflow([cmd], project, env)
                rows.append({"command": f"annoflow {cmd}", "call": "first" if i == 0 else f"repeat {i}",
                             "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
        rows[repeats + 1]["call"] += " (starts the server)"
        if ephemeral:
            wall, cpu = _ephemeral_collect(project, env, work / "ephemeral-home")
            rows.append({"command": "collect flow, ephemeral Prefect (before)", "call": "any",
                         "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
        repeated = [r["wall_s"] for r in rows if r["call"].startswith("repeat")]
        return {"rows": rows, "setup_s": {k: round(v, 2) for k, v in setup.items()}, "repeated_max_s": max(repeated),
                "goal_s": GOAL_S, "goal_met": max(repeated) <= GOAL_S, "cpus": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2)}
    finally:
        subprocess.run([str(Path(sys.executable).with_name("annoflow")), "server", "stop", "--config", str(project)],
                       env=env, capture_output=True, check=False)
        app.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-ephemeral", action="store_true", help="skip the peer row (ephemeral Prefect, ~10-40 s)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = run(a.repeats, not a.skip_ephemeral)
    if a.json:
        print(json.dumps(out))
        return
    print(f"{'command':<44} {'call':<26} {'wall s':>7} {'cpu s':>6}")
    for r in out["rows"]:
        print(f"{r['command']:<44} {r['call']:<26} {r['wall_s']:>7.2f} {r['cpu_s']:>6.2f}")
    print(f"setup: {out['setup_s']}; load average {out['load_avg_1m']} on {out['cpus']} CPUs")
    print(f"repeated commands: max {out['repeated_max_s']:.2f} s wall (goal <= {GOAL_S:g} s: "
          f"{'met' if out['goal_met'] else 'NOT met'})")


if __name__ == "__main__":
    main()
