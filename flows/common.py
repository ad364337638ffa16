"""What every flow shares: which project it runs on (a folder or a config parameter) and the keys of
the artifacts it publishes for that project."""

from __future__ import annotations

import hashlib
import re

from schemas.config import ProjectConfig, load_config

__all__ = ["artifact_key", "project_config", "publish_headline"]


def artifact_key(cfg: ProjectConfig, report: str) -> str:
    """`<project>-<report>`: two projects on one Prefect server keep their own latest reports.

    Prefect keys allow lowercase letters, digits and dashes; a project name that had to be changed to
    fit gets a short hash of the real name, so `My_Set` and `my-set` never share a key.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", cfg.name.lower()).strip("-")
    if slug != cfg.name:
        slug = f"{slug}-{hashlib.sha256(cfg.name.encode()).hexdigest()[:6]}".lstrip("-")
    return f"{slug}-{report}"


def project_config(project_dir: str, config: ProjectConfig | None) -> ProjectConfig:
    """A config passed as a parameter wins; otherwise the folder's annoflow.toml is read.

    A parameter config with the default root is anchored at `project_dir`, so relative paths in it
    mean the same thing as in the file.
    """
    if config is None:
        return load_config(project_dir)
    if config.root == ".":
        from pathlib import Path

        config = config.model_copy(update={"root": str(Path(project_dir).resolve())})
    return config


def publish_headline(cfg: ProjectConfig, stage: str) -> str | None:
    """A markdown artifact `<project>-<stage>-headline`: the headline numbers (judgments, time per
    judgment, resolved share, alpha, cost per label, ...) as they stood after the stage's latest run,
    read from history. Returns the artifact key (None with history off or no run recorded)."""
    if not cfg.history.enabled:
        return None
    from prefect.artifacts import create_markdown_artifact

    from tasks.history.read import headline, headline_markdown
    from tasks.store import open_store

    with open_store(cfg.db_path, read_only=True, wait_seconds=cfg.state.lock_wait_seconds) as con:
        run = con.execute("SELECT run_id FROM stage_runs WHERE stage = ? ORDER BY finished_at DESC LIMIT 1",
                          [stage]).fetchall()
        if not run:
            return None
        run = run[0]
        rows = headline(con, run[0])
    key = artifact_key(cfg, f"{re.sub(r'[^a-z0-9]+', '-', stage.lower())}-headline")
    create_markdown_artifact(headline_markdown(stage, run[0], rows), key=key,
                             description=f"{stage}: headline numbers of the latest run")
    return key
