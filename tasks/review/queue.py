"""Where review tasks go: the project's own queue when it has a review workflow (the built-in app), else
the built-in app named by `review.app_url` (Label Studio's open-source edition has no review workflow),
else nowhere. Review tasks of the second case are assignments of their own queue (`assignments.queue` =
that app's queue name), pushed to and pulled from that app with their own cursor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from schemas.config import ProjectConfig
from tasks.errors import ConfigError
from tasks.queues import BuiltinBackend, QueueBackend

__all__ = ["ReviewQueue", "review_queue", "serves_reviews"]


def serves_reviews(backend: object) -> bool:
    """Whether a queue backend has the review workflow (only the built-in app does)."""
    return bool(getattr(backend, "serves_reviews", False))


@dataclass
class ReviewQueue:
    name: str
    backend: QueueBackend
    separate: bool
    """True when it is not the project's queue (then the caller opened it and closes it)."""


def review_queue(cfg: ProjectConfig, queue: str, backend: QueueBackend) -> ReviewQueue | None:
    """The queue review tasks go to for a project whose queue is `backend` (named `queue` in state), or None
    (no review workflow)."""
    if serves_reviews(backend):
        return ReviewQueue(queue, backend, False)
    url = cfg.review.app_url
    if not url:
        return None
    token = (os.environ.get(cfg.review.app_token_env) or "").strip()
    if not token:
        raise ConfigError(f"review.app_url is set ({url}) but the environment variable {cfg.review.app_token_env} "
                          "holding that app's admin token is not")
    app = BuiltinBackend(url, token, cfg.name, push_batch=cfg.queue.push_batch)
    return ReviewQueue(f"builtin:{url.rstrip('/')}/{cfg.name}", app, True)
