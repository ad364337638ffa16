"""Versions: determinism, unchanged state, crash safety of publishing, manifest, loading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from schemas.config import ProjectConfig
from tasks.export import versions as V
from tasks.export.stage import export
from tasks.store import open_store
from tests.conftest import write_project
from tests.export.conftest import iid, seed_state, set_labels

ALL_FORMATS = {"formats": ["parquet", "jsonl", "csv", "label_studio"], "splits": {"train": 0.7, "validation": 0.15, "test": 0.15}}


def _data_hashes(m: dict) -> dict[str, str]:
    return {k: v["sha256"] for k, v in m["files"].items() if not k.startswith("report/")}


def test_same_state_gives_identical_files_and_hash(tmp_path: Path) -> None:
    a = write_project(tmp_path / "a", export=ALL_FORMATS)
    b = write_project(tmp_path / "b", export=ALL_FORMATS)
    for cfg in (a, b):
        seed_state(cfg, 200, gold={i: cfg.labels[i % 2] for i in range(20)})
    ra, rb = export(a), export(b)
    assert ra.content_hash == rb.content_hash
    assert _data_hashes(ra.manifest) == _data_hashes(rb.manifest)  # every data and format file byte-identical
    rc = export(a, force=True)  # the same project again, forced: a new version with the same bytes
    assert rc.version == "v0002" and rc.content_hash == ra.content_hash
    assert _data_hashes(rc.manifest) == _data_hashes(ra.manifest)


def test_unchanged_state_publishes_nothing(project: ProjectConfig) -> None:
    first = export(project)
    again = export(project)
    assert again.status == "unchanged" and again.version == "v0001"
    assert again.message == "no changes since v0001"
    assert [m["version"] for m in V.list_versions(project)] == ["v0001"]
    assert not list(project.export_dir.glob(".tmp-*"))
    set_labels(project, f"UPDATE labels SET confidence = 0.9 WHERE item_id = '{iid(1)}'")
    third = export(project)
    assert third.status == "published" and third.version == "v0002" and third.parent == "v0001"
    assert third.content_hash != first.content_hash


def test_on_unchanged_new_version(make_project) -> None:
    cfg = make_project(export={"on_unchanged": "new_version"})
    seed_state(cfg, 10)
    r1, r2 = export(cfg), export(cfg)
    assert (r1.version, r2.version) == ("v0001", "v0002") and r1.content_hash == r2.content_hash


def test_crash_before_publish_leaves_no_version(project: ProjectConfig, monkeypatch) -> None:
    export(project)
    set_labels(project, f"UPDATE labels SET label = 'spam' WHERE item_id = '{iid(0)}'")

    def boom(tmp: Path, final: Path) -> None:
        assert (tmp / "manifest.json").is_file() and list((tmp / "data").glob("*.parquet"))  # files were written
        raise RuntimeError("injected crash between writing files and publishing")

    monkeypatch.setattr(V, "publish_dir", boom)
    with pytest.raises(RuntimeError, match="injected"):
        export(project)
    assert [m["version"] for m in V.list_versions(project)] == ["v0001"]
    assert V.read_latest(project.export_dir) == "v0001"
    assert sorted(p.name for p in project.export_dir.iterdir() if not p.name.startswith(".")) == ["latest", "v0001"]


def test_killed_process_leaves_only_a_hidden_candidate(project: ProjectConfig) -> None:
    """A real crash (the process dies, no cleanup runs) right before the rename into place."""
    export(project)
    set_labels(project, f"UPDATE labels SET label = 'spam' WHERE item_id = '{iid(0)}'")
    script = textwrap.dedent(f"""
        import os
        from schemas.config import load_config
        from tasks.export import versions as V
        from tasks.export.stage import export
        V.publish_dir = lambda tmp, final: os._exit(137)
        export(load_config({str(project.root)!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=False)
    assert proc.returncode == 137, proc.stderr
    assert len(list(project.export_dir.glob(".tmp-*"))) == 1  # the candidate, hidden
    assert [m["version"] for m in V.list_versions(project)] == ["v0001"]
    assert V.read_latest(project.export_dir) == "v0001"
    r = export(project)  # the next run removes the dead candidate and publishes
    assert r.version == "v0002" and not list(project.export_dir.glob(".tmp-*"))


def test_crash_after_publish_before_latest_rolls_forward(project: ProjectConfig, monkeypatch) -> None:
    export(project)
    set_labels(project, f"UPDATE labels SET label = 'spam' WHERE item_id = '{iid(0)}'")
    real = V.set_latest
    monkeypatch.setattr(V, "set_latest", lambda d, v: (_ for _ in ()).throw(RuntimeError("injected crash before latest")))
    with pytest.raises(RuntimeError, match="injected"):
        export(project)
    assert V.read_latest(project.export_dir) == "v0001"
    assert (project.export_dir / "v0002" / "manifest.json").is_file()  # complete and validated, just not pointed at
    monkeypatch.setattr(V, "set_latest", real)
    r = export(project)  # recovery points latest at v0002; its content is the current state
    assert r.status == "unchanged" and r.version == "v0002"
    assert V.read_latest(project.export_dir) == "v0002"
    with open_store(project.db_path) as con:
        assert [x[0] for x in con.execute("SELECT version FROM export_versions ORDER BY 1").fetchall()] == ["v0001", "v0002"]


def test_manifest_and_database_record(project: ProjectConfig) -> None:
    r = export(project)
    m = json.loads((Path(r.path) / "manifest.json").read_text())
    for key in ("version", "parent", "created_at", "config_hash", "code_version", "flow_run_id", "row_counts",
                "label_distribution", "files", "content_hash", "validation"):
        assert key in m
    assert m["row_counts"]["total"] == 40 and m["label_distribution"] == {"ham": 20, "spam": 20}
    assert m["config_hash"] == project.config_hash()
    for name, info in m["files"].items():
        assert V.sha256_file(Path(r.path) / name) == info["sha256"]
    assert m["content_hash"] == V.content_hash({k: v["sha256"] for k, v in m["files"].items() if k.startswith("data/")})
    with open_store(project.db_path) as con:
        row = con.execute("SELECT version, content_hash, n_rows FROM export_versions").fetchall()
    assert row == [("v0001", m["content_hash"], 40)]


def test_load_version_with_pyarrow_and_duckdb(make_project) -> None:
    cfg = make_project(export=ALL_FORMATS)
    seed_state(cfg, 300)
    r = export(cfg)
    t = V.load_version(cfg).to_table()
    assert t.num_rows == 300 and set(t.column_names) >= {"item_id", "label", "confidence", "method", "sources", "split"}
    train = V.load_version(cfg, "v0001", split="train").to_table()
    assert set(train.column("split").to_pylist()) == {"train"} and 150 < train.num_rows < 260
    n, splits = duckdb.sql(f"SELECT count(*), count(DISTINCT split) FROM '{r.path}/data/*/*.parquet'").fetchall()[0]
    assert (n, splits) == (300, 3)
    assert pq.read_table(Path(r.path) / "data" / "test" / "part-000.parquet").schema.field("sources").type.value_type == "string"
    # splits are stable: a later version puts every item in the same split
    set_labels(cfg, "UPDATE labels SET confidence = 0.91")
    export(cfg)
    same = duckdb.sql(
        f"SELECT count(*) FROM '{r.path}/data/*/*.parquet' a JOIN '{cfg.export_dir}/v0002/data/*/*.parquet' b USING (item_id)"
        " WHERE a.split = b.split").fetchall()[0][0]
    assert same == 300


def test_lineage_columns_and_vote_fallback(make_project) -> None:
    cfg = make_project()
    seed_state(cfg, 5, sources=lambda i: None, method=lambda i: "gold" if i == 0 else "majority_vote")
    export(cfg)
    rows = {r["item_id"]: r for r in V.load_version(cfg).to_table().to_pylist()}
    r = rows[iid(1)]
    assert r["sources"] == ["human:alice", "lf:kw"] and r["n_votes"] == 2 and r["method"] == "majority_vote"
    assert r["payload"] == "text number 1" and r["agreement"] == 0.8
    assert rows[iid(0)]["method"] == "gold"


def test_resolve_version_errors(project: ProjectConfig) -> None:
    from tasks.errors import InputError

    with pytest.raises(InputError, match="annoflow export"):
        V.resolve_version(project, "latest")
    export(project)
    assert V.resolve_version(project, "1") == "v0001"
    with pytest.raises(InputError, match="have: v0001"):
        V.resolve_version(project, "v0009")


def test_cleanup_keeps_live_candidates(tmp_path: Path) -> None:
    live = tmp_path / f".tmp-{os.getppid()}-abc"
    dead = tmp_path / ".tmp-999999999-abc"
    live.mkdir()
    dead.mkdir()
    assert V.cleanup_temp_dirs(tmp_path) == [dead.name]
    assert live.exists()


def test_range_partitioned_files_hold_the_same_rows(tmp_path: Path) -> None:
    one = write_project(tmp_path / "one")
    many = write_project(tmp_path / "many", export={"rows_per_file": 1000})
    for cfg in (one, many):
        seed_state(cfg, 3000)
    export(one)
    r2 = export(many)
    files = sorted(r2.manifest["files"])
    assert [f for f in files if f.startswith("data/")] == [f"data/part-{k:03d}.parquet" for k in range(4)]
    t1, t2 = V.load_version(one).to_table(), V.load_version(many).to_table()
    assert t1.equals(t2)  # same rows, same global item_id order
    ids = t2.column("item_id").to_pylist()
    assert ids == sorted(ids)


def test_duplicates_found_across_range_files(make_project) -> None:
    from tasks.export.stage import GateFailedError

    cfg = make_project(export={"rows_per_file": 1000})
    seed_state(cfg, 3000)
    set_labels(cfg, "INSERT INTO labels SELECT * FROM labels WHERE item_id = (SELECT max(item_id) FROM labels)")
    with pytest.raises(GateFailedError, match="item_once"):
        export(cfg)
