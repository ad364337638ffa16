"""Property-based fuzzing of the real app over HTTP against its own OpenAPI document (schemathesis).

Every operation gets generated valid and invalid requests (with the right kind of token, so the
handlers run, and without, through schemathesis's auth checks); every response must be no 5xx, have
a status and headers the document declares, a body matching the declared schema, and every
schema-violating request must be refused. Not checked: that every schema-valid request is accepted,
because some rules depend on state no schema can state (a pre-label or an answer must be in that
project's current label set: 422). Derandomized and capped per operation, so the run is the same
every time and takes well under a minute.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from annotation_app.process import AppProcess, start_app
from annotation_app.server import create_app
from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppProcess, str]]:
    """An app of its own (the fuzzer creates and changes things), with one project, task and annotator."""
    d = tmp_path_factory.mktemp("fuzz")
    app = start_app(d / "app.sqlite", ADMIN_TOKEN, log=d / "app.log")
    with httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        admin.put("/api/projects/p", json={"labels": ["a", "b"]}).raise_for_status()
        admin.post("/api/projects/p/tasks", json={"tasks": [{"assignment_id": f"t{i}", "item_id": f"i{i}", "payload": "x"}
                                                           for i in range(50)]}).raise_for_status()
        token = admin.post("/api/annotators", json={"annotator_id": "fuzz-annotator"}).json()["token"]
    yield app, token
    app.stop()
    log = Path(d / "app.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def _document() -> dict:
    """The app's OpenAPI document, built at collection (the operations become test ids); the test
    checks that the running app serves exactly this document. (`schemathesis.pytest.from_fixture`
    would fetch it from the server instead, but fails under pytest 9.)"""
    with tempfile.TemporaryDirectory() as d:
        return create_app(Path(d) / "app.sqlite", ADMIN_TOKEN).openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case, fuzzed_app: tuple[AppProcess, str]) -> None:
    app, annotator_token = fuzzed_app
    if "Authorization" in (case.headers or {}):  # a real token where the case has one (negative cases may drop it)
        security = case.operation.definition.raw.get("security") or []
        token = annotator_token if any("annotatorToken" in s for s in security) else ADMIN_TOKEN
        case.headers["Authorization"] = f"Bearer {token}"
    case.call_and_validate(base_url=app.url, excluded_checks=[positive_data_acceptance])


def test_the_fuzzed_document_is_the_served_one(fuzzed_app: tuple[AppProcess, str]) -> None:
    assert httpx.get(f"{fuzzed_app[0].url}/openapi.json").json() == DOCUMENT
