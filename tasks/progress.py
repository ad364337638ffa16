"""Progress for long stages: a rich bar when a CLI installed one, a Prefect progress artifact in a flow run.

Stages call `track(...)` and never care which of the two (or both) is listening.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["track", "use_console", "Tracker"]

_console_progress: Any = None  # a rich.progress.Progress installed by the CLI


@contextmanager
def use_console() -> Iterator[None]:
    """Show rich progress bars for every stage run inside this block (CLI only)."""
    global _console_progress
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False) as p:
        _console_progress = p
        try:
            yield
        finally:
            _console_progress = None


def _in_flow_run() -> bool:
    try:
        from prefect.context import FlowRunContext

        return FlowRunContext.get() is not None
    except Exception:
        return False


class Tracker:
    """Advance with units done; updates are throttled so progress costs nothing next to the work."""

    def __init__(self, description: str, total: float | None) -> None:
        self.description, self.total, self.done = description, total, 0.0
        self._bar = _console_progress.add_task(description, total=total) if _console_progress else None
        self._artifact_id = None
        self._last = 0.0
        if _in_flow_run() and total:
            from prefect.artifacts import create_progress_artifact

            # no key: a progress bar belongs to its flow run; a shared key would mix projects' runs
            self._artifact_id = create_progress_artifact(0.0, description=description)

    def advance(self, n: float) -> None:
        self.done += n
        if self._bar is not None:
            _console_progress.update(self._bar, completed=self.done)
        now = time.monotonic()
        if self._artifact_id is not None and now - self._last > 1.0:
            self._last = now
            self._push()

    def _push(self) -> None:
        from prefect.artifacts import update_progress_artifact

        update_progress_artifact(self._artifact_id, min(100.0, 100.0 * self.done / self.total))

    def close(self) -> None:
        if self._artifact_id is not None:
            self.done = self.total
            self._push()
        if self._bar is not None and self.total:
            _console_progress.update(self._bar, completed=self.total)


@contextmanager
def track(description: str, total: float | None) -> Iterator[Tracker]:
    t = Tracker(description, total)
    try:
        yield t
    finally:
        t.close()
