"""The HTTP model client against the real model server on 127.0.0.1 (started per test with its hooks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest

from schemas.config import ModelConfig
from tasks.errors import ServiceError, TerminalError
from tasks.prelabel.http_model import HttpModel
from tasks.prelabel.models import load_sklearn, save_sklearn, train_sklearn
from tests.model_servers import model_servers
from tests.prelabel.conftest import HAM, SPAM

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _batch(texts: list[str | None]) -> pa.Table:
    return pa.table({"item_id": [f"i{k}" for k in range(len(texts))], "payload": pa.array(texts, pa.string()),
                     "uri": pa.nulls(len(texts), pa.string()), "metadata": pa.nulls(len(texts), pa.string())})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = SPAM + HAM
    y = ["spam"] * len(SPAM) + ["ham"] * len(HAM)
    run = train_sklearn("tfidf", "text", ["ham", "spam"], _batch(texts), y, ModelConfig(name="tfidf"))
    return save_sklearn(run, tmp_path_factory.mktemp("models"))


SERVERS = {
    "plain": (),
    "fail2": ("--fail-first", "2"),
    "fail100": ("--fail-first", "100"),
    "slow": ("--delay", "2"),
    "slow_once": ("--delay", "2", "--delay-first", "1"),
}


@pytest.fixture(scope="module")
def servers(model_file: Path) -> Iterator[dict[str, str]]:
    """One real server per hook setting, started together (each takes seconds to import its stack)."""
    with model_servers(["--model", str(model_file)], SERVERS, timeout=60) as urls:
        yield urls


@pytest.fixture
def serve(servers: dict[str, str]) -> Callable[[str], str]:
    return lambda key="plain": servers[key]


def _calls(url: str) -> int:
    return httpx.get(url + "/stats").json()["predict_calls"]


def test_predictions_match_the_local_model(serve, model_file: Path) -> None:
    url = serve()
    before = _calls(url)
    texts = ["check out my channel", "i love this song", "free money"] * 7
    cfg = ModelConfig(name="remote", kind="http", url=url, batch_size=4, concurrency=3)
    with HttpModel(cfg, ["ham", "spam"]) as m:
        classes, probs = m.predict_proba(_batch(texts))
        assert m.version == load_sklearn(model_file).model.version
    local_classes, local = load_sklearn(model_file).model.predict_proba(_batch(texts))
    assert classes == local_classes == ["ham", "spam"]
    np.testing.assert_allclose(probs, local, atol=1e-5)
    assert _calls(url) - before == 6  # 21 items in requests of 4


def test_503_then_success_is_retried(serve) -> None:
    url = serve("fail2")
    cfg = ModelConfig(name="remote", kind="http", url=url, batch_size=100, backoff_seconds=0.05)
    with HttpModel(cfg, ["ham", "spam"]) as m:
        _, probs = m.predict_proba(_batch(["check out my channel", "nice song"]))
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1)
    assert _calls(url) == 3


def test_503_until_out_of_attempts_is_a_service_error(serve) -> None:
    url = serve("fail100")
    cfg = ModelConfig(name="remote", kind="http", url=url, retries=3, backoff_seconds=0.01)
    with HttpModel(cfg, ["ham", "spam"]) as m, pytest.raises(ServiceError, match="answered 503 after 3 attempts"):
        m.predict_proba(_batch(["x"]))
    assert _calls(url) == 3


def test_timeout_is_retried_then_a_service_error(serve) -> None:
    url = serve("slow")
    cfg = ModelConfig(name="remote", kind="http", url=url, timeout_seconds=0.3, retries=2, backoff_seconds=0.01)
    with HttpModel(cfg, ["ham", "spam"]) as m, pytest.raises(ServiceError, match="after 2 attempts.*ReadTimeout"):
        m.predict_proba(_batch(["x"]))


def test_one_slow_answer_then_success(serve) -> None:
    url = serve("slow_once")
    cfg = ModelConfig(name="remote", kind="http", url=url, timeout_seconds=0.5, backoff_seconds=0.01)
    with HttpModel(cfg, ["ham", "spam"]) as m:
        _, probs = m.predict_proba(_batch(["x", "y"]))
    assert probs.shape == (2, 2)


def test_400_fails_at_once_with_the_servers_message(serve) -> None:
    url = serve()
    before = _calls(url)
    cfg = ModelConfig(name="remote", kind="http", url=url, backoff_seconds=0.01)
    with HttpModel(cfg, ["ham", "spam"]) as m, pytest.raises(TerminalError, match=r"refused \(400\).*item i1 has no text") as e:
        m.predict_proba(_batch(["fine", None]))
    assert not isinstance(e.value, ServiceError)
    assert _calls(url) - before == 1


def test_classes_outside_the_label_set_are_rejected(serve) -> None:
    url = serve()
    with pytest.raises(TerminalError, match=r"classes \['spam'\] outside the label set"):
        HttpModel(ModelConfig(name="remote", kind="http", url=url), ["ham", "other"])


def test_http_model_votes_through_the_stage(serve, text_project) -> None:
    from tasks.prelabel.stage import apply_model
    from tasks.store import open_store

    cfg = text_project(lfs=[], prelabel={"models": [{"name": "remote", "kind": "http", "url": serve(), "batch_size": 5}]})
    rep = apply_model(cfg, cfg.prelabel.models[0])
    assert rep["inserted"] == rep["predicted"] == 16
    assert apply_model(cfg, cfg.prelabel.models[0])["inserted"] == 0
    with open_store(cfg.db_path) as con:
        row = con.execute("SELECT source_kind, confidence, probs FROM votes LIMIT 1").fetchall()[0]
    assert row[0] == "model" and 0.5 <= row[1] <= 1 and set(json.loads(row[2])) == {"ham", "spam"}
