"""One annotation app process per test session, reached over HTTP like the pipeline reaches it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from annotation_app.process import AppProcess
from tasks.http import make_client
from tasks.queues.builtin import BuiltinBackend
from tests.conftest import ADMIN_TOKEN  # noqa: F401  (app_server and media_root live in tests/conftest.py)


@pytest.fixture
def admin(app_server: AppProcess) -> Iterator[httpx.Client]:
    with make_client(app_server.url, ADMIN_TOKEN, retries=1, backoff=0.05) as c:
        yield c


@pytest.fixture
def new_project(app_server: AppProcess, admin: httpx.Client):
    """Factory: a fresh project (unique id) with the given settings; returns its id."""

    def make(labels: list[str] = ("pos", "neg"), **settings: object) -> str:
        pid = f"p-{uuid.uuid4().hex[:8]}"
        admin.put(f"/api/projects/{pid}", json={"labels": list(labels), **settings})
        return pid

    return make


@pytest.fixture
def new_annotator(app_server: AppProcess, admin: httpx.Client):
    """Factory: a fresh annotator; returns an httpx client authenticated as them (closed at teardown)."""
    clients: list[httpx.Client] = []

    def make(roles: list[str] = (), projects: list[str] | None = None) -> httpx.Client:
        aid = f"a-{uuid.uuid4().hex[:8]}"
        token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": list(roles),
                                                     "projects": projects}).json()["token"]
        c = make_client(app_server.url, token, retries=1, backoff=0.05)
        c.annotator_id = aid  # type: ignore[attr-defined]
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def backend(app_server: AppProcess):
    """Factory: the pipeline's client for a project id."""
    made: list[BuiltinBackend] = []

    def make(pid: str) -> BuiltinBackend:
        b = BuiltinBackend(app_server.url, ADMIN_TOKEN, pid)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def person(app_server, admin):
    """Factory: a new annotator with `roles`, as a plain httpx client (refusals come back as responses to check)."""
    made: list[httpx.Client] = []

    def make(roles: list[str] = ()) -> httpx.Client:
        aid = f"a-{uuid.uuid4().hex[:8]}"
        token = admin.post("/api/annotators", json={"annotator_id": aid, "roles": list(roles)}).json()["token"]
        c = httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        c.annotator_id = aid  # type: ignore[attr-defined]
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
