"""How the pipeline reaches the project's queue: the admin token, the backend, the queue's name in state.

The built-in app's admin token comes from the environment variable named by `queue.token_env`;
when that is unset, `annoflow app` generates one and keeps it in `<state.dir>/queue_token`
(mode 0600, readable only by the owner), and every stage on the same machine reads it from there.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from schemas.config import ProjectConfig
from tasks.errors import ConfigError
from tasks.queues import AnnotatorAdmin, QueueBackend, open_backend

__all__ = ["TOKEN_FILE", "admin_token", "backend_for", "known_annotators", "queue_name", "token_file"]

TOKEN_FILE = "queue_token"
_TOKEN_BYTES = re.compile(rb"[\x21-\x7e]{1,1024}")  # what an HTTP bearer header can carry as is


def token_file(cfg: ProjectConfig) -> Path:
    return cfg.state_dir / TOKEN_FILE


def admin_token(cfg: ProjectConfig, *, create: bool = False) -> str:
    """The queue's admin token: env `queue.token_env`, else the token file (generated if `create`).

    A token file that holds no token (empty, or emptied by a bad copy) is replaced by `annoflow app`
    (`create`): nothing can rely on a token that is not there. Every other command refuses it with
    the file's name and what to run. A file that holds something that is not a token is never
    overwritten: the user decides.
    """
    env = (os.environ.get(cfg.queue.token_env) or "").strip()
    if env:
        return env
    path = token_file(cfg)
    token = _read_token(path, cfg.queue.token_env)
    if token:
        return token
    if not create:
        if path.exists():
            raise ConfigError(f"{path} is empty: run `annoflow app` (it writes a new admin token there) "
                              f"or set {cfg.queue.token_env}")
        raise ConfigError(
            f"no admin token for the queue: set {cfg.queue.token_env}, or start the app with `annoflow app` "
            f"(it generates one in {path})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "adm_" + secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.replace(tmp, path)  # atomic: a reader sees the old (empty) file or the whole new token
    return token


def _read_token(path: Path, env: str) -> str | None:
    """The token in `path`, None when there is no file or it is blank; a ConfigError when it cannot be a token."""
    fix = f"delete it and run `annoflow app` to write a new one, or set {env}"
    if not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"{path} is not a file: {fix}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the admin token file {path} ({e.strerror}): {fix}") from None
    token = raw.strip()
    if not token:
        return None
    if not _TOKEN_BYTES.fullmatch(token):
        raise ConfigError(f"{path} does not hold an admin token (one line of printable ASCII without spaces): {fix}")
    return token.decode("ascii")


def queue_name(cfg: ProjectConfig) -> str:
    """The queue's key in `assignments.queue` and `queue_cursors`: backend, address and project.

    Pointing the project at another app (a new URL) starts a new cursor instead of resuming an
    unrelated one.
    """
    return f"{cfg.queue.backend.value}:{cfg.queue.url.rstrip('/')}/{cfg.name}"


def backend_for(cfg: ProjectConfig) -> QueueBackend:
    """The project's backend with the admin token resolved (env or token file)."""
    return open_backend(cfg, token=admin_token(cfg))


LABELLING_ROLES = frozenset({"annotator", "expert"})
"""Roles that take label, gold and audit tasks (no roles at all: an annotator, as before roles existed)."""


def known_annotators(backend: QueueBackend, *, labelling: bool = False) -> list[str] | None:
    """Active annotators of the backend, or None when the backend does not manage annotators.

    `labelling`: only those who can take label and gold tasks (not reviewers only), the people dispatch
    plans gold for; collect knows every role, since a reviewer's decisions are judgments too."""
    if not isinstance(backend, AnnotatorAdmin):
        return None
    rows = backend.list_annotators().to_pylist()
    return sorted(r["annotator_id"] for r in rows if r["active"] is not False
                  and (not labelling or not r.get("roles") or LABELLING_ROLES & set(r["roles"])))
