"""Time segments: the queue facet (see tasks/kinds/protocol.py). Being built: every method raises until it lands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["FACET"]


class _Pending:
    widget = Path(__file__).with_name("widget.js")

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"the segments kind's queue facet has no {name!r} yet")


FACET: Any = _Pending()
