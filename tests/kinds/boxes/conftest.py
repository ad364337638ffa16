"""While the boxes export facet is still its placeholder on this branch, a boxes project's config
cannot be loaded (config validation asks the export facet for its formats). Until it lands, its
format names are the ones the export part is building; once the real facet is merged this fixture
does nothing and should be deleted."""

from __future__ import annotations

import pytest

from tasks.kinds.boxes import export


@pytest.fixture(autouse=True)
def _export_formats_until_the_facet_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    if type(export.FACET).__name__ == "_Pending":
        monkeypatch.setattr(type(export.FACET), "formats", lambda self, cfg: {"coco": None, "yolo": None}, raising=False)
