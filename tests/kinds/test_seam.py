"""The seam holds: outside tasks/kinds, no stage, flow, app, CLI or schema names an answer kind.

A kind's name appears only in its own module and the registry; everything else asks `kind_of(cfg)`.
"""

import re
from pathlib import Path

from tasks import kinds

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tasks", "flows", "annotation_app", "annoflow_cli", "schemas", "deployments")
SUFFIXES = {".py", ".js", ".html", ".sql"}


def _kind_names() -> re.Pattern[str]:
    names = "|".join(re.escape(n) for n in kinds.names())
    return re.compile(rf"TaskKind\.|[\"'`]({names})[\"'`]|\b(multi|single)_label\b")


def test_no_file_outside_the_kinds_names_a_kind() -> None:
    pattern = _kind_names()
    files = [p for d in SCANNED for p in (ROOT / d).rglob("*")
             if p.suffix in SUFFIXES and "kinds" not in p.relative_to(ROOT).parts[:2]]
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in files
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert len(files) > 100 and hits == []


def test_the_check_catches_a_branch_on_a_kind() -> None:
    pattern = _kind_names()
    assert pattern.search("multi = cfg.task_kind == TaskKind.multi_label")
    assert pattern.search('if kind == "spans":')
    assert pattern.search("if s.multi_label:")
    assert not pattern.search("lab = kind_of(cfg).export.column")


def test_every_registered_kind_has_every_facet() -> None:
    for name in kinds.names():
        kind = kinds.get(name)
        assert kind.name == name
        for facet in ("storage", "prelabel", "queue", "consensus", "export", "simulation"):
            assert getattr(kind, facet) is not None, f"{name} lacks its {facet} facet"
        assert kind.queue.widget.is_file(), f"{name}'s widget {kind.queue.widget} is missing"
