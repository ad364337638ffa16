"""Label Studio as a queue backend: the QueueBackend interface over Label Studio's REST API.

Mapping (one Label Studio project per annoflow project, found by title = `config.name`):
- One LS task per assignment. `data` holds the payload field (`text`/`image`/`audio`) and `ref`, an
  opaque reference sealing the assignment and item ids (`TaskRef`, keyed by `ref_key`). Everyone in a
  Label Studio organization can read every task's data, so nothing else goes there: no ids, no kind.
  Tasks are imported in chunks with `?return_task_ids=true`; the backend keeps the map
  assignment id → LS task id (read back by opening `data.ref`), so a re-push imports nothing.
- Pre-labels become LS predictions (`model_version` only) on every task that has one, gold and
  audits included, and never with a score: a prediction count, a missing prediction or a score
  (audits are the items the machine was sure of) would tell gold and audits apart.
- `maximum_annotations = 1` (one assignment = one judgment) and sequential sampling: tasks are
  imported highest priority first (dispatch interleaves gold and audits through the work).
  Label Studio does not know item identity, so it may give two assignments of one item to the same
  person; consensus counts one vote per (source, item).
- Judgments are LS annotations (skips, `was_cancelled`, are not judgments). The cursor is
  `<last annotation id>@<watermark>`, the watermark being the latest creation or edit time pulled;
  a pull reads the tasks updated since the watermark (less a slack) as one export snapshot and
  returns annotations with a larger id in id order, then annotations at or below the id edited
  after the watermark, as revisions (judgment `ls:<id>@<edit time>`; collect replaces the vote).
- Deleted annotations: `live_judgments` lists, for the tasks updated since the watermark, the
  annotations they still have; collect retracts the votes of the ones gone.
- The labeling config and the conversion of answers both ways are the answer kind's
  (`kind.queue.label_studio_config / to_label_studio / from_label_studio`). Label Studio accepts
  results that do not match the config, so `pull` returns answers as annotated and collect's check
  (`kind.storage.validate`) quarantines the offending ones. Results the kind cannot read as an answer
  at all (`from_label_studio` raises, e.g. a span whose offsets do not fit the text) come back with
  the column `answer_problem` (reason, field, detail; `base.ANSWER_PROBLEM`) and collect quarantines
  them under that reason. The item's text travels both ways (`payload`): span regions quote it. A
  pre-label's conversion also gets the item's metadata (the task row's `metadata`: an image's width
  and height, for regions Label Studio places in percent of the image).
- Annotators are LS users: `annotator_id = "ls:<email>"` (`ls:<user id>` when the user has none).
- Media: http(s) URIs are passed through. A `file://` path under `queue.local_files_root` (which must
  be Label Studio's `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`, with
  `LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`) becomes `/data/local-files/?d=<relative path>`, and
  the backend registers a local-files storage for each top folder used, as LS requires. Other local
  files up to `INLINE_MAX_BYTES` are sent inline as data URIs; larger ones are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import httpx
import orjson
import pyarrow as pa

from schemas.config import DataKind, ProjectConfig
from tasks.errors import ConfigError, InputError, ServiceError
from tasks.http import RequestRefusedError, make_client
from tasks.kinds import kind_of
from tasks.queues.base import (
    ANSWER_PROBLEM,
    JUDGMENT_SCHEMA,
    LIVE_SCHEMA,
    PullAll,
    answer_columns,
    task_rows,
)

__all__ = ["INLINE_MAX_BYTES", "REF_KEY_FILE", "LabelStudioBackend", "TaskRef", "labeling_config", "local_files_url", "ref_key"]

INLINE_MAX_BYTES = 1_000_000
PRELABEL_MODEL_VERSION = "annoflow-prelabel"
REF_KEY_FILE = "label_studio_ref_key"
_CURSOR_SLACK = timedelta(seconds=60)  # task.updated_at is set after its annotation is saved
_PAGE = 1_000
_SNAPSHOT_WAIT = 600.0


class TaskRef:
    """The opaque reference a Label Studio task carries instead of the pipeline's ids.

    Everyone in a Label Studio organization can read every task's data (Data Manager, exports), so
    `data` must not hold the assignment id, the item id or anything else that differs between gold,
    audits and ordinary work. The reference is the pair (assignment id, item id) under deterministic
    authenticated encryption (SIV built from HMAC-SHA256): the same assignment always gets the same
    reference (a re-push finds it), only the key's holder can read it back, and a reference nobody
    issued (a task made by hand in Label Studio) fails its tag check.
    """

    def __init__(self, key: bytes) -> None:
        self._tag_key = hmac.new(key, b"annoflow task ref: tag", hashlib.sha256).digest()
        self._enc_key = hmac.new(key, b"annoflow task ref: stream", hashlib.sha256).digest()

    def _xor(self, tag: bytes, data: bytes) -> bytes:
        blocks = -(-len(data) // 32)
        stream = b"".join(hmac.new(self._enc_key, tag + i.to_bytes(4, "big"), hashlib.sha256).digest()
                          for i in range(blocks))[:len(data)]
        return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")

    def seal(self, assignment_id: str, item_id: str) -> str:
        plain = f"{assignment_id}\x1f{item_id}".encode()
        tag = hmac.new(self._tag_key, plain, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(tag + self._xor(tag, plain)).rstrip(b"=").decode()

    def open(self, ref: object) -> tuple[str, str] | None:
        """(assignment id, item id), or None for a reference this key did not issue."""
        if not isinstance(ref, str):
            return None
        try:
            raw = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))
        except ValueError:
            return None
        tag, plain = raw[:16], self._xor(raw[:16], raw[16:])
        if len(raw) <= 16 or not hmac.compare_digest(tag, hmac.new(self._tag_key, plain, hashlib.sha256).digest()[:16]):
            return None
        aid, _, item = plain.decode().partition("\x1f")
        return aid, item


def ref_key(state_dir: Path) -> bytes:
    """The project's task-reference key, `<state.dir>/label_studio_ref_key` (created once, mode 0600).

    It lives with the state database: tasks pushed under one key are read back only with it.
    """
    path = state_dir / REF_KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{REF_KEY_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        try:
            os.link(tmp, path)  # published whole, or not at all if another stage made one first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = base64.b64decode(path.read_text(encoding="utf-8").strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ConfigError(f"{path} does not hold a task-reference key: restore it from a backup (tasks already "
                          "in Label Studio are read back only with the key that pushed them)")
    return key


def _metadata(text: str | None) -> dict[str, Any] | None:
    """A task row's item metadata (JSON text) for the kind's conversion; None when absent or unreadable."""
    try:
        value = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _field(kind: DataKind) -> str:
    return kind.value


def labeling_config(config: ProjectConfig) -> str:
    """The LS labeling config (XML) for the project: its answer kind's, for its data kind and label set."""
    return kind_of(config).queue.label_studio_config(config)


