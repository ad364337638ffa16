"""RTTM (Rich Transcription Time Marked, NIST): the speaker-turn format diarisation tools read and write.

One turn per line, ten fields separated by spaces:
`SPEAKER <file-id> <channel> <onset s> <duration s> <NA> <NA> <speaker> <NA> <NA>`; other line types
(SPKR-INFO, LEXEME, ...) and comments (`;;`) carry no turns and are skipped. annoflow's file id is the
clip's path inside its source folder as ingest recorded it (`file` in the item's metadata; spaces,
which RTTM cannot hold, written as `_`), so an exported RTTM loads back as gold and a team's own RTTM
matches when it names clips the same way.

Reading: every turn of a file id becomes one region of that clip's answer (the speaker is the label);
a line that cannot be read (too few fields, an onset or duration that is not a number, a duration that
is not positive) is refused, naming its line, and its clip gives no answer at all, since the clip's
answer without that turn would be wrong gold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from tasks.errors import InputError

from ..protocol import AnswerFile
from .intervals import canonical

__all__ = ["KEY_FIELD", "looks_like_rttm", "read_rttm", "rttm_lines_sql"]

KEY_FIELD = "file"
"""The item metadata key an RTTM file id is matched against (the clip's path inside its source folder)."""

_ROWS = pa.schema([("source_row", pa.int64()), ("where", pa.string()), ("key", pa.string()), ("answer", pa.string())])
_PROBLEMS = pa.schema([("source_row", pa.int64()), ("where", pa.string()), ("field", pa.string()),
                       ("reason", pa.string()), ("detail", pa.string()), ("raw", pa.string())])


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                yield n, line.rstrip("\n")
    except UnicodeDecodeError as e:
        raise InputError(f"gold file {path}: not UTF-8 text ({e.reason} at byte {e.start}); RTTM is plain text") from None
    except OSError as e:
        raise InputError(f"gold file {path}: cannot be read ({e.strerror or e})") from None


def looks_like_rttm(path: Path) -> bool:
    """Whether the file's first meaningful line is an RTTM turn (`SPEAKER` and ten fields)."""
    if path.suffix.lower() == ".rttm":
        return True
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip() and not line.startswith(";;"):
                    fields = line.split()
                    return fields[0] == "SPEAKER" and len(fields) >= 9
    except (OSError, UnicodeDecodeError):
        return False
    return False


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def read_rttm(path: Path) -> AnswerFile:
    """The RTTM file as one answer per file id (see the module docstring); turns sorted as answers are."""
    turns: dict[str, list[dict]] = {}
    first_row: dict[str, int] = {}
    refused: dict[str, int] = {}
    problems: list[dict] = []
    for n, line in _lines(path):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        where = f"line {n}"
        bad = None
        if len(fields) < 8:
            bad = ("line", "missing_field", (f"{len(fields)} fields; an RTTM turn has ten: SPEAKER <file> <channel> "
                                             "<onset> <duration> <NA> <NA> <speaker> <NA> <NA>"))
        else:
            onset, dur = _number(fields[3]), _number(fields[4])
            if onset is None:
                bad = ("onset", "not_a_number", f"onset {fields[3]!r} is not a number of seconds")
            elif dur is None:
                bad = ("duration", "not_a_number", f"duration {fields[4]!r} is not a number of seconds")
            elif dur <= 0:
                bad = ("duration", "empty_or_reversed", f"duration {fields[4]} is not positive")
        key = fields[1] if len(fields) > 1 else ""
        first_row.setdefault(key, n)
        if bad is not None:
            field, reason, detail = bad
            problems.append({"source_row": n, "where": where, "field": field, "reason": reason,
                             "detail": f"file id {key!r}: {detail}", "raw": line[:200]})
            refused.setdefault(key, n)
            continue
        turns.setdefault(key, []).append({"start_s": onset, "end_s": onset + dur, "label": fields[7]})
    for key, n in refused.items():
        if key in turns:
            problems.append({"source_row": n, "where": f"file id {key!r}", "field": "file", "reason": "refused_part",
                             "detail": f"file id {key!r} is left out: its turn on line {n} was refused, and its "
                                       "other turns alone would be wrong gold", "raw": None})
    keys = sorted(k for k in turns if k not in refused)
    rows = pa.table({"source_row": [first_row[k] for k in keys], "where": [f"file id {json.dumps(k)}" for k in keys],
                     "key": keys, "answer": [canonical(turns[k]) for k in keys]}, schema=_ROWS)
    return AnswerFile(rows=rows, key_field=KEY_FIELD, problems=pa.Table.from_pylist(problems, schema=_PROBLEMS))


def rttm_lines_sql(src: str) -> str:
    """One RTTM line per exported region of `src` (export rows with `file`, `item_id` and `segments`), in
    item and time order: `SELECT line`."""
    file_id = "regexp_replace(coalesce(file, item_id), '\\s', '_', 'g')"
    return (f"SELECT 'SPEAKER ' || {file_id} || ' 1 ' || printf('%.3f', r.start_s) || ' ' || printf('%.3f', r.end_s - r.start_s)"
            f" || ' <NA> <NA> ' || regexp_replace(r.label, '\\s', '_', 'g') || ' <NA> <NA>' AS line"
            f" FROM (SELECT item_id, file, unnest(segments) AS r FROM {src}) ORDER BY item_id, r.start_s, r.end_s, r.label")
