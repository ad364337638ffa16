"""Time segments: the prelabel facet (see tasks/kinds/protocol.py). Being built: every method raises until it lands."""

from __future__ import annotations

from typing import Any

__all__ = ["FACET"]


class _Pending:
    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"the segments kind's prelabel facet has no {name!r} yet")


FACET: Any = _Pending()
