"""Export stage: candidate files from the state database, the release gate, then an atomic publish.

    1. COPY the resolved labels (rows.py) to zstd Parquet inside a hidden temp directory
    2. exact facts in DuckDB + the Great Expectations gate (gate.py); other formats (writers.py)
    3. unchanged content (same data hash and files as `latest`): drop the candidate, report it
    4. gate failed: keep only the report under .rejected/, publish nothing, raise GateFailedError
    5. under the database's writer lock (one export at a time): if another export published meanwhile,
       start over against it (or report `unchanged`); else number the version, write manifest.json
       last, rename the directory to its version name, record it, move `latest`

The label shift is measured against the newest representative version (reference.py). A crash before step 5's rename leaves only a hidden temp directory (removed by the next run); a crash
after it leaves a complete, validated version that the next run records and points `latest` at.
`export` is a plain function; `export_task` is its Prefect shell.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from prefect import task

from schemas.config import OnUnchanged, ProjectConfig
from schemas.tables import export_rows_contract
from tasks.errors import ConfigError, ContractError, StoreLockedError, TerminalError
from tasks.export import versions as V
from tasks.export.gate import (
    GateResult,
    collect_facts,
    render_html,
    rows_frame,
    run_gate,
    shift_checks,
)
from tasks.export.lineage import write_comment_lineage
from tasks.export.reference import shift_reference
from tasks.export.rows import needs_vote_sources
from tasks.export.writers import (
    DATA_DIR,
    parquet_list_sql,
    write_parquet_of_record,
    writers_for,
)
from tasks.kinds import kind_of
from tasks.progress import track
from tasks.report.html import write_version_report
from tasks.retries import STAGE_TASK
from tasks.store import project_store, record_stage_run, transaction

__all__ = ["ExportResult", "GateFailedError", "export", "export_task", "record_version", "recover"]

_STEPS = 4
log = logging.getLogger("annoflow.export")


class GateFailedError(TerminalError):
    """The candidate failed the release gate; nothing was published. `result` has every check."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class ExportResult:
    status: str  # published | unchanged | rejected
    version: str | None
    parent: str | None
    path: str | None
    content_hash: str | None
    n_rows: int
    report: str | None
    gate: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _flow_run_id() -> str | None:
    try:
        from prefect.runtime import flow_run

        rid = flow_run.get_id()
        return str(rid) if rid else None
    except (ImportError, RuntimeError, AttributeError):  # not inside a flow run
        return None


def record_version(con, manifest: dict[str, Any], path: Path) -> None:
    """Mirror a published manifest into `export_versions` (idempotent)."""
    with transaction(con):
        con.execute(
            "INSERT INTO export_versions (version, parent, path, content_hash, n_rows, manifest, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
            [manifest["version"], manifest["parent"], str(path), manifest["content_hash"], manifest["row_counts"]["total"],
             json.dumps(manifest), manifest["created_at"]],
        )


def recover(cfg: ProjectConfig, con) -> dict[str, Any]:
    """Finish what a crashed export left: drop hidden temp dirs; record complete versions the database lacks
    and point `latest` at the newest complete version if it is behind (roll forward: those passed the gate)."""
    removed = V.cleanup_temp_dirs(cfg.export_dir)
    known = {r[0] for r in con.execute("SELECT version FROM export_versions").fetchall()}
    recorded = []
    manifests = V.list_versions(cfg)
    for m in manifests:
        if m["version"] not in known:
            m = {k: v for k, v in m.items() if k != "is_latest"}
            record_version(con, m, V.version_dir(cfg, m["version"]))
            recorded.append(m["version"])
    latest = V.read_latest(cfg.export_dir)
    moved = None
    if manifests and manifests[-1]["version"] != latest:
        newest = manifests[-1]["version"]
        if latest is None or int(newest[1:]) > int(latest[1:]):
            V.set_latest(cfg.export_dir, newest)
            moved = newest
    return {"removed_temp_dirs": removed, "recorded": recorded, "latest_moved_to": moved}


