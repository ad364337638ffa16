"""What every reader hands back: a rejected row with its reason (the quarantine's shape, before storage)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BadRow", "truncate"]

_RAW_TRUNCATE = 500


@dataclass(frozen=True)
class BadRow:
    source_row: int | None
    reason: str
    detail: str
    raw: str | None = None
    field: str | None = None


def truncate(raw: bytes | str) -> str:
    """The start of an offending row, enough to find it; never the whole of a huge line."""
    s = raw[: _RAW_TRUNCATE * 4].decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return s if len(s) <= _RAW_TRUNCATE else s[:_RAW_TRUNCATE] + "…"
