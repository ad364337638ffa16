"""Immutable dataset versions on disk: layout, manifest, content hash, the atomic `latest` pointer, loading.

    <export_dir>/
      latest                    the published version's name; replaced atomically (os.replace)
      v0001/                    one immutable version (never modified after it appears)
        data/**.parquet         the Parquet of record (zstd): part-NNN.parquet, or <split>/part-NNN.parquet
        formats/                JSONL, CSV, Label Studio JSON ... as configured
        report/validation.html  the release gate's result (and validation.json)
        manifest.json           written last, before the directory is renamed into place
      .tmp-<pid>-<id>/          a version being written (invisible; removed by the next run)
      .rejected/<stamp>/        candidates that failed the gate, kept for their report only

A version appears by one `os.rename` of a complete directory, so readers never see a partial one.
The state database's `export_versions` table mirrors the manifests; the files are the truth.
Every reader (pyarrow, pandas, polars, DuckDB, Hugging Face `datasets`) reads the Parquet files directly:
`pd.read_parquet(dir/"data")`, `pl.scan_parquet(f"{dir}/data/**/*.parquet")`,
`duckdb.sql(f"FROM '{dir}/data/**/*.parquet'")`,
`datasets.load_dataset("parquet", data_files={"train": f"{dir}/data/train/*.parquet", ...})`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from schemas.config import ProjectConfig
from tasks.errors import InputError
from tasks.processes import pid_alive

__all__ = [
    "LATEST",
    "MANIFEST",
    "VERSION_RE",
    "cleanup_temp_dirs",
    "code_version",
    "content_hash",
    "data_files",
    "list_versions",
    "load_version",
    "new_temp_dir",
    "next_version",
    "publish_dir",
    "read_latest",
    "read_manifest",
    "resolve_version",
    "set_latest",
    "sha256_file",
    "version_dir",
    "version_name",
]

LATEST = "latest"
MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v(\d{4,})$")


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_hash(data_hashes: dict[str, str]) -> str:
    """Hash of the Parquet of record: sha256 over the sorted `name:sha256` lines of `data/` files.

    Other formats are derived from these files, and timestamps live only in the manifest, so the
    same labels give the same content hash whatever the time, run or format list."""
    lines = "".join(f"{name}:{h}\n" for name, h in sorted(data_hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """`git describe` of the checkout the code runs from, else the installed package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "annoflow " + version("annoflow")
    except PackageNotFoundError:
        return "unknown"


def version_name(n: int) -> str:
    return f"v{n:04d}"


def _numbers(export_dir: Path) -> list[int]:
    if not export_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in export_dir.iterdir() if (m := VERSION_RE.match(p.name)) and p.is_dir())


def next_version(export_dir: Path, known: list[str] = ()) -> str:
    """One more than the highest version on disk or recorded (a number is never reused)."""
    nums = _numbers(export_dir) + [int(m.group(1)) for v in known if (m := VERSION_RE.match(v))]
    return version_name(max(nums, default=0) + 1)


def version_dir(cfg: ProjectConfig, version: str) -> Path:
    return cfg.export_dir / version


def read_latest(export_dir: Path) -> str | None:
    p = export_dir / LATEST
    if not p.is_file():
        return None
    name = p.read_text(encoding="utf-8").strip()
    return name or None


def set_latest(export_dir: Path, version: str) -> None:
    """Point `latest` at `version` atomically: write a temp file, fsync, then os.replace over the pointer."""
    tmp = export_dir / f".{LATEST}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, export_dir / LATEST)


def resolve_version(cfg: ProjectConfig, version: str | None) -> str:
    """A version name, `latest` (or None) for the published one; raises InputError naming what exists."""
    if version in (None, "", LATEST):
        v = read_latest(cfg.export_dir)
        if v is None:
            raise InputError(f"no published version in {cfg.export_dir}: run `annoflow export` first")
        return v
    if re.fullmatch(r"\d+", version):
        version = version_name(int(version))
    if not (version_dir(cfg, version) / MANIFEST).is_file():
        have = [m["version"] for m in list_versions(cfg)]
        raise InputError(f"no version {version!r} in {cfg.export_dir} (have: {', '.join(have) or 'none'})")
    return version


def read_manifest(cfg: ProjectConfig, version: str | None = None) -> dict[str, Any]:
    v = resolve_version(cfg, version)
    return json.loads((version_dir(cfg, v) / MANIFEST).read_text(encoding="utf-8"))


def list_versions(cfg: ProjectConfig) -> list[dict[str, Any]]:
    """Manifests of every published version, oldest first (directories without a manifest are not versions)."""
    out = []
    latest = read_latest(cfg.export_dir)
    for n in _numbers(cfg.export_dir):
        p = cfg.export_dir / version_name(n) / MANIFEST
        if p.is_file():
            m = json.loads(p.read_text(encoding="utf-8"))
            m["is_latest"] = m["version"] == latest
            out.append(m)
    return out


def data_files(cfg: ProjectConfig, version: str | None = None) -> list[Path]:
    """The Parquet files of record of a version, in name order."""
    v = resolve_version(cfg, version)
    m = read_manifest(cfg, v)
    return [version_dir(cfg, v) / f for f in sorted(m["files"]) if f.startswith("data/")]


def load_version(cfg: ProjectConfig, version: str | None = None, split: str | None = None) -> ds.Dataset:
    """The version as a `pyarrow.dataset.Dataset` (lazy; `.to_table()`, `.to_batches()`, filters pushed down).

    `split` restricts to one split's file when the project has splits. pandas, polars, DuckDB and
    Hugging Face `datasets` can read the same files directly (see the module docstring)."""
    files = data_files(cfg, version)
    if split is not None:
        files = [f for f in files if f.parent.name == split]
        if not files:
            raise InputError(f"version {version or LATEST} has no split {split!r}")
    return ds.dataset([str(f) for f in files], format="parquet")


def new_temp_dir(export_dir: Path) -> Path:
    """A hidden working directory for a candidate version, on the same filesystem (so rename is atomic)."""
    export_dir.mkdir(parents=True, exist_ok=True)
    p = export_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    p.mkdir()
    return p


def publish_dir(tmp: Path, final: Path) -> None:
    """Make a complete candidate visible in one step. Fails (never merges) if the version already exists."""
    if final.exists():
        raise InputError(f"{final} already exists: another export published it concurrently; run again")
    os.rename(tmp, final)
    _fsync_dir(final.parent)


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cleanup_temp_dirs(export_dir: Path) -> list[str]:
    """Remove candidates left by crashed exports (their process is gone); returns the names removed."""
    removed = []
    if not export_dir.is_dir():
        return removed
    for p in export_dir.glob(".tmp-*"):
        m = re.match(r"^\.tmp-(\d+)-", p.name)
        if p.is_dir() and m and (int(m.group(1)) == os.getpid() or not pid_alive(int(m.group(1)))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    for p in export_dir.glob(f".{LATEST}.*"):
        m = re.match(rf"^\.{LATEST}\.(\d+)\.", p.name)
        if m and not pid_alive(int(m.group(1))):
            p.unlink(missing_ok=True)
    return removed
