"""Human queue backends behind one interface (`base.QueueBackend`), reached over HTTP with httpx.

`open_backend(config)` returns the backend the project config names. The simulated crowd
(`simulated_crowd`) drives the built-in app's annotator API for demos and benchmarks.
"""

from __future__ import annotations

from schemas.config import ProjectConfig
from schemas.config import QueueBackend as BackendKind
from tasks.errors import ConfigError
from tasks.queues.base import JUDGMENT_SCHEMA, TASK_SCHEMA, AnnotatorAdmin, QueueBackend
from tasks.queues.builtin import BuiltinBackend
from tasks.queues.label_studio import LabelStudioBackend

__all__ = ["open_backend", "QueueBackend", "AnnotatorAdmin", "BuiltinBackend", "LabelStudioBackend", "TASK_SCHEMA", "JUDGMENT_SCHEMA"]


def open_backend(config: ProjectConfig, *, token: str | None = None) -> QueueBackend:
    """The queue backend of `config.queue.backend`; the token defaults to env `queue.token_env`."""
    kind = config.queue.backend
    if kind == BackendKind.builtin:
        return BuiltinBackend.from_config(config, token=token)
    if kind == BackendKind.label_studio:
        return LabelStudioBackend.from_config(config, token=token)
    raise ConfigError(f"queue backend {kind.value!r} is not available; use 'builtin' or 'label_studio'")
