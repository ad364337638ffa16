"""The bad-input corpus: every case in `cases/` run through the real `annoflow` command.

Each case folder holds a `case.toml` (what to run, what must happen), an `annoflow.toml` and small
inputs, and optionally a `make.py` whose `make(folder)` writes the large or odd ones. A case is
copied to a temporary folder, prepared, and its commands run as subprocesses against the session's
Prefect API (so no ephemeral server starts per command). Whatever the case, the output never shows
a traceback, the command ends within its timeout, no stored item is lost, and a refused run
(exit 2) leaves the stored gold and votes exactly as they were. `votes` in a case.toml is the
number of votes the run must leave stored (a model's pre-labels, say).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

CASES = Path(__file__).parent / "cases"
_KEYS = {"description", "item", "args", "setup", "exit_code", "stored", "quarantined", "reason_contains",
         "message_contains", "timeout_s", "gold_rows", "votes"}


def _cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "case.toml").is_file())


@pytest.fixture(scope="module")
def cli_env(prefect_harness) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


_WORKERS = 3  # cases are mostly process start-up and Prefect round trips: a few at once keep two cores busy


@dataclass
class Outcome:
    spec: dict
    before: dict
    after: dict
    output: str
    returncode: int | None  # None: the command did not end within the case's timeout
    setup_output: str


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    try:
        done = subprocess.run([sys.executable, "-m", "annoflow_cli.main", *args], cwd=cwd, env=env, capture_output=True, check=False,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, f"{e.stdout or ''}{e.stderr or ''}"
    return done.returncode, done.stdout + done.stderr


def _state(folder: Path) -> dict:
    db = folder / ".annoflow" / "annoflow.duckdb"
    if not db.exists():
        return {"items": set(), "gold": {}, "quarantine": [], "votes": set()}
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "items": set(con.execute("SELECT item_id, payload, uri FROM items").fetchall()),
            # a label, a label set or a structured answer: whichever column the project's kind stores
            "gold": dict(con.execute("SELECT item_id, coalesce(label, labels::VARCHAR, answer::VARCHAR) FROM gold").fetchall()),
            "votes": set(con.execute("SELECT vote_id, coalesce(label, labels::VARCHAR, answer::VARCHAR) FROM votes").fetchall()),
            "quarantine": con.execute("SELECT reason, coalesce(detail, '') FROM quarantine").fetchall(),
        }


def _play(case: Path, folder: Path, env: dict[str, str]) -> Outcome:
    """Copy, prepare and run one case; everything the assertions need, gathered before any is made."""
    spec = tomllib.loads((case / "case.toml").read_text())
    shutil.copytree(case, folder, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("case.toml", "make.py", "__pycache__"))
    if (case / "make.py").is_file():
        mod_spec = importlib.util.spec_from_file_location(f"make_{case.name.replace('-', '_')}", case / "make.py")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        module.make(folder)
    timeout = float(spec.get("timeout_s", 120))
    setup_output = ""
    for step in spec.get("setup", []):
        setup_output += _run(step, folder, env, timeout)[1]
    before = _state(folder)
    code, output = _run(spec["args"], folder, env, timeout)
    return Outcome(spec, before, _state(folder), output, code, setup_output)


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, cli_env: dict[str, str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future]]:
    # Only the cases this session selected (`-k boxes` runs four, not the whole corpus).
    chosen = {item.callspec.params["case"].name for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")}
    with ThreadPoolExecutor(_WORKERS) as pool:
        yield {c.name: pool.submit(_play, c, tmp_path_factory.mktemp(c.name), cli_env) for c in _cases() if c.name in chosen}


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_case(case: Path, outcomes: dict[str, Future]) -> None:
    o: Outcome = outcomes[case.name].result()
    spec, out, before, after = o.spec, o.output, o.before, o.after
    assert not set(spec) - _KEYS, f"unknown keys in case.toml: {set(spec) - _KEYS}"
    assert "Traceback" not in o.setup_output + out, o.setup_output + out
    assert o.returncode is not None, f"`annoflow {' '.join(spec['args'])}` did not end within {spec.get('timeout_s', 120)} s:\n{out}"
    assert o.returncode == spec["exit_code"], f"exit {o.returncode}, expected {spec['exit_code']}:\n{out}"
    assert before["items"] <= after["items"], "items stored before the run were lost or changed"
    if spec["exit_code"] != 0:
        assert before["gold"].items() <= after["gold"].items(), "a refused run changed stored gold"
        assert before["votes"] <= after["votes"], "a refused run changed stored votes"
        assert "error:" in out.lower(), f"a refused run must say why in an `error:` line:\n{out}"
    if "stored" in spec:
        assert len(after["items"]) == spec["stored"], f"{len(after['items'])} items stored, expected {spec['stored']}:\n{out}"
    if "quarantined" in spec:
        assert len(after["quarantine"]) == spec["quarantined"], f"quarantine: {after['quarantine']}\n{out}"
    if "gold_rows" in spec:
        assert len(after["gold"]) == spec["gold_rows"], f"gold: {after['gold']}\n{out}"
    if "votes" in spec:
        assert len(after["votes"]) == spec["votes"], f"votes: {after['votes']}\n{out}"
    if "reason_contains" in spec:
        want = spec["reason_contains"].lower()
        found = [f"{reason} {detail}".lower() for reason, detail in after["quarantine"]]
        assert any(want in x for x in found), f"no quarantine reason with {want!r}: {after['quarantine']}"
    if "message_contains" in spec:
        assert spec["message_contains"].lower() in out.lower(), out
