"""Folders of image, audio or text files: each readable file becomes one item referenced by URI + checksum.

Media bytes never enter the database; an item is the file's location, its SHA-256 and a few facts
read from its header (size, dimensions, duration), so the same picture copied twice is one item.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tasks.ingest.rows import BadRow
from tasks.ingest.wav import wav_info

__all__ = ["EXTENSIONS", "MediaBatch", "kind_of", "read_folder"]

EXTENSIONS: dict[str, frozenset[str]] = {
    "image": frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}),
    "audio": frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a"}),
    "text": frozenset({".txt", ".md"}),
}

# Header signatures for audio formats the stdlib cannot parse; a file without its signature is corrupt.
_AUDIO_MAGIC = {".mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"), ".flac": (b"fLaC",), ".ogg": (b"OggS",)}

MEDIA_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("uri", pa.string()),
        ("checksum", pa.string()),
        ("payload", pa.string()),
        ("metadata", pa.string()),
    ]
)


@dataclass
class MediaBatch:
    table: pa.Table
    bad: list[BadRow]
    bytes_read: int


def kind_of(path: Path) -> str | None:
    ext = path.suffix.lower()
    return next((k for k, exts in EXTENSIONS.items() if ext in exts), None)


def _inspect(path: Path, kind: str, data: bytes) -> dict:
    """Facts from the file header; raises ValueError when the file is not what its extension says."""
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                size, mode, fmt = im.size, im.mode, im.format
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"not a readable image: {e}") from None
        return {"width": size[0], "height": size[1], "mode": mode, "format": fmt}
    if kind == "audio":
        ext = path.suffix.lower()
        if ext == ".wav":  # the recogniser's own reader: PCM and float, plain or extensible headers
            try:
                info = wav_info(data)
            except ValueError as e:
                raise ValueError(f"not a readable WAV file: {e}") from None
            return {"sample_rate": info.sample_rate, "channels": info.channels, "duration_s": round(info.duration_s, 4)}
        magic = _AUDIO_MAGIC.get(ext)
        if magic and not data.startswith(magic):
            raise ValueError(f"missing the {ext} file signature")
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text: {e}") from None
    return {"text": text}


def _read_one(args: tuple[int, Path, Path, str, int]) -> tuple[dict | None, BadRow | None, int]:
    row, path, root, kind, max_bytes = args
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    try:
        resolved = path.resolve()
    except OSError as e:
        return None, BadRow(row, "unreadable_media", f"{rel}: {e}", rel, "file"), 0
    if not resolved.is_relative_to(root.resolve()):
        return None, BadRow(row, "outside_source_folder", f"{rel} points to {resolved}, outside {root}", rel, "file"), 0
    file_kind = kind_of(path)
    if file_kind != kind:
        allowed = ", ".join(sorted(EXTENSIONS[kind]))
        return None, BadRow(row, "unsupported_file_type", f"{rel}: a {kind} project takes {allowed}", rel, "file"), 0
    try:
        st = resolved.stat()
        if not stat.S_ISREG(st.st_mode):
            # Reading a FIFO blocks until a writer appears, which may be never.
            return None, BadRow(row, "not_a_regular_file", f"{rel} is a FIFO, socket or device, not a file", rel, "file"), 0
        size = st.st_size
        if size > max_bytes:
            return None, BadRow(row, "media_too_large", f"{rel}: {size} bytes > ingest.max_media_bytes={max_bytes}", rel, "file"), 0
        data = resolved.read_bytes()
    except OSError as e:
        return None, BadRow(row, "unreadable_media", f"{rel}: {e.strerror or e}", rel, "file"), 0
    if not data:
        return None, BadRow(row, "corrupt_media", f"{rel}: file is empty", rel, "file"), 0
    try:
        facts = _inspect(resolved, kind, data)
    except ValueError as e:
        return None, BadRow(row, "corrupt_media", f"{rel}: {e}", rel, "file"), len(data)
    text = facts.pop("text", None)
    meta = {"file": rel, "bytes": len(data), **facts}
    rec = {
        "source_row": row,
        "uri": None if kind == "text" else resolved.as_uri(),
        "checksum": hashlib.sha256(data).hexdigest(),
        "payload": text,
        "metadata": json.dumps(meta, separators=(",", ":")),
    }
    return rec, None, len(data)


def read_folder(root: Path, kind: str, max_bytes: int, batch_files: int = 2_048) -> Iterator[MediaBatch]:
    """Walk `root` in sorted order (row = position in that order), reading files on a small thread pool."""
    files = sorted(
        p
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(files), batch_files):
            chunk = files[start : start + batch_files]
            results = list(pool.map(_read_one, [(start + i + 1, p, root, kind, max_bytes) for i, p in enumerate(chunk)]))
            recs = [r for r, _, _ in results if r is not None]
            bad = [b for _, b, _ in results if b is not None]
            table = pa.Table.from_pylist(recs, schema=MEDIA_SCHEMA) if recs else MEDIA_SCHEMA.empty_table()
            yield MediaBatch(table, bad, sum(n for _, _, n in results))
