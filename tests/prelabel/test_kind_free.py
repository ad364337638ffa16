"""The pre-labeling stage asks the project's answer kind and never names one (issue 12, part 1)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "tasks" / "prelabel").rglob("*.py")) + [ROOT / "flows" / "prelabel.py", ROOT / "annoflow_cli" / "prelabel.py"]
NAMES = re.compile(r"multi_label|single_label|TaskKind\.")


def test_no_prelabel_file_names_a_kind() -> None:
    assert len(FILES) > 5 and all(f.is_file() for f in FILES)
    found = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}" for f in FILES
             for n, line in enumerate(f.read_text().splitlines(), 1) if NAMES.search(line)]
    assert found == []


def test_the_check_would_catch_a_kind_name(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("if cfg.task_kind == TaskKind.multi_label:\n    pass\n")
    assert NAMES.search(bad.read_text())
