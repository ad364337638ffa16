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