def _parse_ts(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


def _updated_after(since: datetime | None) -> list[dict[str, Any]]:
    """Data manager filter: tasks updated after `since` less the slack (none for None)."""
    if since is None:
        return []
    floor = (since - _CURSOR_SLACK).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [{"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime", "value": floor}]


def _parse_cursor(cursor: str | None) -> tuple[int, datetime | None]:
    if not cursor:
        return 0, None
    try:
        last, _, ts = cursor.partition("@")
        return int(last), _parse_ts(ts)
    except ValueError as e:
        raise InputError(f"not a Label Studio cursor: {cursor!r} (expected '<annotation id>@<ISO time>')") from e


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path) if parsed.scheme == "file" else uri).resolve()


def local_files_url(uri: str, root: Path | None) -> tuple[str, Path] | None:
    """Label Studio's URL of a local media file in a subfolder of its local-files document root `root`, with
    that subfolder (the local-files storage that must be connected for the URL to load); None for a web
    address or a file elsewhere. Label Studio serves local files only through such a storage."""
    if root is None or urlparse(uri).scheme in ("http", "https", "data"):
        return None
    path = _local_path(uri)
    if root not in path.parents:
        return None
    rel = path.relative_to(root)
    if len(rel.parts) < 2:
        return None
    return f"/data/local-files/?d={quote(rel.as_posix())}", root / rel.parts[0]


