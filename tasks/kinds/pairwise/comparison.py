"""The item of a pairwise project: a prompt and two candidates from named systems, as the item's payload.

An item's payload is JSON text (the whole comparison, so two comparisons that share a prompt are two
items, since ingest derives the item id from the payload):

    {"prompt": "...", "a": "...", "b": "...", "system_a": "gpt-x", "system_b": "llama-y"}

A candidate is text (rendered as Markdown by the app) or a media URI. `a` and `b` are the item's own
order; the order shown to an annotator is drawn per assignment (`swapped`). A comparison whose
candidates are missing or identical cannot be judged: `comparison_problem` says why, naming the field.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FIELDS", "PROBLEMS_SQL", "comparison_problem", "parse_comparison"]

FIELDS = ("prompt", "a", "b", "system_a", "system_b")


def parse_comparison(payload: str | None) -> dict[str, Any] | None:
    """The payload as a dict, None when it is not a JSON object."""
    if not payload:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def comparison_problem(payload: str | None) -> tuple[str, str] | None:
    """(reason, readable detail) when the payload cannot be judged; None when it can. Same rules as `PROBLEMS_SQL`."""
    c = parse_comparison(payload)
    if c is None:
        return "not_a_comparison", 'the item\'s payload is not a JSON object {"prompt", "a", "b", "system_a", "system_b"}'
    for key in ("a", "b"):
        v = c.get(key)
        if not isinstance(v, str) or not v.strip():
            return "candidate_missing", f"candidate {key!r} is missing or empty"
    if c["a"].strip() == c["b"].strip():
        return "identical_candidates", "candidates 'a' and 'b' are identical: there is nothing to compare"
    for key in ("system_a", "system_b"):
        if not isinstance(c.get(key), str) or not c[key].strip():
            return "system_missing", f"{key!r} (the system that wrote the candidate) is missing or empty"
    return None


PROBLEMS_SQL = """
CASE WHEN NOT coalesce(json_valid({p}), false) OR json_type({p}::JSON) <> 'OBJECT' THEN 'not_a_comparison'
     WHEN coalesce(trim({p}::JSON ->> '$.a'), '') = '' OR json_type({p}::JSON, '$.a') <> 'VARCHAR' THEN 'candidate_missing'
     WHEN coalesce(trim({p}::JSON ->> '$.b'), '') = '' OR json_type({p}::JSON, '$.b') <> 'VARCHAR' THEN 'candidate_missing'
     WHEN trim({p}::JSON ->> '$.a') = trim({p}::JSON ->> '$.b') THEN 'identical_candidates'
     WHEN coalesce(trim({p}::JSON ->> '$.system_a'), '') = '' OR coalesce(trim({p}::JSON ->> '$.system_b'), '') = ''
         THEN 'system_missing'
END"""
"""A DuckDB expression over a payload column `{p}`: the reason code of `comparison_problem`, NULL when judgeable."""
