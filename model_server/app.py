"""FastAPI apps serving a persisted `SklearnModel` (classes) or span model (entity spans); test hooks
simulate an unhealthy or slow server.

Span wire contract (`create_span_app`, `python -m model_server --span-model PATH`):
    GET  /info   -> {"name": str, "version": str, "labels": [str, ...], "answer": "spans"}
    POST /spans  {"items": [{"item_id": str, "text": str}, ...]}
                 -> {"spans": [[{"start": int, "end": int, "label": str, "confidence": float}, ...], ...]}
                    one list per item, in order; offsets in code points of the text, end exclusive.

Box wire contract (`create_detect_app`, `python -m model_server --detector`):
    GET  /info    -> {"name": str, "version": str, "labels": [str, ...], "answer": "boxes"}
    POST /detect  {"items": [{"item_id": str, "uri": "file:///..." | null, "image": base64 | null}, ...]}
                  -> {"boxes": [[{"x", "y", "w", "h", "label", "score"}, ...] | null, ...], "errors": [str | null, ...]}
                     one entry per item, in order; pixels of the image, (x, y) its top-left corner. An image
                     that cannot be read or decoded gets `null` boxes and its reason in `errors` (the other
                     items of the batch are still answered).

Speech wire contract (`create_asr_app`, `python -m model_server --asr`):
    GET  /info        -> {"name": str, "version": str, "labels": ["speech"], "answer": "transcript"}
                         (`labels`: the labels its segments carry)
    POST /transcribe  {"items": [{"item_id": str, "uri": "file:///..." | null, "audio": base64 | null}, ...]}
                      -> {"transcripts": [{"text": str,
                                           "words": [{"word", "start_s", "end_s", "score"}, ...],   (optional)
                                           "segments": [{"start_s", "end_s", "label", "score"}, ...], (optional)
                                           "duration_s": float} | null, ...],
                          "errors": [str | null, ...]}
                         one entry per item, in order; seconds from the clip's start; scores in [0, 1]. A clip
                         that cannot be read or decoded gets `null` and its reason in `errors`.

Hooks (command-line flags): `--fail-first N` answers the first N /predict calls with `--fail-status`
(default 503); `--delay S` sleeps S seconds in every /predict call, `--delay-first N` only in the first N.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from tasks.prelabel.models import load_sklearn

__all__ = ["Hooks", "create_app", "create_asr_app", "create_detect_app", "create_span_app"]


class Hooks:
    def __init__(self, fail_first: int = 0, fail_status: int = 503, delay: float = 0.0, delay_first: int = 0) -> None:
        self.fail_first, self.fail_status, self.delay, self.delay_first = fail_first, fail_status, delay, delay_first
        self.calls = 0
        self.lock = threading.Lock()

    def before_predict(self) -> int | None:
        with self.lock:
            self.calls += 1
            n = self.calls
        if self.delay and (self.delay_first == 0 or n <= self.delay_first):
            time.sleep(self.delay)
        if n <= self.fail_first:
            return self.fail_status
        return None


async def _body(request: Request) -> bytes:
    return await request.body()


def _items(raw: bytes, max_items: int) -> list[dict]:
    # parsed by hand, not by a pydantic model per item: validation cost per item dominated the server
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise HTTPException(400, f"body is not JSON: {e}") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise HTTPException(400, "expected {\"items\": [{\"item_id\", \"text\" | \"uri\"}, ...]} with at least one item")
    if len(items) > max_items:
        raise HTTPException(400, f"at most {max_items} items per request, got {len(items)}")
    for k, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("item_id"), str):
            raise HTTPException(400, f"item {k}: needs a string item_id")
    return items


def _base(title: str, hooks: Hooks) -> FastAPI:
    app = FastAPI(title=title)

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/stats")
    def stats() -> dict:
        return {"predict_calls": hooks.calls}

    app.state.hooks = hooks
    return app


def create_app(model_path: Path, hooks: Hooks | None = None, max_items: int = 100_000) -> FastAPI:
    run = load_sklearn(model_path)
    model = run.model
    hooks = hooks or Hooks()
    app = _base(f"annoflow model server: {model.name}", hooks)

    @app.get("/info")
    def info() -> dict:
        return {"name": model.name, "version": model.version, "classes": model.classes, "data_kind": model.data_kind}

    @app.post("/predict")
    def predict(raw: bytes = Depends(_body)) -> Response:  # sync: sklearn work runs in the threadpool, not the event loop
        status = hooks.before_predict()
        if status:
            return JSONResponse({"detail": f"simulated failure (call {hooks.calls})"}, status_code=status)
        items = _items(raw, max_items)
        if model.data_kind == "text":
            texts = [it.get("text") for it in items]
            missing = [it["item_id"] for it, t in zip(items, texts) if not isinstance(t, str)]
            if missing:
                raise HTTPException(400, f"text model: item {missing[0]} has no text")
            classes, probs = model.predict_proba_inputs(texts)
        else:
            import pyarrow as pa

            batch = pa.table({"item_id": [it["item_id"] for it in items], "uri": [it.get("uri") for it in items]})
            classes, probs = model.predict_proba(batch)
        out = json.dumps({"classes": classes, "probs": np.round(probs, 6).tolist()})
        return Response(out, media_type="application/json")

    return app


def create_span_app(model_path: Path, hooks: Hooks | None = None, max_items: int = 100_000) -> FastAPI:
    """Serve a saved span model (`tasks/kinds/spans/span_model.py`): the reference span endpoint."""
    from tasks.kinds.spans.span_model import load_span_model

    model = load_span_model(model_path)
    hooks = hooks or Hooks()
    app = _base(f"annoflow span model server: {model.name}", hooks)

    @app.get("/info")
    def info() -> dict:
        return {"name": model.name, "version": model.version, "labels": model.labels, "answer": "spans"}

    @app.post("/spans")
    def spans(raw: bytes = Depends(_body)) -> Response:
        status = hooks.before_predict()
        if status:
            return JSONResponse({"detail": f"simulated failure (call {hooks.calls})"}, status_code=status)
        items = _items(raw, max_items)
        texts = [it.get("text") for it in items]
        missing = [it["item_id"] for it, t in zip(items, texts) if not isinstance(t, str)]
        if missing:
            raise HTTPException(400, f"span model: item {missing[0]} has no text")
        return Response(json.dumps({"spans": model.predict(texts)}), media_type="application/json")

    return app


def _item_bytes(item: dict, field: str) -> bytes:
    """The item's file, from its base64 `field` or its `file://` URI; ValueError says why not."""
    import base64
    import binascii
    from urllib.parse import unquote, urlparse

    if isinstance(item.get(field), str):
        try:
            return base64.b64decode(item[field], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"`{field}` is not base64") from None
    if isinstance(item.get("uri"), str) and urlparse(item["uri"]).scheme in ("file", ""):
        path = Path(unquote(urlparse(item["uri"]).path))
        try:
            return path.read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e.strerror}") from None
    raise ValueError(f"needs `{field}` (base64) or a file:// `uri`")