def _set_duckdb_limits(con, cfg: ProjectConfig) -> None:
    spill = cfg.state_dir / "tmp"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{cfg.export.memory_limit}'")
    try:
        con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
    except duckdb.Error as e:  # already in use by this connection: keep DuckDB's default spill folder
        log.debug("temp_directory not changed: %s", e)


def _file_table(root: Path, files: list[Path]) -> dict[str, dict[str, Any]]:
    return {str(f.relative_to(root)): {"sha256": V.sha256_file(f), "bytes": f.stat().st_size} for f in files}


def _check_structure(empty: pa.Table, cfg: ProjectConfig) -> None:
    """The candidate's columns and types against the ExportRows contract and the kind's answer type
    (content is the gate's job, so that content problems are reported as failed expectations with
    examples, not as a contract error)."""
    import pandas as pd
    import pandera.errors

    facet = kind_of(cfg).export
    want = facet.arrow_type(cfg)
    got = empty.schema.field(facet.column).type if facet.column in empty.schema.names else None
    if got != want:
        raise ContractError(f"export rows carry {facet.column!r} as {got} where task_kind {kind_of(cfg).name!r}"
                            f" exports {want} (a bug in the exporter)")
    df = empty.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}.get)
    try:
        export_rows_contract(facet.column).validate(df, lazy=True)
    except pandera.errors.SchemaErrors as e:
        raise ContractError(f"export rows do not match the ExportRows contract (a bug in the exporter):\n"
                            f"{e.failure_cases.head(10).to_string(index=False)}", failures=e.failure_cases) from None


