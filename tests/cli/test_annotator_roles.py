"""`annoflow annotators add --role ...` gives the app's annotator its roles, which decide its routes."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from annoflow_cli.main import app
from tests.conftest import ADMIN_TOKEN


def test_annotators_add_with_roles_reaches_the_routes_of_those_roles(queue_project, app_server) -> None:
    cfg = queue_project()
    runner = CliRunner()
    made = {}
    for name, flags in (("rita", ["--role", "reviewer"]), ("ed", ["--expert"]), ("ann", []),
                        ("both", ["--role", "annotator", "--role", "reviewer"])):
        out = runner.invoke(app, ["annotators", "add", f"{cfg.name}-{name}", *flags, "--config", str(cfg.root), "--json"])
        assert out.exit_code == 0, out.output
        made[name] = json.loads(out.stdout.strip().splitlines()[-1])
    assert {k: v["roles"] for k, v in made.items()} == {
        "rita": ["reviewer"], "ed": ["expert"], "ann": [], "both": ["annotator", "reviewer"]}
    listed = {a["annotator_id"]: a["roles"] for a in httpx.get(
        f"{app_server.url}/api/annotators", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()}
    assert listed[f"{cfg.name}-rita"] == ["reviewer"]
    httpx.put(f"{app_server.url}/api/projects/{cfg.name}", json={"labels": list(cfg.labels)},
              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).raise_for_status()  # as dispatch creates it
    reach = {}
    for name, a in made.items():
        h = {"Authorization": f"Bearer {a['token']}"}
        reach[name] = tuple(httpx.post(f"{app_server.url}/api/{route}/{cfg.name}/next", headers=h).status_code
                            for route in ("annotate", "review"))
    assert reach == {"rita": (403, 200), "ed": (200, 200), "ann": (200, 403), "both": (200, 200)}
    bad = runner.invoke(app, ["annotators", "add", f"{cfg.name}-x", "--role", "boss", "--config", str(cfg.root)])
    assert bad.exit_code == 2 and "boss" in bad.output
