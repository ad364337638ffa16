"""A speech recogniser behind an HTTP endpoint (the `/transcribe` contract of `model_server/app.py`), for the
transcript and segments kinds alike: one request answers both (text, word timings, speech segments).

Contract:
    GET  /info        -> {"name", "version", "labels": [segment labels it emits], "answer": "transcript"}
    POST /transcribe  {"items": [{"item_id", "uri": "file:///..." | null}, ...]}
                      -> {"transcripts": [{"text": str, "words": [{"word", "start_s", "end_s", "score"}]?,
                                           "segments": [{"start_s", "end_s", "label", "score"}]?} | null, ...],
                          "errors": [str | null, ...]}

The client is the classification `HttpModel`'s (`tasks.http.make_client`): 5xx and timeouts are retried with
back-off and then raise `ServiceError` (transient, Prefect retries), a 4xx fails at once with the server's
message. Clips go by reference (`uri`), `batch_size` per request, at most `concurrency` in flight.

What the endpoint answers is checked before anything is kept: a text that is not a string or shows a
wrong decoding (U+FFFD, a control character), a word or
segment time that is not a finite number >= 0, a word ending before it starts, a segment without length, a
score outside [0, 1] or (segments projects) a label outside the label set is a `TerminalError` naming the
model, the item and the field, so a misbehaving model stores nothing. A time past the clip's end (its
`duration_s` recorded at ingest) is cut to the end, as recognisers pad; a segment entirely past it is
dropped. A clip the endpoint could not decode gets no vote (asked again next run) and is reported in
`problems`, which the stage quarantines naming the item, its file and the reason.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import orjson
import pyarrow as pa

from schemas.config import ModelConfig
from tasks.errors import TerminalError
from tasks.prelabel.http_model import HttpModel

__all__ = ["HttpSpeechModel", "clip_duration"]

def clip_duration(metadata: Any) -> float | None:
    """The clip's `duration_s` recorded at ingest in `items.metadata`, or None."""
    meta = orjson.loads(metadata) if isinstance(metadata, (str, bytes)) else metadata
    d = meta.get("duration_s") if isinstance(meta, dict) else None
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) and d > 0 else None