def _image(item: dict) -> np.ndarray:
    """The item's pixels as (H, W, 3) uint8; ValueError says why not."""
    import io

    from PIL import Image, UnidentifiedImageError

    data = _item_bytes(item, "image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot decode the image: {e}") from None


def create_detect_app(hooks: Hooks | None = None, max_items: int = 10_000) -> FastAPI:
    """Serve the classical shapes detector (`model_server/detector.py`): the reference detection endpoint."""
    from model_server.detector import DETECTOR_LABELS, DETECTOR_VERSION, detect

    hooks = hooks or Hooks()
    app = _base("annoflow detection server: shapes", hooks)

    @app.get("/info")
    def info() -> dict:
        return {"name": "shapes", "version": DETECTOR_VERSION, "labels": list(DETECTOR_LABELS), "answer": "boxes"}

    @app.post("/detect")
    def detect_boxes(raw: bytes = Depends(_body)) -> Response:
        status = hooks.before_predict()
        if status:
            return JSONResponse({"detail": f"simulated failure (call {hooks.calls})"}, status_code=status)
        boxes, errors = [], []
        for it in _items(raw, max_items):
            try:
                boxes.append(detect(_image(it)))
                errors.append(None)
            except ValueError as e:
                boxes.append(None)
                errors.append(str(e))
        return Response(json.dumps({"boxes": boxes, "errors": errors}), media_type="application/json")

    return app


def create_asr_app(hooks: Hooks | None = None, max_items: int = 1_000) -> FastAPI:
    """Serve the reference speech recogniser (`model_server/asr.py`, pocketsphinx): the reference `/transcribe` endpoint."""
    from model_server.asr import ASR_VERSION, SPEECH_LABEL, Recogniser
    from tasks.ingest.wav import decode_wav

    recogniser = Recogniser()
    hooks = hooks or Hooks()
    app = _base("annoflow speech recognition server: pocketsphinx en-us", hooks)

    @app.get("/info")
    def info() -> dict:
        return {"name": "pocketsphinx-en-us", "version": ASR_VERSION, "labels": [SPEECH_LABEL], "answer": "transcript"}

    @app.post("/transcribe")
    def transcribe(raw: bytes = Depends(_body)) -> Response:
        status = hooks.before_predict()
        if status:
            return JSONResponse({"detail": f"simulated failure (call {hooks.calls})"}, status_code=status)
        out, errors = [], []
        for it in _items(raw, max_items):
            try:
                samples, duration = decode_wav(_item_bytes(it, "audio"))
            except ValueError as e:
                out.append(None)
                errors.append(str(e))
                continue
            out.append(recogniser.transcribe(samples, duration) | {"duration_s": round(duration, 4)})
            errors.append(None)
        return Response(json.dumps({"transcripts": out, "errors": errors}), media_type="application/json")

    return app
