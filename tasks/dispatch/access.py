"""How the pipeline reaches the project's queue: the admin token, the backend, the queue's name in state.

The built-in app's admin token comes from the environment variable named by `queue.token_env`;
when that is unset, `annoflow app` generates one and keeps it in `<state.dir>/queue_token`
(mode 0600, readable only by the owner), and every stage on the same machine reads it from there.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from schemas.config import ProjectConfig
from tasks.errors import ConfigError
from tasks.queues import AnnotatorAdmin, QueueBackend, open_backend

__all__ = ["TOKEN_FILE", "admin_token", "backend_for", "known_annotators", "queue_name", "token_file"]

TOKEN_FILE = "queue_token"


def token_file(cfg: ProjectConfig) -> Path:
    return cfg.state_dir / TOKEN_FILE


def admin_token(cfg: ProjectConfig, *, create: bool = False) -> str:
    """The queue's admin token: env `queue.token_env`, else the token file (generated if `create`)."""
    env = os.environ.get(cfg.queue.token_env)
    if env:
        return env
    path = token_file(cfg)
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
    if not create:
        raise ConfigError(
            f"no admin token for the queue: set {cfg.queue.token_env}, or start the app with `annoflow app` "
            f"(it generates one in {path})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "adm_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def queue_name(cfg: ProjectConfig) -> str:
    """The queue's key in `assignments.queue` and `queue_cursors`: backend, address and project.

    Pointing the project at another app (a new URL) starts a new cursor instead of resuming an
    unrelated one.
    """
    return f"{cfg.queue.backend.value}:{cfg.queue.url.rstrip('/')}/{cfg.name}"


def backend_for(cfg: ProjectConfig) -> QueueBackend:
    """The project's backend with the admin token resolved (env or token file)."""
    return open_backend(cfg, token=admin_token(cfg))


def known_annotators(backend: QueueBackend) -> list[str] | None:
    """Active annotators of the backend, or None when the backend does not manage annotators."""
    if not isinstance(backend, AnnotatorAdmin):
        return None
    rows = backend.list_annotators().to_pylist()
    return sorted(r["annotator_id"] for r in rows if r["active"] is not False)
