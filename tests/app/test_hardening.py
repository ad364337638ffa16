"""The app's HTTP surface under hostile or careless clients: body limits, what /api/me reveals,
how much of the input an error echoes, who can read the store file, and what the OpenAPI document declares."""

from __future__ import annotations

import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annotation_app.gate import ANNOTATOR_MAX_BODY
from annotation_app.process import AppProcess, start_app
from tests.conftest import ADMIN_TOKEN

MB = 2**20


@pytest.fixture
def own_app(tmp_path: Path) -> Iterator[AppProcess]:
    """An app process of its own, so its peak memory reflects only this test."""
    app = start_app(tmp_path / "app.sqlite", ADMIN_TOKEN, log=tmp_path / "app.log")
    yield app
    app.stop()


def _peak_rss_mb(app: AppProcess) -> float:
    assert app.proc is not None
    for line in Path(f"/proc/{app.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def _send_big_body(port: int, path: str, headers: dict[str, str], total: int) -> tuple[bytes, int, float]:
    """Announce `total` body bytes, read the answer, then try to send them all.

    Returns (status line, bytes the server let us send, seconds until the answer came).
    """
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "Content-Type": "application/json",
                                                "Content-Length": str(total), **headers}.items())
    t0 = time.monotonic()
    s.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + b"[")
    answer = s.recv(65536)
    took = time.monotonic() - t0
    chunk, sent = b" " * MB, 1
    try:
        while sent < total:
            sent += s.send(chunk[: total - sent])
    except OSError:  # the server closed the connection: the rest was never read
        pass
    s.close()
    return answer.split(b"\r\n", 1)[0], sent, took


def test_unauthenticated_200mb_post_is_refused_before_its_body_is_read(own_app: AppProcess) -> None:
    before = _peak_rss_mb(own_app)
    status, sent, took = _send_big_body(own_app.port, "/api/projects/p1/tasks", {}, 200 * MB)
    assert status.startswith(b"HTTP/1.1 401"), status
    assert took < 2
    assert sent < 200 * MB  # the connection was closed instead of draining 200 MB
    status, sent, _ = _send_big_body(own_app.port, "/api/projects/p1/tasks",
                                     {"Authorization": "Bearer not-the-token"}, 200 * MB)
    assert status.startswith(b"HTTP/1.1 401") and sent < 200 * MB
    assert _peak_rss_mb(own_app) - before < 20, (before, _peak_rss_mb(own_app))
    assert httpx.get(f"{own_app.url}/healthz").status_code == 200


