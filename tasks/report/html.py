"""The quality report as one self-contained HTML file: the dashboard page with Chart.js, its views and
the data inlined, so it opens from disk, from an export version's folder or from an e-mail without
any request (the app's page loads the same two scripts by URL and fetches the data instead).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from annotation_app import web
from tasks.report.data import dashboard_data

__all__ = ["VERSION_REPORT", "WEB_DIR", "render_report", "report_for_db", "write_report", "write_version_report"]

WEB_DIR = Path(web.__file__).parent
_SCRIPT = re.compile(r'<script src="[^"]*" data-inline="([^"]+)"></script>')
_DATA = '<script id="dashboard-data" type="application/json"></script>'
VERSION_REPORT = "report/quality.html"  # inside an export version's folder


def _inline_js(name: str) -> str:
    text = (WEB_DIR / name).read_text(encoding="utf-8")
    # "</script" inside a script element would end it; "<\/" is the same string to JavaScript.
    return "<script>\n" + text.replace("</script", "<\\/script") + "\n</script>"


def render_report(data: dict[str, Any]) -> str:
    """The report's HTML for `dashboard_data` output; JSON is escaped so no value can close the element."""
    page = (WEB_DIR / "dashboard.html").read_text(encoding="utf-8")
    page = _SCRIPT.sub(lambda m: _inline_js(m.group(1)), page)
    payload = json.dumps(data, separators=(",", ":"), default=str).replace("<", "\\u003c")
    title = f"annoflow quality report — {data.get('project') or 'project'}"
    page = page.replace("<title>annoflow — quality dashboard</title>", f"<title>{_escape(title)}</title>")
    return page.replace(_DATA, _DATA.replace("></script>", f">{payload}</script>"))


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_report(con: duckdb.DuckDBPyConnection, out: Path | str, *, project: str | None = None,
                 pending_version: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute the views in `con` and write the report to `out` (atomically: a reader never sees half a file).

    Returns the data's headline numbers (what an artifact or a CLI line shows).
    """
    data = dashboard_data(con, project=project, pending_version=pending_version)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render_report(data), encoding="utf-8")
    os.replace(tmp, out)
    return data["headline"]


def report_for_db(db_path: Path | str, out: Path | str, *, wait_seconds: float = 60.0) -> dict[str, Any]:
    """`write_report` over a project's state database, opened read-only for as long as it takes."""
    from tasks.store import open_store

    with open_store(db_path, read_only=True, wait_seconds=wait_seconds) as con:
        return write_report(con, out)


def write_version_report(cfg, version_dir: Path, label_distribution: dict[str, int]) -> dict[str, Any]:
    """The report attached to an export version being published (written into its folder before the
    manifest, which lists it): the version's own label distribution is its last drift column.

    Returns the manifest's `quality_report` entry: the file, relative to the version, and the headline.
    """
    from tasks.store import project_store

    with project_store(cfg) as con:
        head = write_report(con, Path(version_dir) / VERSION_REPORT, project=cfg.name,
                            pending_version={"version": "this version", "label_distribution": label_distribution})
    return {"file": VERSION_REPORT, "headline": head}
