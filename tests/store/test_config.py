"""Project config: one clear message naming the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.config import load_config, validate_config
from tasks.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "annoflow.toml").write_text(text)
    return tmp_path


def test_defaults_and_paths_resolve_against_the_project_folder(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, 'name = "p"\nlabels = ["a", "b"]\n'))
    assert cfg.db_path == tmp_path.resolve() / ".annoflow" / "annoflow.duckdb"
    assert cfg.path("data/x.jsonl") == tmp_path.resolve() / "data" / "x.jsonl"
    assert cfg.consensus.method == "label_model" and cfg.queue.backend == "builtin"


def test_unknown_key_enum_and_missing_field_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "p"\nlabels = ["a", "b"]\ndata_kind = "video"\n[overlap]\nmax = 5\nmaxx = 3\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert str(tmp_path / "annoflow.toml") in msg
    assert "data_kind" in msg and "'text', 'image' or 'audio'" in msg
    assert "overlap.maxx: unknown key" in msg


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no annoflow.toml"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "name = \n"))


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="overlap.max .1. must be >= overlap.initial .2."):
        validate_config({"name": "p", "labels": ["a", "b"], "overlap": {"initial": 2, "max": 1}})
    with pytest.raises(ConfigError, match="labels must be unique"):
        validate_config({"name": "p", "labels": ["a", "a"]})
    with pytest.raises(ConfigError, match="exactly one of 'sql' or 'python'"):
        validate_config({"name": "p", "labels": ["a", "b"], "prelabel": {"labeling_functions": [{"name": "x"}]}})


def test_config_hash_ignores_where_state_lives() -> None:
    a = validate_config({"name": "p", "labels": ["a", "b"]})
    b = validate_config({"name": "p", "labels": ["a", "b"], "state": {"dir": "/elsewhere"}})
    c = validate_config({"name": "p", "labels": ["a", "c"]})
    assert a.config_hash() == b.config_hash() != c.config_hash()


@pytest.mark.parametrize("section", ["ingest", "state", "export"])
@pytest.mark.parametrize("value", ["lots", "0GB", "2", "1.5 XB", "2GB; SET threads = 1", ""])
def test_memory_limits_must_be_sizes(tmp_path: Path, section: str, value: str) -> None:
    (tmp_path / "annoflow.toml").write_text(f'name = "p"\nlabels = ["a", "b"]\n[{section}]\nmemory_limit = {value!r}\n')
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "annoflow.toml") in msg and f"{section}.memory_limit" in msg
    assert "e.g. '512MB' or '2GB'" in msg and repr(value) in msg


@pytest.mark.parametrize(("value", "stored"), [("512MB", "512MB"), ("1.5 gb", "1.5gb"), (" 3GiB ", "3GiB"), ("100KiB", "100KiB")])
def test_memory_sizes_duckdb_accepts(value: str, stored: str) -> None:
    import duckdb

    cfg = validate_config({"name": "p", "labels": ["a", "b"], "ingest": {"memory_limit": value}})
    assert cfg.ingest.memory_limit == stored
    duckdb.connect().execute(f"SET memory_limit = '{stored}'")  # the normalised form is one DuckDB takes


@pytest.mark.parametrize(("key", "value"), [("state.lock_wait_seconds", "inf"), ("state.lock_wait_seconds", "nan"),
                                            ("state.lock_wait_seconds", '"soon"')])
def test_durations_must_be_finite_numbers(tmp_path: Path, key: str, value: str) -> None:
    section, field = key.split(".")
    (tmp_path / "annoflow.toml").write_text(f'name = "p"\nlabels = ["a", "b"]\n[{section}]\n{field} = {value}\n')
    with pytest.raises(ConfigError, match=rf"{key}: "):
        load_config(tmp_path)


def test_how_many_labels_a_project_needs_is_its_task_kinds() -> None:
    with pytest.raises(ConfigError, match=r"labels: task_kind 'single_label' needs at least 2 labels \(got \['a'\]\)"):
        validate_config({"name": "p", "labels": ["a"]})
    with pytest.raises(ConfigError, match=r"labels: task_kind 'segments' needs at least 2 labels \(got \[\]\)"):
        validate_config({"name": "p", "task_kind": "segments", "data_kind": "audio"})
    assert validate_config({"name": "p", "task_kind": "segments", "data_kind": "audio", "labels": ["a", "b"]}).labels == ["a", "b"]


def test_a_transcript_project_needs_no_labels() -> None:
    assert validate_config({"name": "p", "task_kind": "transcript", "data_kind": "audio"}).labels == []
    assert validate_config({"name": "p", "task_kind": "transcript", "data_kind": "text", "labels": []}).labels == []