def _reject(cfg: ProjectConfig, tmp: Path, gate: GateResult) -> Path:
    """Keep the failed candidate's report (not its data) under .rejected/ and remove the candidate."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + tmp.name[-6:]
    dest = cfg.export_dir / ".rejected" / stamp
    dest.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp / "report"), str(dest / "report"))
    shutil.rmtree(tmp, ignore_errors=True)
    return dest / "report" / "validation.html"


def export(cfg: ProjectConfig, *, force: bool = False, accept_shift: str | None = None) -> ExportResult:
    """Export the resolved labels as a new version if they pass the gate (see the module docstring).

    Publishing is serialised: the version number, the parent and the unchanged test are decided while
    this process holds the database's writer lock, which it keeps until the version is recorded and
    `latest` moved. If another export published while this one was validating, this one starts over
    against that version (identical content is then `unchanged` under `on_unchanged = "skip"`).

    Args:
        force: publish even if nothing changed since `latest` (same content hash, new version).
        accept_shift: the user's reason for accepting a label shift beyond `validation.max_label_shift`;
            recorded in the manifest (`shift_accepted`).
    Raises:
        GateFailedError: the gate failed; its message lists the failed expectations with example rows.
    """
    if accept_shift is not None and not accept_shift.strip():
        raise ConfigError("--accept-shift needs a reason (it is recorded in the version's manifest), e.g. "
                          "--accept-shift \"new source added: more ham expected\"")
    for _ in range(_MAX_RESTARTS):
        try:
            return _export_once(cfg, force=force, accept_shift=accept_shift)
        except _ParentMoved as moved:
            log.info("%s was published while this export was validating; validating again against it", moved.version)
    raise StoreLockedError(f"other exports kept publishing while this one validated ({_MAX_RESTARTS} attempts): "
                           "run `annoflow export` again when they are done")


class _ParentMoved(Exception):
    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


_MAX_RESTARTS = 3


def _unchanged(parent_manifest: dict | None, chash: str, cfg: ProjectConfig, force: bool) -> bool:
    return bool(
        parent_manifest
        and not force
        and cfg.export.on_unchanged == OnUnchanged.skip
        and parent_manifest["content_hash"] == chash
        and _format_names(parent_manifest) == _format_names_cfg(cfg)
    )


def _export_once(cfg: ProjectConfig, *, force: bool, accept_shift: str | None) -> ExportResult:
    started = time.time()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    def unchanged(version: str) -> ExportResult:
        return ExportResult("unchanged", version, version, str(V.version_dir(cfg, version)), chash, n_resolved, None,
                            seconds=round(time.time() - started, 3), timings=timings, message=f"no changes since {version}")

    export_dir = cfg.export_dir
    export_dir.mkdir(parents=True, exist_ok=True)
    with project_store(cfg) as con:
        recover(cfg, con)
        parent = V.read_latest(export_dir)
        parent_manifest = V.read_manifest(cfg, parent) if parent else None
        _set_duckdb_limits(con, cfg)
        n_resolved = con.execute("SELECT count(*) FROM labels WHERE decision = 'resolved'").fetchone()[0]
        tmp = V.new_temp_dir(export_dir)
        try:
            with track(f"export {n_resolved:,} labels", n_resolved) as rows_bar:
                files = write_parquet_of_record(
                    con, cfg, tmp, n_rows=n_resolved, vote_sources=needs_vote_sources(con), on_part=rows_bar.advance
                )
            lap("write_parquet")
            lineage = write_comment_lineage(con, files, tmp)
            chash = V.content_hash({k: v["sha256"] for k, v in _file_table(tmp, files).items()})
            lap("hash")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if _unchanged(parent_manifest, chash, cfg, force):
        shutil.rmtree(tmp, ignore_errors=True)
        return unchanged(parent)
    reference, passed_over = shift_reference(cfg, parent_manifest)
    with track("release gate", _STEPS) as bar:
        with project_store(cfg) as con:
            _set_duckdb_limits(con, cfg)
            try:
                _check_structure(con.sql(f"SELECT * FROM {parquet_list_sql(files)} LIMIT 0").to_arrow_table(), cfg)
                facts = collect_facts(con, files, cfg, parent_manifest, reference, passed_over)
                frame, mode = rows_frame(con, files, cfg, facts)
                lap("facts")
                bar.advance(1)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        try:
            other_files: list[Path] = list(lineage)
            for _name, writer in writers_for(cfg):
                other_files += writer(files, tmp, cfg)
            lap("formats")
            bar.advance(1)
            gate = run_gate(frame, mode, facts, cfg, accept_shift)
            del frame
            report_dir = tmp / "report"
            report_dir.mkdir()
            title = f"{cfg.name} export candidate (parent {parent or 'none'})"
            (report_dir / "validation.html").write_text(render_html(gate, title), encoding="utf-8")
            (report_dir / "validation.json").write_text(gate.to_json(), encoding="utf-8")
            lap("gate")
            bar.advance(1)
            if not gate.success:
                report = _reject(cfg, tmp, gate)
                _record_run(cfg, "failed", {"status": "rejected", "failed": [c.name for c in gate.failed]}, started)
                res = ExportResult("rejected", None, parent, None, chash, facts["n_rows"], str(report),
                                   gate=gate.summary(), seconds=round(time.time() - started, 3), timings=timings)
                res.message = (
                    f"release gate failed, nothing published ({len(gate.failed)} expectation(s)):\n"
                    f"{gate.failure_message()}\nreport: {report}"
                    + (_ACCEPT_HINT if any(c.name in shift_checks(gate.facts) for c in gate.failed) else "")
                )
                raise GateFailedError(res.message, res.as_dict())
            quality = write_version_report(cfg, tmp, facts["label_distribution"])
            lap("quality_report")
            manifest = _manifest(cfg, facts, gate, tmp, files, other_files, chash, _acceptance(gate, accept_shift), quality)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            with project_store(cfg) as con:  # the writer lock: one export at a time from here to `latest`
                now_latest = V.read_latest(export_dir)
                if now_latest != parent:
                    if now_latest and _unchanged(V.read_manifest(cfg, now_latest), chash, cfg, force):
                        shutil.rmtree(tmp, ignore_errors=True)
                        return unchanged(now_latest)
                    raise _ParentMoved(now_latest or "no version")
                manifest, final = _publish_locked(con, cfg, tmp, parent, manifest)
                version = manifest["version"]
                lap("publish")
                record_stage_run(con, "export", "completed", {"version": version, "rows": facts["n_rows"], "timings": timings,
                                                             "shift_accepted": manifest.get("shift_accepted")}, started, cfg=cfg)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        bar.advance(1)
    return ExportResult("published", version, parent, str(final), chash, facts["n_rows"],
                        str(final / "report" / "validation.html"), gate=gate.summary(), manifest=manifest,
                        seconds=round(time.time() - started, 3), timings=timings)


def _publish_locked(con, cfg: ProjectConfig, tmp: Path, parent: str | None, body: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Number the version, write its manifest last, rename it into place, record it, move `latest`.

    Called only while `con` holds the writer lock, so a number and a parent are never handed out twice."""
    known = [r[0] for r in con.execute("SELECT version FROM export_versions").fetchall()]
    version = V.next_version(cfg.export_dir, known)
    manifest = {"version": version, "parent": parent, "created_at": datetime.now(UTC).isoformat(), **body}
    (tmp / V.MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    final = V.version_dir(cfg, version)
    V.publish_dir(tmp, final)
    record_version(con, manifest, final)
    V.set_latest(cfg.export_dir, version)
    return manifest, final


_ACCEPT_HINT = ("\nif this label shift is expected, publish it with `annoflow export --accept-shift \"why\"` "
                "(the reason is recorded in the version's manifest)")


def _acceptance(gate: GateResult, reason: str | None) -> dict[str, Any] | None:
    """The record of an accepted label shift (None when no shift needed accepting)."""
    accepted = [c for c in gate.checks if c.name in shift_checks(gate.facts) and c.note.startswith("accepted: ")]
    if not reason or not accepted:
        return None
    c = accepted[0]
    out = {"reason": reason.strip(), "observed": c.observed, "threshold": c.threshold,
           "reference": gate.facts.get("shift_reference"), "by": _user(), "at": datetime.now(UTC).isoformat()}
    if [x.name for x in accepted] != ["max_label_shift"]:  # a kind's shift: say which checks were accepted
        out["checks"] = {x.name: {"observed": x.observed, "threshold": x.threshold} for x in accepted}
    return out


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        return "unknown"


def _format_names(manifest: dict) -> list[str]:
    return sorted(manifest.get("formats", []))


def _format_names_cfg(cfg: ProjectConfig) -> list[str]:
    return sorted({"parquet"} | {name for name, _ in writers_for(cfg)})


def _record_run(cfg: ProjectConfig, status: str, stats: dict, started: float) -> None:
    with project_store(cfg) as con:
        record_stage_run(con, "export", status, stats, started, cfg=cfg)


def _manifest(cfg, facts, gate: GateResult, root: Path, files, other_files, chash,
              shift_accepted: dict | None, quality: dict[str, Any]) -> dict[str, Any]:
    """Everything but `version`, `parent` and `created_at`, which are set under the writer lock."""
    counts: dict[str, Any] = {"total": facts["n_rows"]}
    if cfg.export.splits:
        import pyarrow.parquet as pq

        by_split: dict[str, int] = {}
        for f in files:
            by_split[f.parent.name] = by_split.get(f.parent.name, 0) + pq.ParquetFile(f).metadata.num_rows
        counts["by_split"] = by_split
    report = [root / "report" / "validation.html", root / "report" / "validation.json", root / quality["file"]]
    return {
        "project": cfg.name,
        "task_kind": kind_of(cfg).name,
        "label_column": kind_of(cfg).export.column,
        **({"answer": section} if (section := kind_of(cfg).export.manifest_section(cfg)) else {}),
        "labels": list(cfg.labels),
        "config_hash": cfg.config_hash(),
        "code_version": V.code_version(),
        "flow_run_id": _flow_run_id(),
        "row_counts": counts,
        "label_distribution": facts["label_distribution"],
        "splits": cfg.export.splits,
        "formats": _format_names_cfg(cfg),
        "files": _file_table(root, [*files, *other_files, *report]),
        "content_hash": chash,
        "content_hash_covers": f"{DATA_DIR}/**.parquet",
        "validation": gate.summary(),
        "representativeness": facts["representativeness"],
        "quality_report": quality,
        "shift_reference": facts["shift_reference"],
        **({"shift_accepted": shift_accepted} if shift_accepted else {}),
    }


@task(name="export-version", **STAGE_TASK)
def export_task(cfg: ProjectConfig, force: bool = False, accept_shift: str | None = None) -> dict:
    return export(cfg, force=force, accept_shift=accept_shift).as_dict()
