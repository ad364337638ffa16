"""Three pictures of the shapes-boxes example (240x180, 192x144, 240x180 px) in `images/`."""

import shutil
from pathlib import Path

EXAMPLE = Path(__file__).parents[4] / "examples" / "shapes-boxes" / "data" / "images"


def make(folder: Path) -> None:
    (folder / "images").mkdir(exist_ok=True)
    for name in ("scene_00.png", "scene_01.png", "scene_02.png"):
        shutil.copy(EXAMPLE / name, folder / "images" / name)
