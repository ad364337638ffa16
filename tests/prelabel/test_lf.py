from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tasks.prelabel.lf import (
    apply_python_lfs,
    apply_sql_lfs,
    evaluate_python_lf,
    labeling_function,
    load_lfs,
)
from tasks.kinds import kind_of
from tasks.kinds.choices.prelabel import SINGLE
from tasks.store import open_store


def _batch(texts: list[str]) -> pa.Table:
    return pa.table({"item_id": [f"i{k}" for k in range(len(texts))], "payload": texts,
                     "uri": pa.nulls(len(texts), pa.string()), "metadata": pa.nulls(len(texts), pa.string())})


def test_python_lf_core_votes_and_abstains() -> None:
    @labeling_function(name="has_x", labels=["spam"])
    def has_x(batch):
        return np.where(batch.payload.str.contains("x"), "spam", None)

    out, err, item = evaluate_python_lf(has_x, _batch(["x", "y", "xx"]), ["ham", "spam"], SINGLE)
    assert err is None and item is None
    assert out.to_pylist() == ["spam", None, "spam"]


def test_python_lf_that_raises_names_first_failing_item() -> None:
    @labeling_function()
    def boom(batch):
        if (batch.payload == "bad").any():
            raise RuntimeError("bad row")
        return [None] * len(batch)

    out, err, item = evaluate_python_lf(boom, _batch(["a", "b", "c", "bad", "d", "bad"]), ["ham", "spam"], SINGLE)
    assert out is None and item == "i3"
    assert "'boom'" in err and "RuntimeError: bad row" in err and "i3" in err


def test_python_lf_unknown_label_rejected_with_allowed_set() -> None:
    @labeling_function(name="eggs")
    def eggs(batch):
        return ["ham", "eggs"]

    out, err, item = evaluate_python_lf(eggs, _batch(["a", "b"]), ["ham", "spam"], SINGLE)
    assert out is None and item == "i1"
    assert "'eggs'" in err and "'ham'" in err and "'spam'" in err and "label 'eggs'" in err


def test_python_lf_wrong_length_is_an_error() -> None:
    @labeling_function(name="short")
    def short(batch):
        return ["ham"]

    out, err, _ = evaluate_python_lf(short, _batch(["a", "b"]), ["ham", "spam"], SINGLE)
    assert out is None and "returned 1 labels for a batch of 2" in err


def test_both_kinds_on_a_project_and_idempotent(text_project) -> None:
    cfg = text_project()
    specs = load_lfs(cfg)
    with open_store(cfg.db_path) as con:
        sql = {r.name: r for r in apply_sql_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=5, run_id="r1")}
        py = {r.name: r for r in apply_python_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=5, run_id="r1")}
        n_items = con.execute("SELECT count(*) FROM items").fetchone()[0]
        assert sql["kw_check"].error is None and sql["kw_check"].inserted == n_items
        assert sql["kw_check"].voted == 4  # abstains stored as NULL votes, not counted as voted
        assert "does not compile" in sql["sql_broken"].error
        assert "'maybe'" in sql["sql_unknown"].error and "['ham', 'spam']" in sql["sql_unknown"].error
        assert py["py_love"].inserted == n_items and py["py_love"].voted == 2
        assert "ValueError: cannot handle wow" in py["py_raises"].error and py["py_raises"].failed_item
        wow = con.execute("SELECT item_id FROM items WHERE payload = 'wow'").fetchone()[0]
        assert py["py_raises"].failed_item == wow
        assert "'eggs'" in py["py_unknown"].error
        assert py["py_arrow"].voted == 2
        votes = dict(con.execute("SELECT source_id, count(*) FROM votes GROUP BY ALL").fetchall())
        assert votes == {"lf:kw_check": n_items, "lf:kw_song": n_items, "lf:py_love": n_items, "lf:py_arrow": n_items}
        abstain = con.execute("SELECT count(*) FROM votes WHERE source_id = 'lf:kw_check' AND label IS NULL").fetchone()[0]
        assert abstain == n_items - 4
        # the same versions again: nothing new
        again = apply_sql_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=5, run_id="r2") + apply_python_lfs(con, specs, cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=5, run_id="r2")
        assert sum(r.inserted for r in again) == 0
        assert con.execute("SELECT count(*) FROM votes").fetchone()[0] == 4 * n_items
        kinds = dict(con.execute("SELECT source_id, kind FROM sources").fetchall())
        assert kinds["lf:kw_check"] == "lf"


def test_changed_lf_is_a_new_version_and_relabels(text_project) -> None:
    lf = {"name": "kw", "sql": "CASE WHEN payload LIKE '%check%' THEN 'spam' END"}
    cfg = text_project(lfs=[lf])
    with open_store(cfg.db_path) as con:
        apply_sql_lfs(con, load_lfs(cfg), cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=1000, run_id="r1")
        assert con.execute("SELECT count(label) FROM votes").fetchone()[0] == 4
    changed = cfg.model_copy(deep=True)
    changed.prelabel.labeling_functions[0].sql = "CASE WHEN payload LIKE '%song%' THEN 'ham' END"
    with open_store(cfg.db_path) as con:
        [r] = apply_sql_lfs(con, load_lfs(changed), cfg.labels, kind=kind_of(cfg).prelabel, batch_rows=1000, run_id="r2")
        n = con.execute("SELECT count(*) FROM items").fetchone()[0]
        assert r.retired == n and r.inserted == n
        assert con.execute("SELECT count(*), count(label), count(DISTINCT source_version) FROM votes").fetchone() == (n, 2, 1)


def test_python_lf_import_error_is_a_config_error(text_project) -> None:
    from tasks.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot import 'nope_module:f'"):
        cfg = text_project(lfs=[{"name": "x", "python": "nope_module:f"}])
        load_lfs(cfg)
