"""Two export processes at once: publishing is serialised, numbered once and never loses a parent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.export import versions as V
from tasks.store import open_store
from tests.export.conftest import seed_state

REPO = Path(__file__).resolve().parents[2]

# Each process waits, after it has read `latest` and written its candidate, until the other one got as
# far: both have then chosen the same parent, the situation that used to give two parentless versions.
SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import tasks.export.stage as S
    from schemas.config import load_config

    barrier, real = Path(sys.argv[2]), S.run_gate

    def run_gate_after_both_arrived(*a, **k):
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return real(*a, **k)

    S.run_gate = run_gate_after_both_arrived
    r = S.export(load_config(sys.argv[1]))
    print(json.dumps({k: r.as_dict()[k] for k in ("status", "version", "parent", "content_hash")}))
""")


def _two_exports_at_once(root: str, barrier: Path) -> list[dict]:
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, root, str(barrier)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _recorded(cfg) -> list[tuple]:
    with open_store(cfg.db_path) as con:
        return con.execute("SELECT version, parent, content_hash FROM export_versions ORDER BY version").fetchall()


@pytest.mark.slow
def test_same_content_is_published_once(make_project, tmp_path: Path) -> None:
    cfg = make_project()  # on_unchanged = "skip"
    seed_state(cfg, 40)
    results = _two_exports_at_once(cfg.root, tmp_path / "barrier")
    assert sorted(r["status"] for r in results) == ["published", "unchanged"]
    assert {r["version"] for r in results} == {"v0001"}
    assert [m["version"] for m in V.list_versions(cfg)] == ["v0001"] and V.read_latest(cfg.export_dir) == "v0001"
    assert [r[:2] for r in _recorded(cfg)] == [("v0001", None)]
    assert not list(cfg.export_dir.glob(".tmp-*"))


@pytest.mark.slow
def test_new_version_policy_chains_the_second_onto_the_first(make_project, tmp_path: Path) -> None:
    cfg = make_project(export={"on_unchanged": "new_version"})
    seed_state(cfg, 40)
    results = _two_exports_at_once(cfg.root, tmp_path / "barrier")
    assert sorted((r["status"], r["version"], r["parent"]) for r in results) == [
        ("published", "v0001", None), ("published", "v0002", "v0001")]
    recorded = _recorded(cfg)
    assert [r[:2] for r in recorded] == [("v0001", None), ("v0002", "v0001")]
    assert recorded[0][2] == recorded[1][2]  # same content, as the policy asks, but in one lineage
    assert [(m["version"], m["parent"]) for m in V.list_versions(cfg)] == [("v0001", None), ("v0002", "v0001")]
    assert V.read_latest(cfg.export_dir) == "v0002"
