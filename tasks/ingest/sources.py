"""Resolve configured sources (paths, globs, folders, HTTP URLs) into local files with a known format."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from schemas.config import ProjectConfig, SourceConfig, SourceFormat
from tasks.errors import InputError
from tasks.http import make_client

__all__ = ["LocalSource", "resolve_source", "is_url", "detect_format"]

_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_BY_CONTENT_TYPE = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv", "application/vnd.apache.parquet": "parquet"}


@dataclass(frozen=True)
class LocalSource:
    name: str  # what items record as their source: the configured path/URL (+ file for globs)
    path: Path
    format: str


def is_url(path: str) -> bool:
    return urlparse(path).scheme in ("http", "https")


def detect_format(path: Path | str, declared: SourceFormat, content_type: str | None = None) -> str:
    if declared != SourceFormat.auto:
        return declared.value
    p = Path(urlparse(str(path)).path) if is_url(str(path)) else Path(path)
    if not is_url(str(path)) and p.is_dir():
        return "folder"
    suffixes = [s.lower() for s in p.suffixes]
    for s in reversed(suffixes):
        if s in _BY_SUFFIX:
            return _BY_SUFFIX[s]
    if content_type and content_type.split(";")[0].strip() in _BY_CONTENT_TYPE:
        return _BY_CONTENT_TYPE[content_type.split(";")[0].strip()]
    raise InputError(
        f"source {path}: cannot tell the format from its name; set format = "
        f"'jsonl' | 'csv' | 'parquet' | 'folder' on this source in annoflow.toml"
    )


def _download(url: str, cfg: ProjectConfig, declared: SourceFormat) -> LocalSource:
    """Stream the file to the state folder (memory stays flat whatever its size)."""
    target_dir = cfg.state_dir / "downloads"
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = hashlib.sha256(url.encode()).hexdigest()[:16]

    with make_client("", timeout=60.0, follow_redirects=True) as client, client.stream("GET", url) as resp:
        fmt = detect_format(url, declared, resp.headers.get("content-type"))
        tmp = target_dir / f"{stem}.{fmt}.part"
        with open(tmp, "wb") as f:
            for chunk in resp.iter_bytes(1 << 20):
                f.write(chunk)
        final = tmp.with_suffix("")
        tmp.replace(final)
        return LocalSource(url, final, fmt)


def resolve_source(src: SourceConfig, cfg: ProjectConfig) -> list[LocalSource]:
    """Files for one configured source; a path or glob matching nothing is a user error."""
    if is_url(src.path):
        return [_download(src.path, cfg, src.format)]
    full = cfg.path(src.path)
    name = src.name or src.path
    if any(ch in src.path for ch in "*?["):
        matches = sorted(Path(m) for m in glob.glob(str(full), recursive=True) if Path(m).is_file())
        if not matches:
            raise InputError(f"source {src.path!r}: the pattern matched no files under {cfg.root}")
        return [LocalSource(str(m.relative_to(cfg.root)) if m.is_relative_to(cfg.root) else str(m), m, detect_format(m, src.format)) for m in matches]
    if not full.exists():
        raise InputError(f"source {src.path!r}: {full} does not exist (paths are relative to {cfg.root})")
    return [LocalSource(name, full, detect_format(full, src.format))]
