"""Answer kinds: what an answer *is* (a label, a set of labels, spans, boxes, ...), one module each.

Stages ask the project's kind (`kind_of(cfg)`) and never branch on its name. The registry below is
the only place a kind's name meets its module: adding a kind is one module plus one line here. The
modules are imported lazily so that the config can validate `task_kind` against `names()` without
importing every kind's dependencies.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .protocol import AnswerKind

__all__ = ["get", "kind_of", "names"]

_REGISTRY: dict[str, str] = {
    "single_label": "tasks.kinds.choices:SINGLE_LABEL",
    "multi_label": "tasks.kinds.choices:MULTI_LABEL",
    "spans": "tasks.kinds.spans:SPANS",
    "boxes": "tasks.kinds.boxes:BOXES",
    "transcript": "tasks.kinds.transcript:TRANSCRIPT",
    "segments": "tasks.kinds.segments:SEGMENTS",
    "rating": "tasks.kinds.rating:RATING",
    "pairwise": "tasks.kinds.pairwise:PAIRWISE",
}


class _HasKind(Protocol):
    task_kind: object


def names() -> tuple[str, ...]:
    """The registered kinds' config names, in registration order."""
    return tuple(_REGISTRY)


@cache
def get(name: str) -> "AnswerKind":
    """The kind registered as `name` (a `ValueError` naming the known kinds otherwise)."""
    try:
        module, _, attr = _REGISTRY[str(name)].partition(":")
    except KeyError:
        raise ValueError(f"unknown task_kind {name!r}: expected one of {', '.join(names())}") from None
    return getattr(import_module(module), attr)


def kind_of(cfg: _HasKind) -> "AnswerKind":
    """The kind of a project (anything with a `task_kind`: the project config, the app's project)."""
    return get(getattr(cfg.task_kind, "value", cfg.task_kind))
