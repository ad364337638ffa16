"""The resource of annoflow's events says where the project lives and whether a pipeline ran the stage."""

from __future__ import annotations

from pathlib import Path

from tasks.events import in_pipeline, project_resource


def test_origin_and_folder_of_the_project(make_project) -> None:
    cfg = make_project()
    alone = project_resource(cfg)
    assert alone["annoflow.origin"] == "standalone"
    assert alone["annoflow.project.dir"] == str(Path(cfg.root).resolve())
    with in_pipeline():
        assert project_resource(cfg)["annoflow.origin"] == "pipeline"
    assert project_resource(cfg)["annoflow.origin"] == "standalone"
