"""A stand-in queue backend for collect tests: its pulls page through judgments the test wrote by hand (cursor =
offset), for the cases the real app never produces. The real queues are tested against the real app and Label
Studio (tests/collect/test_end_to_end.py, tests/labelstudio/)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tasks.queues import JUDGMENT_SCHEMA

__all__ = ["JudgmentPages"]


class JudgmentPages:
    """Pulls return `rows` in order; `annotators` are the queue's people; pushes and cancels do nothing."""

    name = "pages"

    def __init__(self, annotators: Sequence[str] = (), rows: list[dict] | None = None) -> None:
        self.annotators = list(annotators)
        self.rows: list[dict] = [] if rows is None else rows

    def pull(self, cursor, limit=5_000):
        start = int(cursor or 0)
        page = self.rows[start:start + limit]
        return pa.Table.from_pylist(page, schema=JUDGMENT_SCHEMA), str(start + len(page))

    def list_annotators(self):
        n = len(self.annotators)
        return pa.table({"annotator_id": self.annotators, "name": self.annotators, "roles": [[] for _ in range(n)],
                         "active": [True] * n, "submitted": [0] * n})

    def create_annotator(self, *a, **k):
        raise NotImplementedError

    def ensure_project(self, config, *a, **k):
        return config.name

    def push(self, tasks):
        return 0

    def cancel(self, ids):
        return 0

    def close(self):
        pass
