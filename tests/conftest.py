"""Shared fixtures: one Prefect test harness per session, throwaway projects on real DuckDB files."""

from __future__ import annotations

import os
import tempfile

# Prefect reads these at import: give the test session its own home and no telemetry.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="annoflow-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import tomli_w  # noqa: E402

from annotation_app.process import AppProcess, start_app  # noqa: E402
from schemas.config import ProjectConfig, load_config  # noqa: E402

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A real Prefect API (temporary server + database) shared by every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def write_project(root: Path, **overrides: Any) -> ProjectConfig:
    """An annoflow.toml in `root` with sensible test defaults, returned as the loaded config."""
    data: dict[str, Any] = {"name": "test-project", "labels": ["ham", "spam"], "sources": [{"path": "data/*.jsonl"}]}
    data.update(overrides)
    root.mkdir(parents=True, exist_ok=True)
    (root / "annoflow.toml").write_text(tomli_w.dumps(data))
    return load_config(root)


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., ProjectConfig]:
    return lambda **kw: write_project(tmp_path / "project", **kw)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    (root / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    return root


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, media_root: Path) -> Iterator[AppProcess]:
    """One annotation app process per test session, reached over HTTP like the pipeline reaches it."""
    d = tmp_path_factory.mktemp("app")
    app = start_app(d / "app.db", ADMIN_TOKEN, media_roots=[media_root], log=d / "app.log")
    yield app
    app.stop()


@pytest.fixture
def queue_project(tmp_path: Path, app_server: AppProcess, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ProjectConfig]:
    """Factory: a project (unique name) whose queue is the session's app, admin token in the env."""
    import uuid

    monkeypatch.setenv("ANNOFLOW_QUEUE_TOKEN", ADMIN_TOKEN)

    def make(**overrides: Any) -> ProjectConfig:
        name = overrides.pop("name", f"q-{uuid.uuid4().hex[:8]}")
        queue = {"url": app_server.url, **overrides.pop("queue", {})}
        return write_project(tmp_path / name, name=name, queue=queue, **overrides)

    return make


def seed_items(cfg: ProjectConfig, texts: list[str], *, state: str = "queued", priorities: list[float] | None = None,
               gold: dict[str, str] | None = None, audit: bool = False) -> list[str]:
    """Insert text items straight into the state database (ids as ingest makes them); returns their ids."""
    import pyarrow as pa

    from tasks.ingest.normalise import item_id_sql
    from tasks.store import open_store

    with open_store(cfg.db_path) as con:
        t = pa.table({"payload": texts, "priority": priorities or [0.0] * len(texts)})
        con.register("_seed", t)
        by_text = {p: i for i, p in con.execute(
            f"INSERT INTO items (item_id, kind, payload, source, state, priority, audit) "
            f"SELECT {item_id_sql(cfg.name, 'text', 'payload')}, 'text', payload, 'seed', ?, priority, ? FROM _seed "
            f"RETURNING item_id, payload", [state, audit]).fetchall()}
        for text, label in (gold or {}).items():
            con.execute(f"INSERT INTO gold (item_id, label, origin) SELECT {item_id_sql(cfg.name, 'text', '?')}, ?, 'file'",
                        [text, label])
    return [by_text[x] for x in texts]


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[AppProcess]:
    """An app of its own (own annotators), for tests that count annotators."""
    app = start_app(tmp_path / "fresh-app.db", ADMIN_TOKEN, log=tmp_path / "fresh-app.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def label_studio_files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Label Studio's LOCAL_FILES_DOCUMENT_ROOT in tests: put media in a subfolder of it."""
    return tmp_path_factory.mktemp("ls-files")


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory, label_studio_files_root: Path) -> Iterator[tuple[str, str]]:
    """A real Label Studio 1.23.2 for the session: yields (url, legacy API token).

    Runs from its own virtualenv (`bash .ci/label-studio.sh`, installed here if missing), on a free
    127.0.0.1 port with a temporary data dir; stopped at the end of the session.
    """
    from tests.labelstudio.server import start_label_studio

    ls = start_label_studio(tmp_path_factory.mktemp("label-studio"), files_root=label_studio_files_root)
    try:
        yield ls.url, ls.token
    finally:
        ls.stop()


@pytest.fixture(scope="session")
def label_studio_url(label_studio: tuple[str, str]) -> str:
    """Base URL of the session's Label Studio; its token is `label_studio[1]` (auth scheme `Token`).
    Import a Label Studio JSON export with `tests.labelstudio.server.import_tasks(url, token, title, config, rows)`."""
    return label_studio[0]
