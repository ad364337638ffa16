"""SIMULATION ONLY: a fake crowd that labels through the annotation app's annotator HTTP API.

For demos, tests and benchmarks. Each simulated annotator is a thread with its own token and
httpx client doing what a person's browser does (next, submit with a fresh client id, skip), so
the app cannot tell it from real people. Two kinds:
- model workers: an accuracy drawn from a range, the answer kind's error profile for it
  (`kind.simulation.annotator`: for choices a confusion matrix, off-diagonal mass spread at random),
  a think time, and a share of spammers (random answers, or always the same one);
- replay workers: one per real worker of a recorded crowd (e.g. Snow et al. 2008 RTE), answering
  exactly what that worker answered for the item, and skipping items that worker never saw.

The app never tells annotators the pipeline's item id, so the simulation recognises an item the way
a person would, by what it shows: `shown_key(task)`, the payload text of a text item, or the digest of
the image or audio file the page loads (see `tasks/queues/truth.py` for the matching truth table).
What a worker answers is the project's answer kind's (`kind.simulation.answer`), in its JSON form; where the
task shows a suggestion and the kind edits drafts (`kind.simulation.answer_from_draft`), the worker starts from it.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tasks import kinds
from tasks.errors import RequestRefusedError, ServiceError
from tasks.http import make_client
from tasks.kinds.protocol import AnswerKind
from tasks.queues.builtin import BuiltinBackend

__all__ = [
    "SimulatedAnnotator",
    "CrowdReport",
    "make_crowd",
    "load_replay",
    "replay_exclusions",
    "run_simulated_crowd",
    "media_digest",
    "shown_key",
    "percentile",
]

Task = dict[str, Any]


@dataclass
class SimulatedAnnotator:
    """A fake worker: an accuracy and the kind's error `profile` for it, or `replay[key]` recorded answers.

    `profile` None: drawn when the crowd starts, once the project's answer kind is known."""

    annotator_id: str
    accuracy: float = 0.9
    seconds_per_task: float = 0.0
    spammer: str | None = None  # None | "uniform" | "constant"
    replay: dict[str, Any] | None = None
    roles: tuple[str, ...] = ()
    profile: Any = None


@dataclass
class CrowdReport:
    submitted: int = 0
    skipped: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    per_annotator: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    acknowledged: list[tuple[str, str, str]] = field(default_factory=list)  # (annotator, client_id, judgment)

    @property
    def submits_per_s(self) -> float:
        return self.submitted / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> dict[str, float]:
        return {"submitted": self.submitted, "skipped": self.skipped, "errors": self.errors,
                "elapsed_s": round(self.elapsed_s, 2), "submits_per_s": round(self.submits_per_s, 1),
                "p50_ms": round(percentile(self.latencies_s, 50) * 1000, 2),
                "p99_ms": round(percentile(self.latencies_s, 99) * 1000, 2)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def make_crowd(n: int, labels: list[str], *, accuracy: tuple[float, float] = (0.65, 0.95),
               spammer_share: float = 0.1, seconds_per_task: float = 0.0, experts: int = 0,
               seed: int = 0, prefix: str = "sim", kind: AnswerKind | None = None) -> list[SimulatedAnnotator]:
    """`n` model workers with accuracies drawn from `accuracy`; the last `spammer_share` of them spam,
    the first `experts` get the expert role. With `kind`, each one's error profile is drawn here from
    the same generator (one seed, one crowd); without, when the crowd starts on a project."""
    rng = random.Random(seed)
    crowd = []
    n_spam = int(round(n * spammer_share))
    for i in range(n):
        acc = rng.uniform(*accuracy)
        spam = ("uniform" if i % 2 else "constant") if i >= n - n_spam else None
        profile = None if kind is None else kind.simulation.annotator(acc, labels, rng, spam)
        crowd.append(SimulatedAnnotator(f"{prefix}-{i:03d}", acc, seconds_per_task, spam,
                                        roles=("expert",) if i < experts else (), profile=profile))
    return crowd


def media_digest(data: bytes) -> str:
    """How the simulation recognises a picture or a clip: the digest of the file's bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def shown_key(task: Task) -> str:
    """What identifies a task for someone looking at it: the media file's digest (the worker fetched
    the file, `media_digest`), an external media URL, or else the text shown."""
    return task.get("media_digest") or task.get("media_url") or (task.get("payload") or "").strip()


def load_replay(path: Path | str, key: Callable[[str], str] = str) -> dict[str, dict[str, str]]:
    """Snow-style TSV (`!amt_worker_ids`, `orig_id`, `response`) → worker → {key(orig_id): answer}."""
    out: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["!amt_worker_ids"], {})[key(row["orig_id"])] = row["response"]
    return out


def replay_exclusions(answers: Mapping[str, Mapping[str, str]], item_key: str) -> list[str]:
    """Workers who never answered `item_key`: push them as the task's `exclude_annotators`, so replay
    workers are not offered items they would only skip."""
    return [w for w, a in answers.items() if item_key not in a]


class _HttpxSession:
    """The annotator's HTTP calls through the shared client factory (the default)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = make_client(base_url, token, retries=3, timeout=30)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.post(path, json=body).json()

    def get_bytes(self, path: str) -> bytes:
        return self.client.get(path).content

    def close(self) -> None:
        self.client.close()


