"""Resolve configured sources (paths, globs, folders, HTTP URLs) into local files with a known format."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from schemas.config import ProjectConfig, SourceConfig, SourceFormat
from tasks.errors import InputError, ServiceError
from tasks.http import make_client

__all__ = ["LocalSource", "detect_format", "is_url", "resolve_source"]

_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet",
              ".pq": "parquet", ".conll": "conll"}
_BY_CONTENT_TYPE = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "application/json": "json", "text/csv": "csv",
                    "application/vnd.apache.parquet": "parquet"}


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
        f"'jsonl' | 'json' | 'csv' | 'parquet' | 'conll' | 'folder' on this source in annoflow.toml"
    )


def _download(url: str, cfg: ProjectConfig, src: SourceConfig) -> LocalSource:
    """Stream the file to the state folder (memory stays flat whatever its size).

    A server that stops sending is given `timeout_seconds` per read and one more attempt, then the
    source fails for good: waiting longer rarely helps, and the user has to hear about it.
    """
    target_dir = cfg.state_dir / "downloads"
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = hashlib.sha256(url.encode()).hexdigest()[:16]
    try:
        with make_client("", timeout=src.timeout_seconds, retries=1, follow_redirects=True) as client, \
                client.stream("GET", url) as resp:
            ctype = resp.headers.get("content-type", "")
            if ctype.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
                raise InputError(f"source {url}: the server sent an HTML page ({ctype}), not data; check the address "
                                 "(a login or error page?) or download the file and give its path")
            fmt = detect_format(url, src.format, ctype)
            tmp = target_dir / f"{stem}.{fmt}.part"
            with open(tmp, "wb") as f:
                f.writelines(resp.iter_bytes(1 << 20))
    except (ServiceError, httpx.TimeoutException) as e:
        if isinstance(e, httpx.TimeoutException) or isinstance(e.__cause__, httpx.TimeoutException):
            raise InputError(f"source {url}: the server stopped answering for {src.timeout_seconds:g} s; check it, "
                             "or raise timeout_seconds on this source") from None
        raise
    except httpx.TransportError as e:
        raise ServiceError(f"source {url}: the connection broke during the download ({e!r})") from e
    final = tmp.with_suffix("")
    tmp.replace(final)
    return LocalSource(url, final, fmt)


def resolve_source(src: SourceConfig, cfg: ProjectConfig) -> list[LocalSource]:
    """Files for one configured source; a path or glob matching nothing is a user error."""
    if is_url(src.path):
        return [_download(src.path, cfg, src)]
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
