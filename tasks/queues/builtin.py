"""The built-in annotation app as a queue backend: `annotation_app` reached over its pipeline API."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import httpx
import pyarrow as pa

from schemas.config import ProjectConfig
from tasks.errors import ConfigError
from tasks.http import make_client
from tasks.kinds import kind_of
from tasks.queues.base import ANNOTATOR_SCHEMA, JUDGMENT_SCHEMA, PullAll, task_rows

__all__ = ["BuiltinBackend"]


class BuiltinBackend(PullAll):
    """Pipeline-side client of one project in the annotation app (admin token)."""

    name = "builtin"
    serves_reviews = True  # the app has the review workflow (tasks/review); Label Studio's open-source edition has none

    def __init__(self, url: str, token: str, project_id: str, *, push_batch: int = 5_000,
                 client: httpx.Client | None = None) -> None:
        if not token:
            raise ConfigError("the annotation app needs its admin token: set ANNOFLOW_QUEUE_TOKEN "
                              "(or the variable named by queue.token_env)")
        self.url, self.project_id, self.push_batch = url, project_id, push_batch
        self.client = client or make_client(url, token)

    @classmethod
    def from_config(cls, config: ProjectConfig, *, token: str | None = None,
                    client: httpx.Client | None = None) -> "BuiltinBackend":
        """Backend for `config` (project id = config.name, token from `queue.token_env`)."""
        q = config.queue
        token = token if token is not None else os.environ.get(q.token_env, "")
        if not token and client is None:
            raise ConfigError(f"environment variable {q.token_env} holding the annotation app's admin token is not set")
        return cls(q.url, token or "-", config.name, push_batch=q.push_batch, client=client)

    def ensure_project(self, config: ProjectConfig, excluded_annotators: Sequence[str] | None = None,
                       paused_annotators: Mapping[str, str] | None = None,
                       requalifying_annotators: Sequence[str] | None = None) -> str:
        body = {
            "labels": config.labels,
            "task_kind": config.task_kind.value,
            "data_kind": config.data_kind.value,
            "options": kind_of(config).queue.page_config(config),
            "instructions": config.instructions,
            "show_prelabels": config.queue.show_prelabels,
            "lease_seconds": config.queue.lease_seconds,
        }
        if excluded_annotators is not None:
            body["excluded_annotators"] = sorted(excluded_annotators)
        if paused_annotators is not None:
            body["paused_annotators"] = dict(sorted(paused_annotators.items()))
        if requalifying_annotators is not None:
            body["requalifying_annotators"] = sorted(requalifying_annotators)
        self.client.put(f"/api/projects/{self.project_id}", json=body)
        return self.project_id

    def push(self, tasks: pa.Table) -> int:
        rows = task_rows(tasks)
        for r in rows:  # the app's task view has no use for item metadata
            r.pop("metadata", None)
        created = 0
        for start in range(0, len(rows), self.push_batch):
            r = self.client.post(f"/api/projects/{self.project_id}/tasks",
                                 json={"tasks": rows[start:start + self.push_batch]})
            created += r.json()["created"]
        return created

    def pull(self, cursor: str | None, limit: int = 5_000) -> tuple[pa.Table, str | None]:
        r = self.client.get(f"/api/projects/{self.project_id}/judgments",
                            params={"cursor": cursor or "", "limit": limit})
        page = r.json()
        rows = page["judgments"]
        for j in rows:
            j.pop("seq", None)
            j["submitted_at"] = datetime.fromtimestamp(j["submitted_at"], tz=timezone.utc)
        table = pa.Table.from_pylist(rows, schema=JUDGMENT_SCHEMA)
        return table, page["next_cursor"]

    def cancel(self, assignment_ids: Sequence[str]) -> int:
        ids = [str(x) for x in assignment_ids]
        n = 0
        for start in range(0, len(ids), self.push_batch):
            r = self.client.post(f"/api/projects/{self.project_id}/tasks/cancel",
                                 json={"assignment_ids": ids[start:start + self.push_batch]})
            n += r.json()["cancelled"]
        return n

    def create_annotator(self, annotator_id: str, *, name: str | None = None, roles: Sequence[str] = (),
                         projects: Sequence[str] | None = None) -> str:
        r = self.client.post("/api/annotators", json={
            "annotator_id": annotator_id, "name": name, "roles": list(roles),
            "projects": list(projects) if projects is not None else None,
        })
        return r.json()["token"]

    def rotate_token(self, annotator_id: str) -> str:
        return self.client.post(f"/api/annotators/{annotator_id}/token").json()["token"]

    def list_annotators(self) -> pa.Table:
        rows = self.client.get("/api/annotators").json()
        return pa.Table.from_pylist(
            [{k: r.get(k) for k in ANNOTATOR_SCHEMA.names} for r in rows], schema=ANNOTATOR_SCHEMA)

    def pull_annotator_actions(self, cursor: str | None) -> tuple[list[dict], str | None]:
        """Pause / resume / unban actions taken in the app after `cursor`, and the cursor to store."""
        page = self.client.get(f"/api/projects/{self.project_id}/annotator-actions",
                               params={"cursor": cursor or ""}).json()
        return page["actions"], page["next_cursor"]

    def pull_comments(self, page: int = 5_000) -> list[dict]:
        """Every comment and guideline question of the project (resolutions change rows, so all are re-read)."""
        rows, cursor = [], ""
        while True:
            got = self.client.get(f"/api/projects/{self.project_id}/comments", params={"cursor": cursor, "limit": page}).json()
            rows += got["comments"]
            cursor = got["next_cursor"]
            if not got["has_more"]:
                return rows

    def questions(self, status: str = "open") -> list[dict]:
        """The project's guideline questions (`open`, `resolved` or `all`), live from the app."""
        return self.client.get(f"/api/projects/{self.project_id}/questions", params={"status": status}).json()["questions"]

    def resolve_question(self, comment_id: str, resolution: str, actor: str) -> dict:
        return self.client.post(f"/api/projects/{self.project_id}/questions/{comment_id}/resolve",
                                json={"resolution": resolution, "actor": actor}).json()

    def counts(self) -> dict[str, int]:
        """Open/leased/done/cancelled task counts of the project."""
        return self.client.get(f"/api/projects/{self.project_id}").json()["counts"]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "BuiltinBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