def test_declared_body_over_the_callers_limit_is_413_before_reading(own_app: AppProcess) -> None:
    with httpx.Client(base_url=own_app.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        admin.put("/api/projects/p1", json={"labels": ["a", "b"]}).raise_for_status()
        admin.post("/api/projects/p1/tasks", json={"tasks": [{"assignment_id": "t1", "item_id": "i1", "payload": "x"}]})
        token = admin.post("/api/annotators", json={"annotator_id": "ann"}).json()["token"]
    before = _peak_rss_mb(own_app)
    status, sent, _ = _send_big_body(own_app.port, "/api/projects/p1/tasks",
                                     {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 200 * MB)
    assert status.startswith(b"HTTP/1.1 413") and sent < 200 * MB
    status, sent, _ = _send_big_body(own_app.port, "/api/annotate/leases/x/submit",
                                     {"Authorization": f"Bearer {token}"}, ANNOTATOR_MAX_BODY + 1)
    assert status.startswith(b"HTTP/1.1 413")
    assert _peak_rss_mb(own_app) - before < 20
    # Within the limit the same caller is served as before.
    with httpx.Client(base_url=own_app.url, headers={"Authorization": f"Bearer {token}"}) as ann:
        lease = ann.post("/api/annotate/p1/next").json()["task"]["lease_id"]
        r = ann.post(f"/api/annotate/leases/{lease}/submit", json={"client_id": "c1", "label": "a"})
        assert r.status_code == 200, r.text


def test_chunked_body_is_cut_off_at_the_limit(own_app: AppProcess) -> None:
    """No Content-Length: the gate counts the bytes as they arrive and answers 413 past the limit."""
    with httpx.Client(base_url=own_app.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        token = admin.post("/api/annotators", json={"annotator_id": "ann"}).json()["token"]
    s = socket.create_connection(("127.0.0.1", own_app.port), timeout=10)
    s.sendall(f"POST /api/annotate/leases/x/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    answer: list[bytes] = []

    def read() -> None:
        try:
            while part := s.recv(65536):
                answer.append(part)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
    sent = 0
    try:
        for _ in range(1024):  # up to 16 MB, far past the 64 KiB annotator limit
            s.sendall(chunk)
            sent += 16 * 1024
    except OSError:
        pass
    reader.join(timeout=10)
    s.close()
    got = b"".join(answer)
    assert got.startswith(b"HTTP/1.1 413") and b"body_too_large" in got, got
    assert sent < 16 * MB


def test_me_shows_only_what_concerns_the_caller(app_server: AppProcess, admin: httpx.Client, new_project,
                                                new_annotator) -> None:
    banned, colleague = new_annotator(), new_annotator()
    open_pid = new_project()
    closed_pid = new_project(excluded_annotators=[banned.annotator_id])
    for c in (banned, colleague):
        admin.patch(f"/api/annotators/{c.annotator_id}", json={"projects": [open_pid, closed_pid]})
    seen = colleague.get("/api/me").json()
    assert banned.annotator_id not in str(seen)
    assert {p["project_id"] for p in seen["projects"]} == {open_pid, closed_pid}
    assert all(set(p) == {"project_id", "labels", "task_kind", "data_kind", "options", "instructions", "lease_seconds",
                          "remaining"} for p in seen["projects"])
    own = banned.get("/api/me").json()
    assert [p["project_id"] for p in own["projects"]] == [open_pid]  # removed there: not offered
    assert admin.get(f"/api/projects/{closed_pid}").json()["excluded_annotators"] == [banned.annotator_id]


def test_422_does_not_echo_a_10mb_label(app_server: AppProcess) -> None:
    pid, auth = f"p-{uuid.uuid4().hex[:8]}", {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=app_server.url, headers=auth) as admin:
        admin.put(f"/api/projects/{pid}", json={"labels": ["pos", "neg"]}).raise_for_status()
        admin.post(f"/api/projects/{pid}/tasks", json={"tasks": [{"assignment_id": f"{pid}-1", "item_id": "i",
                                                                 "payload": "x"}]}).raise_for_status()
        token = admin.post("/api/annotators", json={"annotator_id": f"a-{pid}"}).json()["token"]
        ann = httpx.Client(base_url=app_server.url, headers={"Authorization": f"Bearer {token}"})
        lease = ann.post(f"/api/annotate/{pid}/next").json()["task"]["lease_id"]
        submit = f"/api/annotate/leases/{lease}/submit"
        huge = "z" * 10_000_000
        r = ann.post(submit, json={"client_id": "c", "label": huge})
        assert r.status_code == 413 and len(r.content) < 1000  # an annotator's 10 MB is not even read
        big = "z" * (ANNOTATOR_MAX_BODY - 100)
        for body in ({"client_id": "c", "label": big}, {"client_id": "c", "labels": [big[:9000]] * 6},
                     {"client_id": "c", "label": "pos", "duration_ms": big}, {"client_id": big, "label": "pos"}):
            r = ann.post(submit, json=body)
            assert r.status_code == 422 and len(r.content) < 1000, (r.status_code, len(r.content))
        ann.close()
        # The pipeline may send large bodies; what its errors quote is short too.
        for method, path, body in (("PUT", f"/api/projects/{pid}", {"labels": [huge, huge]}),
                                   ("PUT", f"/api/projects/{pid}", {"labels": ["a"], huge: 1}),
                                   ("PUT", f"/api/projects/{pid}", {"labels": ["a"], "instructions": [huge]}),
                                   ("POST", f"/api/projects/{pid}/tasks",
                                    {"tasks": [{"assignment_id": huge, "item_id": "i", "payload": "x"}]})):
            r = admin.request(method, path, json=body)
            assert r.status_code == 422 and len(r.content) < 1000, (body.keys(), r.status_code, len(r.content))


def test_store_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    old.touch(mode=0o644)
    old.chmod(0o644)  # a store made by an earlier version, world-readable
    for db in (tmp_path / "new.sqlite", old):
        app = start_app(db, ADMIN_TOKEN)
        try:
            httpx.put(f"{app.url}/api/projects/p", json={"labels": ["a"]},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).raise_for_status()
            files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
        finally:
            app.stop()


def test_openapi_declares_the_refusals_and_limits(app_server: AppProcess) -> None:
    doc = httpx.get(f"{app_server.url}/openapi.json").json()
    error = doc["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/api/"):
                assert {"400", "401", "413", "422"} <= set(op["responses"]), (method, path)
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "404" in doc["paths"]["/api/annotate/leases/{lease_id}/submit"]["post"]["responses"]
    assert "409" in doc["paths"]["/api/annotate/leases/{lease_id}/submit"]["post"]["responses"]
    assert "409" in doc["paths"]["/api/annotators"]["post"]["responses"]
    body = doc["paths"]["/api/annotate/leases/{lease_id}/submit"]["post"]["requestBody"]["content"]["application/json"]
    client_id = body["schema"]["properties"]["client_id"]
    assert (client_id["minLength"], client_id["maxLength"]) == (1, 200)
    # ... and the server enforces exactly those limits.
    tok = httpx.post(f"{app_server.url}/api/annotators", json={"annotator_id": f"oa-{uuid.uuid4().hex[:6]}"},
                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["token"]
    for cid, status in (("", 422), ("c" * 201, 422), ("c" * 200, 404)):
        r = httpx.post(f"{app_server.url}/api/annotate/leases/nope/submit", json={"client_id": cid, "label": "a"},
                       headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == status, (len(cid), r.text)
