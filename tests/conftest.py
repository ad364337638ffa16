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

from schemas.config import ProjectConfig, load_config  # noqa: E402


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
