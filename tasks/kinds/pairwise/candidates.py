"""A comparison's candidates that are media: an image or audio file named instead of text.

A candidate is media when it is one token (no whitespace) ending in an image or audio extension (the ones
ingest's media folders read), either a path or a `file://` / `http(s)://` URI; anything else is text. The
app's side-by-side view (`widget.js`, `mediaOf`, the same rule) then shows an image or an audio player,
Label Studio an `<img>` / `<audio>` in the candidate's pane.

At ingest a local media candidate is resolved (a relative path against the source file's folder) and
stored as an absolute `file://` URI, so the app (through its media roots) and Label Studio find it after
ingest; a file that is not there refuses the row, naming the row and the field (`a` or `b`).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc

from tasks.ingest.media import EXTENSIONS

__all__ = ["MEDIA_PATTERN", "media_kind", "resolve_media"]

_EXT = "|".join(sorted(e.lstrip(".") for e in EXTENSIONS["image"] | EXTENSIONS["audio"]))
MEDIA_PATTERN = rf"(?i)^(?:(?:https?|file)://\S+|[^\s:]+)\.(?:{_EXT})(?:[?#]\S*)?$"
"""RE2/Python pattern of a media candidate (the widget's `mediaOf` is the same rule)."""
_MEDIA = re.compile(MEDIA_PATTERN)


def media_kind(text: object) -> str | None:
    """"image" or "audio" when the candidate names a media file, else None (text)."""
    if not isinstance(text, str) or not _MEDIA.match(text.strip()):
        return None
    suffix = Path(urlparse(text.strip()).path).suffix.lower()
    return "image" if suffix in EXTENSIONS["image"] else "audio"


def _local(text: str, base: Path | None) -> Path | None:
    """The file a local media candidate names (None for a web address)."""
    parsed = urlparse(text)
    if parsed.scheme in ("http", "https"):
        return None
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(text)
    return (path if path.is_absolute() or base is None else base / path).resolve()


def resolve_media(candidates: pa.Array, base: Path | None) -> tuple[pa.Array, pa.Array]:
    """(candidates with local media as absolute `file://` URIs, the missing file's path or null per row).

    Only the media candidates are looked at one by one (a file check each); text passes through as it is."""
    values = candidates.cast(pa.string())
    is_media = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(values), MEDIA_PATTERN), False)
    out = values.to_pylist()
    missing: list[str | None] = [None] * len(out)
    for k in pc.indices_nonzero(is_media).to_pylist():
        path = _local(out[k].strip(), base)
        if path is None:
            continue
        if not path.is_file():
            missing[k] = str(path)
        else:
            out[k] = "file://" + quote(path.as_posix())
    return pa.array(out, pa.string()), pa.array(missing, pa.string())