class _LightSession:
    """Load generation only: one keep-alive stdlib connection, about 4x less client CPU per request
    than httpx, so a benchmark measures the app rather than its clients. Same retry/error mapping."""

    def __init__(self, base_url: str, token: str, retries: int = 3, backoff: float = 0.2) -> None:
        host, _, port = base_url.split("://", 1)[1].rstrip("/").partition(":")
        self.conn = http.client.HTTPConnection(host, int(port or 80), timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.retries, self.backoff = retries, backoff

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self.conn.request("POST", path, body=orjson.dumps(body) if body is not None else b"",
                                  headers=self.headers)
                r = self.conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                if attempt == self.retries:
                    raise ServiceError(f"POST {path} failed after {attempt + 1} attempts: {e!r}") from e
            else:
                if r.status < 400:
                    return orjson.loads(data)
                try:
                    err = orjson.loads(data)
                except orjson.JSONDecodeError:
                    err = {"message": data[:300].decode(errors="replace")}
                if r.status < 500:
                    raise RequestRefusedError(f"POST {path} was refused ({r.status}): {err.get('message')}",
                                            r.status, err.get("error"))
                if attempt == self.retries:
                    raise ServiceError(f"POST {path} answered {r.status}: {err.get('message')}")
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def get_bytes(self, path: str) -> bytes:
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 400:
            raise RequestRefusedError(f"GET {path} was refused ({r.status})", r.status, None)
        return data

    def close(self) -> None:
        self.conn.close()


def _worker(base_url: str, token: str, project_id: str, sim: SimulatedAnnotator, truth: Callable[[Task], Any],
            key: Callable[[Task], str], payload: Callable[[Task], str | None], labels: list[str], kind: AnswerKind,
            report: CrowdReport,
            lock: threading.Lock, stop: threading.Event, max_tasks: int | None, seed: int, light: bool) -> None:
    rng = random.Random(seed)
    lat: list[float] = []
    done = skipped = errors = 0
    failure = None
    acks: list[tuple[str, str, str]] = []
    c = _LightSession(base_url, token) if light else _HttpxSession(base_url, token)
    from_draft = getattr(kind.simulation, "answer_from_draft", None)  # optional: kinds whose suggestion is a draft
    try:
        task = c.post(f"/api/annotate/{project_id}/next")["task"]
        while task is not None and not stop.is_set() and (max_tasks is None or done < max_tasks):
            media = task.get("media_url")
            if media and media.startswith("/"):  # look at the picture or clip, as the page loads it
                task["media_digest"] = media_digest(c.get_bytes(media))
            if sim.replay is not None:
                answer = sim.replay.get(key(task))
                if answer is None:
                    c.post(f"/api/annotate/leases/{task['lease_id']}/skip")
                    skipped += 1
                    task = c.post(f"/api/annotate/{project_id}/next")["task"]
                    continue
            elif from_draft is not None and (task.get("suggestion") or {}).get("answer") is not None:
                # the page pre-fills the machine's draft: a person edits it rather than answering anew
                answer = from_draft(sim.profile, truth(task), task["suggestion"]["answer"], rng, labels, payload(task))
            else:
                answer = kind.simulation.answer(sim.profile, truth(task), rng, labels, payload(task))
            think = rng.expovariate(1 / sim.seconds_per_task) if sim.seconds_per_task > 0 else 0.0
            if think:
                time.sleep(think)
            body: dict[str, Any] = {"client_id": uuid.uuid4().hex, "duration_ms": int(think * 1000), "next": True,
                                    "answer": answer}
            t0 = time.perf_counter()
            try:
                r = c.post(f"/api/annotate/leases/{task['lease_id']}/submit", body)
            except RequestRefusedError:  # e.g. the lease expired while thinking: take the next task
                errors += 1
                task = c.post(f"/api/annotate/{project_id}/next")["task"]
                continue
            lat.append(time.perf_counter() - t0)
            done += 1
            acks.append((sim.annotator_id, body["client_id"], r["judgment_id"]))
            task = r["next"]["task"]
    except Exception as e:  # a dead worker is reported, not silent
        errors += 1
        failure = f"{sim.annotator_id}: {e!r}"
    finally:
        c.close()
        with lock:
            report.submitted += done
            report.skipped += skipped
            report.errors += errors
            report.latencies_s.extend(lat)
            report.acknowledged.extend(acks)
            report.per_annotator[sim.annotator_id] = done
            if failure:
                report.failures.append(failure)


def _task_payload(task: Task) -> str | None:
    return task.get("payload")


def run_simulated_crowd(
    base_url: str,
    admin_token: str,
    project_id: str,
    truth: Mapping[str, Any] | Callable[[Task], Any] | None = None,
    n_annotators: int = 10,
    *,
    crowd: list[SimulatedAnnotator] | None = None,
    replay: Mapping[str, Mapping[str, str]] | None = None,
    key: Callable[[Task], str] | None = None,
    payload: Callable[[Task], str | None] | None = None,
    accuracy: tuple[float, float] = (0.65, 0.95),
    spammer_share: float = 0.1,
    seconds_per_task: float = 0.0,
    max_tasks_per_annotator: int | None = None,
    duration_s: float | None = None,
    seed: int = 0,
    light_client: bool = False,
) -> CrowdReport:
    """SIMULATION: label `project_id` with fake annotators until no task is left for any of them.

    `truth` maps `key(task)` (default `shown_key`: the payload text, or the digest of the media the
    page shows) to the true answer in the kind's JSON form, or is a callable on the task as the
    annotator sees it. `payload(task)` is what the kind's simulated annotator reads of the item (default: the
    task's text; `TruthTable.payload` adds a media item's metadata, such as an image's size). With `replay` (worker id → {key: answer}, see `load_replay`)
    one replay worker per real worker answers what that worker recorded. Annotators are created
    through the admin API (a new token is issued if the id exists). `light_client=True` uses a
    stdlib keep-alive connection instead of httpx (benchmarks). Returns counts and latencies.
    """
    admin = BuiltinBackend(base_url, admin_token, project_id)
    try:
        project = admin.client.get(f"/api/projects/{project_id}").json()
        labels, kind = project["labels"], kinds.get(project["task_kind"])
        if replay is not None:
            crowd = [SimulatedAnnotator(str(w), replay=dict(a), seconds_per_task=seconds_per_task) for w, a in replay.items()]
        elif crowd is None:
            crowd = make_crowd(n_annotators, labels, accuracy=accuracy, spammer_share=spammer_share,
                               seconds_per_task=seconds_per_task, seed=seed, kind=kind)
        for i, sim in enumerate(crowd):
            if sim.profile is None and sim.replay is None:
                sim.profile = kind.simulation.annotator(sim.accuracy, labels, random.Random(seed * 7919 + i), sim.spammer)
        if truth is None and replay is None:
            raise ValueError("pass `truth` (key → answer) or `replay` recorded answers")
        key = key or shown_key
        truth_fn = truth if callable(truth) else (lambda task, m=truth: m.get(key(task)))
        tokens = {}
        for sim in crowd:
            try:
                tokens[sim.annotator_id] = admin.create_annotator(sim.annotator_id, roles=sim.roles)
            except RequestRefusedError as e:
                if e.status != 409:
                    raise
                tokens[sim.annotator_id] = admin.rotate_token(sim.annotator_id)
    finally:
        admin.close()
    report, lock, stop = CrowdReport(), threading.Lock(), threading.Event()
    threads = [
        threading.Thread(target=_worker, name=f"sim-{sim.annotator_id}", daemon=True, args=(
            base_url, tokens[sim.annotator_id], project_id, sim, truth_fn, key, payload or _task_payload, labels, kind,
            report, lock, stop,
            max_tasks_per_annotator, seed * 7919 + i, light_client))
        for i, sim in enumerate(crowd)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    deadline = None if duration_s is None else t0 + duration_s
    for t in threads:
        t.join(None if deadline is None else max(0.0, deadline - time.perf_counter()))
    stop.set()
    for t in threads:
        t.join()
    report.elapsed_s = time.perf_counter() - t0
    return report
