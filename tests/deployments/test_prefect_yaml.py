"""`deployments/prefect.yaml` against the code: entrypoints import, parameters exist and validate, and
it declares the same deployments as `build_deployments` (`annoflow serve`)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml

from deployments.serve import (
    COLLECT_LOOP_SECONDS,
    NIGHTLY_EXPORT_CRON,
    PROJECT_DIR_OF_EVENT,
    build_deployments,
)
from schemas.config import load_config

REPO = Path(__file__).resolve().parents[2]
DOC = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
DEPLOYMENTS = DOC["deployments"]


def load_entrypoint(entrypoint: str):
    path, _, attr = entrypoint.partition(":")
    module = path.removesuffix(".py").replace("/", ".")
    assert (REPO / path).is_file(), entrypoint
    return getattr(importlib.import_module(module), attr)


def key(flow_name: str, name: str) -> str:
    return f"{flow_name}/{name}"


@pytest.mark.parametrize("dep", DEPLOYMENTS, ids=lambda d: f"{d['entrypoint']}:{d['name']}")
def test_entrypoint_parameters_exist_and_validate(dep: dict) -> None:
    from prefect.flows import Flow

    f = load_entrypoint(dep["entrypoint"])
    assert isinstance(f, Flow)
    sig = inspect.signature(f.fn)
    params = dep.get("parameters", {})
    assert set(params) <= set(sig.parameters), f"{dep['entrypoint']}: unknown parameters {set(params) - set(sig.parameters)}"
    f.validate_parameters(params)  # enum values (start_at/stop_after) and types, as the server's schema does
    for trig in dep.get("triggers", []):
        assert set(trig.get("parameters", {})) <= set(sig.parameters)
    assert dep["enforce_parameter_schema"] is True
    assert dep["work_pool"]["name"] == "annoflow-local"
    assert (REPO / params["project_dir"] / "annoflow.toml").is_file()


def test_bad_enum_value_does_not_validate() -> None:
    from prefect.exceptions import ParameterTypeError

    f = load_entrypoint("flows/pipeline.py:pipeline")
    with pytest.raises(ParameterTypeError):
        f.validate_parameters({"project_dir": "x", "start_at": "nonsense"})


def test_pull_step_moves_to_the_checkout() -> None:
    assert DOC["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]


def _schedule(d: dict) -> tuple:
    out = []
    for s in d.get("schedules") or []:
        out.append(("interval", float(s["interval"])) if "interval" in s else ("cron", s["cron"]))
    return tuple(out)


def test_same_deployments_as_serve() -> None:
    cfg = load_config(REPO / "examples" / "youtube-spam")
    served = {}
    for d in build_deployments(cfg):
        sched = tuple(("interval", s.schedule.interval.total_seconds()) if getattr(s.schedule, "interval", None)
                      else ("cron", s.schedule.cron) for s in d.schedules or [])
        triggers = tuple(sorted(e for t in d.triggers for e in t.expect))
        served[key(d.flow_name, d.name)] = (sched, {k: v for k, v in d.parameters.items() if k != "project_dir"}, triggers,
                                             d.enforce_parameter_schema)
    declared = {}
    for d in DEPLOYMENTS:
        flow_name = load_entrypoint(d["entrypoint"]).name
        triggers = tuple(sorted(e for t in d.get("triggers", []) for e in t["expect"]))
        declared[key(flow_name, d["name"])] = (_schedule(d), {k: v for k, v in d["parameters"].items() if k != "project_dir"},
                                               triggers, d["enforce_parameter_schema"])
    assert declared == served
    assert declared["annotation-pipeline/youtube-spam-collect-loop"][0] == (("interval", float(COLLECT_LOOP_SECONDS)),)
    assert declared["export/youtube-spam-nightly"][0] == (("cron", NIGHTLY_EXPORT_CRON),)
    assert declared["prelabel/youtube-spam"][2] == ("annoflow.ingest.completed",)
    trig = next(d for d in DEPLOYMENTS if d["entrypoint"].startswith("flows/prelabel.py"))["triggers"][0]
    served = next(t for d in build_deployments(cfg) for t in d.triggers)
    assert trig["match"] == served.match.root == {"prefect.resource.id": "annoflow.project.youtube-spam",
                                                  "annoflow.origin": "standalone"}
    assert trig["parameters"] == served.parameters == {"project_dir": PROJECT_DIR_OF_EVENT}
