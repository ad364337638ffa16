"""What every flow does first: settle which project it runs on, from a folder or a config parameter."""

from __future__ import annotations

from schemas.config import ProjectConfig, load_config

__all__ = ["project_config"]


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