def _time(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _badly_decoded(text: str) -> bool:
    """U+FFFD (what a wrong decoding leaves) or a control character other than white space."""
    return "\ufffd" in text or any(ord(c) < 32 and c not in "\t\n\r" for c in text)


def _inside(t: float, end: float | None) -> float:
    """A time in milliseconds, cut to the clip's end (rounded down there, so a rounded time never passes the end)."""
    t = round(t, 3)
    return t if end is None else min(t, math.floor(end * 1000) / 1000)


def _score_ok(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1)


class HttpSpeechModel(HttpModel):
    """Votes of an HTTP recogniser; `labels` None: a transcript project (segment labels are not checked)."""

    def __init__(self, mcfg: ModelConfig, labels: list[str] | None, client: httpx.Client | None = None) -> None:
        self.problems: list[dict] = []
        self._check_labels = labels is not None
        super().__init__(mcfg, list(labels or []), client)

    def _info(self) -> dict:
        info = self._call("GET", "/info")
        unknown = sorted(set(info.get("labels", [])) - set(self.classes)) if self._check_labels else []
        if unknown:
            raise TerminalError(f"model {self.name!r} at {self.cfg.url} labels segments {unknown}, outside the label set {self.classes}; "
                                "add them to `labels` or serve a model restricted to the project's labels")
        return info

    def _fail(self, item: str, field: str, what: str) -> TerminalError:
        return TerminalError(f"model {self.name!r} on item {item}: {field} {what}; nothing from this model was stored")

    def _words(self, item: str, words: Any, end: float | None) -> list[dict]:
        if words is None:
            return []
        if not isinstance(words, list):
            raise self._fail(item, "words", f"is {words!r}, expected a list")
        out = []
        for k, w in enumerate(words):
            if not isinstance(w, dict) or not isinstance(w.get("word"), str):
                raise self._fail(item, f"words[{k}]", f"is {w!r}, expected {{word, start_s, end_s, score}}")
            if _badly_decoded(w["word"]):
                raise self._fail(item, f"words[{k}].word", f"is {w['word']!r}: text in a wrong encoding (U+FFFD or a control character)")
            for f in ("start_s", "end_s"):
                if not _time(w.get(f)):
                    raise self._fail(item, f"words[{k}].{f}", f"is {w.get(f)!r}, expected a finite number of seconds >= 0")
            if w["end_s"] < w["start_s"]:
                raise self._fail(item, f"words[{k}].end_s", f"is {w['end_s']!r}, before its start {w['start_s']!r}")
            if not _score_ok(w.get("score")):
                raise self._fail(item, f"words[{k}].score", f"is {w.get('score')!r}, expected a number in [0, 1]")
            s, e = _inside(w["start_s"], end), _inside(w["end_s"], end)
            out.append({"word": w["word"], "start_s": s, "end_s": e, "score": w.get("score")})
        return out

    def _segments(self, item: str, segs: Any, end: float | None) -> list[dict]:
        if segs is None:
            return []
        if not isinstance(segs, list):
            raise self._fail(item, "segments", f"is {segs!r}, expected a list")
        out = []
        for k, s in enumerate(segs):
            if not isinstance(s, dict):
                raise self._fail(item, f"segments[{k}]", f"is {s!r}, expected {{start_s, end_s, label, score}}")
            for f in ("start_s", "end_s"):
                if not _time(s.get(f)):
                    raise self._fail(item, f"segments[{k}].{f}", f"is {s.get(f)!r}, expected a finite number of seconds >= 0")
            if s["end_s"] <= s["start_s"]:
                raise self._fail(item, f"segments[{k}].end_s", f"is {s['end_s']!r}, not after its start {s['start_s']!r}")
            if self._check_labels and s.get("label") not in self.classes:
                raise self._fail(item, f"segments[{k}].label", f"is {s.get('label')!r}, not one of {self.classes}")
            if not _score_ok(s.get("score")):
                raise self._fail(item, f"segments[{k}].score", f"is {s.get('score')!r}, expected a number in [0, 1]")
            a, b = _inside(s["start_s"], end), _inside(s["end_s"], end)
            if b > a:
                out.append({"start_s": a, "end_s": b, "label": s.get("label"), "score": s.get("score")})
        return out

    def transcribe(self, batch: pa.Table) -> pa.Table:
        """`item_id`, `text`, `words` (JSON list), `segments` (JSON list) for the decodable clips of `batch`."""
        ids = batch.column("item_id").to_pylist()
        uris = batch.column("uri").to_pylist()
        metas = batch.column("metadata").to_pylist() if "metadata" in batch.column_names else [None] * len(ids)
        parts = self._post_in_batches(
            "/transcribe", len(ids), lambda lo, hi: [{"item_id": i, "uri": u} for i, u in zip(ids[lo:hi], uris[lo:hi])],
            lambda body, lo, hi: self._per_item(body, hi - lo, "transcripts", "transcripts"))
        answers = [a for part in parts for a in part[0]]
        errors = [e for part in parts for e in part[1]]
        rows: dict[str, list] = {"item_id": [], "text": [], "words": [], "segments": []}
        for item, uri, meta, ans, err in zip(ids, uris, metas, answers, errors):
            if ans is None:
                where = str(uri).rsplit("/", 1)[-1] if uri else "no file"
                self.problems.append({"source": f"model:{self.name}", "source_row": None, "field": "audio", "reason": "undecodable_audio",
                                      "detail": f"model {self.name!r} could not decode item {item}'s audio ({where}): {err or 'no reason given'}",
                                      "raw": item})
                continue
            if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                got = ans.get("text") if isinstance(ans, dict) else ans
                raise self._fail(item, "text", f"is {got!r}, expected a string")
            if _badly_decoded(ans["text"]):
                raise self._fail(item, "text", f"is {ans['text']!r}: text in a wrong encoding (U+FFFD or a control character)")
            end = clip_duration(meta)
            rows["item_id"].append(item)
            rows["text"].append(" ".join(ans["text"].split()))
            rows["words"].append(orjson.dumps(self._words(item, ans.get("words"), end)).decode())
            rows["segments"].append(orjson.dumps(self._segments(item, ans.get("segments"), end)).decode())
        return pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()})