class LabelStudioBackend(PullAll):
    """Pipeline-side client of one Label Studio project (legacy API token, `Token` auth scheme)."""

    name = "label_studio"

    def __init__(self, url: str, token: str, title: str, *, push_batch: int = 5_000,
                 local_files_root: str | Path | None = None, show_prelabels: bool = True,
                 key: bytes | None = None, client: httpx.Client | None = None) -> None:
        """`key` seals task references (`TaskRef`); `from_config` passes the project's `ref_key`.
        Without one it is derived from the API token, which suits scripts and tests only: a new
        token would then no longer read the tasks already pushed."""
        if not token and client is None:
            raise ConfigError("Label Studio needs an API token: set ANNOFLOW_QUEUE_TOKEN "
                              "(or the variable named by queue.token_env) to a legacy token")
        self.url, self.title, self.push_batch = url, title, push_batch
        self.local_files_root = Path(local_files_root).resolve() if local_files_root else None
        self.show_prelabels = show_prelabels
        self.refs = TaskRef(key if key is not None else hashlib.sha256(b"annoflow:" + token.encode()).digest())
        self.client = client or make_client(url, token, auth_scheme="Token", timeout=300.0)
        self.project_id: int | None = None
        self.data_kind = DataKind.text
        self.config: ProjectConfig | None = None  # the project's answer kind converts answers both ways
        self._ids: dict[str, int] | None = None
        self._users: dict[int, str] = {}
        self._storages: set[str] | None = None
        self._pending: list[tuple[dict, dict, bool]] = []
        self._pending_from: str | None = None

    @classmethod
    def from_config(cls, config: ProjectConfig, *, token: str | None = None,
                    client: httpx.Client | None = None) -> LabelStudioBackend:
        """Backend for `config` (LS project title = config.name, token from `queue.token_env`)."""
        q = config.queue
        token = token if token is not None else os.environ.get(q.token_env, "")
        if not token and client is None:
            raise ConfigError(f"environment variable {q.token_env} holding the Label Studio API token is not set")
        root = config.path(q.local_files_root) if q.local_files_root else None
        b = cls(q.url, token, config.name, push_batch=q.push_batch, local_files_root=root,
                show_prelabels=q.show_prelabels, key=ref_key(config.state_dir), client=client)
        b.data_kind, b.config = DataKind(config.data_kind), config
        return b

    def ensure_project(self, config: ProjectConfig, excluded_annotators: Sequence[str] | None = None,
                       paused_annotators: Mapping[str, str] | None = None,
                       requalifying_annotators: Sequence[str] | None = None) -> str:
        """Create the project titled `config.name`, or update its labeling config and instructions.

        Label Studio's open-source edition has no per-project way to stop one user taking tasks, so
        `excluded_annotators` and `paused_annotators` are not enforced here: collect still records
        their annotations; consensus ignores the votes of banned sources, while a paused annotator's
        votes keep counting (a pause is not a ban). Pausing there is the admin's job (remove the user
        from the project's workspace); `annoflow annotators list` shows whom."""
        self.title, self.data_kind, self.config = config.name, DataKind(config.data_kind), config
        self.show_prelabels = config.queue.show_prelabels
        body = {
            "title": config.name,
            "label_config": labeling_config(config),
            "expert_instruction": config.instructions,
            "show_instruction": bool(config.instructions),
            "show_collab_predictions": config.queue.show_prelabels,
            "maximum_annotations": 1,
            "sampling": "Sequential sampling",
            "show_skip_button": True,
        }
        existing = self._find_project(config.name)
        if existing is None:
            self.project_id = self.client.post("/api/projects", json=body).json()["id"]
        else:
            self.project_id = existing
            self.client.patch(f"/api/projects/{existing}", json=body)
        return str(self.project_id)

    def _find_project(self, title: str) -> int | None:
        page = 1
        while True:
            r = self.client.get("/api/projects", params={"title": title, "page": page, "page_size": 100}).json()
            for p in r["results"]:
                if p["title"] == title:
                    return p["id"]
            if not r.get("next"):
                return None
            page += 1

    def _project(self) -> int:
        if self.project_id is None:
            found = self._find_project(self.title)
            if found is None:
                raise ConfigError(f"Label Studio has no project titled {self.title!r}: run ensure_project first")
            self.project_id = found
        return self.project_id

    def _dm_tasks(self, filters: list[dict[str, Any]], include: str | None, fields: str = "task_only") -> Iterator[dict]:
        """Every task of the project matching `filters` (data manager API), in id order, page by page."""
        query = json.dumps({"filters": {"conjunction": "and", "items": filters}, "ordering": ["tasks:id"]})
        params: dict[str, Any] = {"project": self._project(), "fields": fields, "query": query, "page_size": _PAGE}
        if include:
            params["include"] = include
        page = 1
        while True:
            try:
                r = self.client.get("/api/tasks", params={**params, "page": page})
            except RequestRefusedError as e:  # a page past the end answers 404
                if e.status == 404:
                    return
                raise
            tasks = r.json()["tasks"]
            yield from tasks
            if len(tasks) < _PAGE:
                return
            page += 1

    def _ids_of(self, data: dict[str, Any]) -> tuple[str, str] | None:
        """(assignment id, item id) of a task's data; None for a task annoflow did not push."""
        return self.refs.open(data.get("ref"))

    def task_ids(self, refresh: bool = False) -> dict[str, int]:
        """assignment id → LS task id for every task of the project (read once, then kept up to date)."""
        if self._ids is None or refresh:
            self._ids = {ids[0]: t["id"] for t in self._dm_tasks([], "id,data")
                         if (ids := self._ids_of(t["data"])) is not None}
        return self._ids

    def _media_value(self, uri: str) -> str:
        if urlparse(uri).scheme in ("http", "https", "data"):
            return uri
        served = local_files_url(uri, self.local_files_root)
        if served is not None:
            self._ensure_storage(served[1])
            return served[0]
        path = _local_path(uri)
        if not path.is_file():
            raise InputError(f"media file {uri!r} does not exist")
        size = path.stat().st_size
        if size > INLINE_MAX_BYTES:
            raise ConfigError(f"media file {uri!r} ({size} bytes) is too large to send inline to Label Studio: "
                              "set queue.local_files_root to Label Studio's LOCAL_FILES_DOCUMENT_ROOT holding it")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"

    def _ensure_storage(self, folder: Path) -> None:
        if self._storages is None:
            self._storages = {s["path"] for s in
                              self.client.get("/api/storages/localfiles", params={"project": self._project()}).json()}
        if str(folder) not in self._storages:
            self.client.post("/api/storages/localfiles", json={
                "project": self._project(), "path": str(folder), "title": f"annoflow {folder.name}",
                "use_blob_urls": True})
            self._storages.add(str(folder))

    def _ls_task(self, row: dict[str, Any]) -> dict[str, Any]:
        field = _field(self.data_kind)
        value = row.get("payload") if self.data_kind == DataKind.text else None
        if value is None:
            if row.get("media_uri") is None:
                raise InputError(f"assignment {row['assignment_id']!r}: a {self.data_kind.value} task needs a media_uri")
            value = self._media_value(row["media_uri"])
        task: dict[str, Any] = {"data": {field: value, "ref": self.refs.seal(row["assignment_id"], row["item_id"])}}
        data_of = getattr(kind_of(self.config).queue, "label_studio_data", None) if self.config is not None else None
        shown: dict[str, Any] = {}
        if data_of is not None:  # a kind whose item is several fields its labeling config names
            task["data"].update(data_of(row.get("payload"), row["assignment_id"], self._media_value))
            shown = {"data": task["data"]}  # the task's own layout (e.g. the order candidates are shown in)
        pre = row.get("prelabel")
        if pre is not None and self.show_prelabels:  # every kind alike, and no score: see the module docstring
            cfg = self._config()
            try:
                result = kind_of(cfg).queue.to_label_studio(orjson.dumps(pre).decode(), cfg, row.get("payload"),
                                                            _metadata(row.get("metadata")), **shown)
            except ValueError:  # a suggestion the project no longer accepts (e.g. its label set changed) is none
                result = []
            if result:
                task["predictions"] = [{"model_version": PRELABEL_MODEL_VERSION, "result": result}]
        return task

    def _config(self) -> ProjectConfig:
        if self.config is None:
            raise ConfigError(f"the Label Studio backend of {self.title!r} needs the project config to convert answers: "
                              "open it with `from_config` or call `ensure_project` first")
        return self.config

    def push(self, tasks: pa.Table) -> int:
        """Import the tasks Label Studio does not have yet (by assignment id), highest priority first."""
        rows = task_rows(tasks)
        known = self.task_ids()
        fresh: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["assignment_id"] not in known:
                fresh.setdefault(r["assignment_id"], r)
        todo = sorted(fresh.values(), key=lambda r: -float(r.get("priority", 0.0)))
        for start in range(0, len(todo), self.push_batch):
            chunk = todo[start:start + self.push_batch]
            body = [self._ls_task(r) for r in chunk]
            r = self.client.post(f"/api/projects/{self._project()}/import", params={"return_task_ids": "true"},
                                 json=body).json()
            ids = r.get("task_ids") or []
            if len(ids) != len(chunk):
                self._ids = None  # the answer did not list the new ids: read them back next time
                continue
            known.update(zip((c["assignment_id"] for c in chunk), ids))
        return len(todo)

    def _user(self, user_id: int | None) -> str:
        if user_id is None:
            return "ls:unknown"
        if user_id not in self._users:
            for u in self.client.get("/api/users").json():
                self._users[u["id"]] = f"ls:{u['email']}" if u.get("email") else f"ls:{u['id']}"
        return self._users.get(user_id, f"ls:{user_id}")

    def _annotated_tasks(self, since: datetime | None) -> list[dict]:
        """Tasks with annotations (updated after `since` less a slack), with their annotations.

        Read as one export snapshot restricted by a temporary data manager view: a snapshot serializes
        about twice as fast as the plain export or the task APIs (which run queries per task). The view
        and the snapshot are deleted afterwards, so annotators never see them.
        """
        pid = self._project()
        filters = [{"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},
                   *_updated_after(since)]
        query = json.dumps({"filters": {"conjunction": "and", "items": filters}})
        probe = self.client.get("/api/tasks", params={"project": pid, "fields": "task_only", "include": "id",
                                                      "query": query, "page_size": 1}).json()
        if not probe.get("total"):
            return []  # nothing updated since the cursor: skip the snapshot
        view = self.client.post("/api/dm/views", json={"project": pid, "data": {
            "title": "annoflow pull", "filters": {"conjunction": "and", "items": filters}}}).json()["id"]
        try:
            snap = self.client.post(f"/api/projects/{pid}/exports", json={
                "title": "annoflow pull",
                "task_filter_options": {"view": view, "annotated": "only"},
                "serialization_options": {"drafts": {"only_id": True}, "predictions": {"only_id": True},
                                          "annotations__completed_by": {"only_id": True}},
            }).json()
            try:
                deadline = time.monotonic() + _SNAPSHOT_WAIT
                while snap["status"] not in ("completed", "failed"):
                    if time.monotonic() > deadline:
                        raise ServiceError(f"Label Studio export snapshot {snap['id']} of project {pid} is still "
                                           f"{snap['status']!r} after {_SNAPSHOT_WAIT:.0f}s")
                    time.sleep(0.5)
                    snap = self.client.get(f"/api/projects/{pid}/exports/{snap['id']}").json()
                if snap["status"] == "failed":
                    raise ServiceError(f"Label Studio export snapshot {snap['id']} of project {pid} failed")
                return self.client.get(f"/api/projects/{pid}/exports/{snap['id']}/download",
                                       params={"exportType": "JSON"}).json()
            finally:
                self.client.delete(f"/api/projects/{pid}/exports/{snap['id']}")
        finally:
            self.client.delete(f"/api/dm/views/{view}")

    def _judgment(self, task: dict, a: dict, revision: bool = False) -> dict[str, Any]:
        """One annotation as a judgment; an edit of one already pulled is a new judgment of the same
        annotator and assignment, submitted at the edit (collect replaces the vote with it)."""
        cfg = self._config()
        kind = kind_of(cfg)
        results = a.get("result") or []
        problem = None
        shown = {"data": task.get("data") or {}} if hasattr(kind.queue, "label_studio_data") else {}
        try:
            columns = answer_columns(kind.storage.column, kind.queue.from_label_studio(
                results, cfg, (task.get("data") or {}).get(_field(self.data_kind)) if self.data_kind == DataKind.text else None,
                **shown))
        except ValueError as e:  # results that are no answer: collect quarantines the judgment with the reason
            message = str(e)
            field = getattr(e, "field", None) or message.partition(": ")[0] or "result"
            problem = orjson.dumps({"reason": getattr(e, "code", "invalid_answer"), "field": field,
                                    "detail": message}).decode()
            columns = {"label": None, "labels": None, "answer": orjson.dumps(results).decode()[:2000]}
        aid, item = self._ids_of(task["data"]) or (f"ls-task:{task['id']}", "")
        completed_by = a.get("completed_by")
        if isinstance(completed_by, dict):
            completed_by = completed_by.get("id")
        return {
            "judgment_id": f"ls:{a['id']}@{a['updated_at']}" if revision else f"ls:{a['id']}",
            "assignment_id": aid,
            "item_id": item,
            "annotator_id": self._user(completed_by),
            **columns,
            ANSWER_PROBLEM: problem,
            "duration_ms": int(round((a.get("lead_time") or 0) * 1000)),
            "submitted_at": _parse_ts(a["updated_at"] if revision else a["created_at"]),
            "client_id": f"ls-annotation:{a['id']}",
        }

    def pull(self, cursor: str | None, limit: int = 5_000) -> tuple[pa.Table, str | None]:
        """Edits of annotations already pulled, then annotations with an id above the cursor's in id order.

        The cursor is ``<last annotation id>@<watermark>``, the watermark being the latest creation or
        edit time among the annotations pulled so far: an annotation at or below the id edited after
        it comes back as a revision (judgment id ``ls:<id>@<edit time>``). One read of Label Studio
        serves consecutive pages: what it found past `limit` is kept and handed out while the caller
        continues from the returned cursor (safe: ids grow with time, edits are newer than the read).
        """
        last, since = _parse_cursor(cursor)
        if self._pending and self._pending_from == cursor:
            found = self._pending
        else:
            new, edits = [], []
            for task in self._annotated_tasks(since):
                for a in task.get("annotations") or []:
                    if a.get("was_cancelled"):
                        continue
                    if a["id"] > last:
                        new.append((task, a, False))
                    elif since is not None and a.get("updated_at") and _parse_ts(a["updated_at"]) > since:
                        edits.append((task, a, True))
            edits.sort(key=lambda t: (_parse_ts(t[1]["updated_at"]), t[1]["id"]))
            new.sort(key=lambda t: t[1]["id"])
            found = edits + new
        page, rest = found[:limit], found[limit:]
        rows = [self._judgment(t, a, rev) for t, a, rev in page]
        table = pa.Table.from_pylist(rows, schema=JUDGMENT_SCHEMA)
        problems = [r[ANSWER_PROBLEM] for r in rows]
        if any(p is not None for p in problems):  # only then: a clean page keeps exactly JUDGMENT_SCHEMA
            table = table.append_column(ANSWER_PROBLEM, pa.array(problems, pa.string()))
        if not page:
            self._pending = []
            return table, cursor
        top = max([last] + [a["id"] for _, a, rev in page if not rev])
        stamps = [_parse_ts(a[k]) for _, a, _ in page for k in ("created_at", "updated_at") if a.get(k)]
        mark = max(stamps + ([since] if since is not None else []))
        nxt = f"{top}@{mark.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
        self._pending, self._pending_from = rest, nxt
        return table, nxt

    def live_judgments(self, cursor: str | None) -> pa.Table:
        """The annotations that the tasks updated after the cursor's watermark (less the slack; every
        task for None) have now, as `LIVE_SCHEMA`.

        Label Studio moves a task's `updated_at` when one of its annotations is deleted (one by one
        or with the Data Manager's bulk action, checked on 1.23.2), so every deletion since the
        last pull is among these tasks and collect can retract its vote.
        """
        _, since = _parse_cursor(cursor)
        rows = []
        for t in self._dm_tasks(_updated_after(since), "id,data,annotations_ids", fields="all"):
            ids = self._ids_of(t["data"])
            if ids is not None:
                listed = str(t.get("annotations_ids") or "").split(",")
                rows.append({"assignment_id": ids[0], "judgment_ids": [f"ls:{x.strip()}" for x in listed if x.strip()]})
        return pa.Table.from_pylist(rows, schema=LIVE_SCHEMA)

    def invite_url(self) -> str:
        """The organization's sign-up link for new annotators (`POST /api/users` makes users who cannot
        log in, so people join through this link, as Label Studio's "Add People" does)."""
        return self.url.rstrip("/") + self.client.get("/api/invite").json()["invite_url"]

    def cancel(self, assignment_ids: Sequence[str]) -> int:
        """Delete the tasks of these assignments that have no annotation yet; returns how many."""
        wanted = {str(x) for x in assignment_ids}
        ids = [t["id"] for t in self._dm_tasks([], "id,data,total_annotations")
               if (self._ids_of(t["data"]) or ("",))[0] in wanted and not t.get("total_annotations")]
        for start in range(0, len(ids), self.push_batch):
            chunk = ids[start:start + self.push_batch]
            self.client.post("/api/dm/actions", params={"id": "delete_tasks", "project": self._project()},
                             json={"selectedItems": {"all": False, "included": chunk}})
        if self._ids is not None:
            gone = set(ids)
            self._ids = {k: v for k, v in self._ids.items() if v not in gone}
        return len(ids)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> LabelStudioBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
