"""A language model as annotator: one chat-completions request per item, any OpenAI-compatible endpoint.

Wire contract (what vLLM, llama.cpp's server and hosted APIs speak; `python -m model_server --chat-standin`
is a local stand-in for tests):
    GET  {url}/v1/models             probed once when opened (a web page or a refused key stops here)
    POST {url}/v1/chat/completions   {"model", "messages": [system, user], "temperature", "max_tokens"}
                                     -> {"choices": [{"message": {"content": str}, "finish_reason"}],
                                         "usage": {"prompt_tokens": int, "completion_tokens": int}}

Failures and what becomes of them (docs/llm-annotators.md):
- retried: timeouts and 5xx with exponential back-off (the shared `tasks.http` transport), 429 after the
  server's Retry-After (bounded by `max_retry_after_seconds`), all within `retries` attempts;
- set aside per item (a `Reply.problem`, quarantined by the stage; the item is asked again next run):
  what still fails after the retries, a 400/413/422 refusal (a text too long for the model's context),
  an HTML page or a body that is not chat-completions JSON, an answer the kind cannot parse;
- stopping the run (after what was answered is stored): the endpoint unreachable, 401/403/404 (a wrong
  key, URL or model name fails every item alike: one clear error instead of one per item).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx
import orjson

from schemas.config import LLM_PROMPT, ModelConfig, ProjectConfig
from tasks.errors import ConfigError, RequestRefusedError, ServiceError, TerminalError
from tasks.http import make_client, server_message
from tasks.kinds.protocol import AnswerError

__all__ = ["LlmAnnotator", "Reply", "llm_version", "prompt_of", "view_digest"]

_JSON = {"content-type": "application/json"}
_RUN_LEVEL = (401, 403, 404, 405)
"""Refusals that every item would get alike: the run stops with one message."""


@dataclass(frozen=True)
class Reply:
    """One item's outcome: its answer (the kind's JSON text) or the problem that set it aside, and the tokens paid."""

    item_id: str
    answer: str | None
    problem: dict | None
    input_tokens: int = 0
    output_tokens: int = 0


def _retry_after(value: str | None, fallback: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); `fallback` when absent or odd."""
    if not value:
        return fallback
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return fallback


class _RateLimitTransport(httpx.BaseTransport):
    """Answers a 429 by waiting what the server asks (Retry-After, at most `max_wait`) and asking again.

    A 429 still standing after `retries` waits, or asking for longer than `max_wait`, is returned as it is:
    the client's 4xx hook turns it into `RequestRefusedError(429)` and the item is set aside for the next run.
    """

    def __init__(self, inner: httpx.BaseTransport, retries: int, max_wait: float, backoff: float) -> None:
        self.inner, self.retries, self.max_wait, self.backoff = inner, retries, max_wait, backoff

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self.retries + 1):
            response = self.inner.handle_request(request)
            if response.status_code != 429 or attempt == self.retries:
                return response
            wait = _retry_after(response.headers.get("retry-after"), self.backoff * 2 ** attempt)
            if wait > self.max_wait:
                return response
            response.read()
            response.close()
            time.sleep(wait)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.inner.close()


def _fill(template: str, text: str, labels: str, instructions: str) -> str:
    """Plain replacement of the three placeholders (no format syntax: braces of JSON in a prompt stay as written)."""
    return template.replace("{instructions}", instructions).replace("{labels}", labels).replace("{text}", text)


def prompt_of(mcfg: ModelConfig, facet: Any) -> str:
    """The entry's user message template: its own `prompt`, else the answer kind's default (`llm_prompt`), else the
    label-set prompt every kind that picks labels reads."""
    return mcfg.prompt if mcfg.prompt is not None else getattr(facet, "llm_prompt", LLM_PROMPT)


_VIEW_SAMPLES = 8
"""Item ids the kind's sample is rendered under: enough that both shown orders of a comparison occur."""


def view_digest(facet: Any, cfg: ProjectConfig) -> str | None:
    """A digest of how the kind shows an item to the model (`llm_view` of its `llm_view_sample`, under a few item ids,
    with what the parser is handed on); None for a kind that shows the text as it is. Changing the rendering (tags,
    order, what is left out) changes this, so the source's version changes and every item is asked again instead
    of old answers, given to another question, counting as current."""
    view = getattr(facet, "llm_view", None)
    if view is None:
        return None
    shown = [view(f"view-sample-{k}", facet.llm_view_sample, "model:view-sample", cfg) for k in range(_VIEW_SAMPLES)]
    return hashlib.sha256(json.dumps(shown).encode()).hexdigest()[:12]


def llm_version(mcfg: ModelConfig, prompt: str, labels: list[str], instructions: str, view: str | None = None) -> str:
    """The source version: a digest of everything that shapes the answers (model, prompts, sampling, labels,
    the kind's instructions and, where it has one, its view of an item: `view_digest`). Answers are stored per
    version, so a re-run asks only items without one and pays nothing twice; a changed prompt or rendering is a
    new annotator whose answers replace the old ones. `prompt` is the template in use (`prompt_of`), so leaving
    `prompt` unset or writing the kind's default is one version."""
    keys = {"model": mcfg.model, "system": mcfg.system_prompt, "prompt": prompt, "temperature": mcfg.temperature,
            "max_tokens": mcfg.max_tokens, "labels": labels, "instructions": instructions}
    if view is not None:  # only kinds with a view: the versions of the others stay what they were
        keys["view"] = view
    return "llm-" + hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


def _base(url: str) -> str:
    url = url.rstrip("/")
    return url.removesuffix("/v1")


class LlmAnnotator:
    """A `[[prelabel.models]]` entry of kind 'llm': asks the endpoint about items and parses the kind's answer."""

    def __init__(self, mcfg: ModelConfig, cfg: ProjectConfig, facet: Any, transport: httpx.BaseTransport | None = None) -> None:
        self.name, self.cfg, self.project, self.facet = mcfg.name, mcfg, cfg, facet
        key = None
        if mcfg.api_key_env:
            key = os.environ.get(mcfg.api_key_env)
            if not key:
                raise ConfigError(f"model {mcfg.name!r}: the environment variable {mcfg.api_key_env} (its `api_key_env`) is not set; "
                                  "export the API key in it and run again (annoflow never stores the key)")
        self.labels = list(cfg.labels)
        self.instructions = facet.llm_instructions(cfg)
        self.prompt = prompt_of(mcfg, facet)
        self.version = llm_version(mcfg, self.prompt, self.labels, self.instructions, view_digest(facet, cfg))
        self.url = _base(mcfg.url or "")
        inner = transport or httpx.HTTPTransport(limits=httpx.Limits(max_connections=max(mcfg.concurrency, 4)))
        self.client = make_client(
            self.url, key, timeout=mcfg.timeout_seconds, retries=max(mcfg.retries - 1, 0), backoff=mcfg.backoff_seconds,
            transport=_RateLimitTransport(inner, max(mcfg.retries - 1, 0), mcfg.max_retry_after_seconds, mcfg.backoff_seconds),
        )
        try:
            self._probe()
        except BaseException:
            self.client.close()
            raise

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _probe(self) -> None:
        """GET /v1/models: a wrong URL (a web page), a refused key or a server that is down stop the run before any item is asked."""
        try:
            r = self.client.get("/v1/models")
        except RequestRefusedError as e:
            if e.status == 404:  # not every server lists its models
                return
            raise TerminalError(f"model {self.name!r}: {e}; check `url`{' and the key in ' + self.cfg.api_key_env if self.cfg.api_key_env else ''}") from None
        if _is_html(r) or not _is_json(r):
            raise TerminalError(f"model {self.name!r}: {self.url}/v1/models answered {_what(r)}, not the OpenAI-compatible API; "
                                "`url` must be the API base (e.g. http://127.0.0.1:8000 for vLLM)")

    def _messages(self, text: str) -> list[dict]:
        labels = ", ".join(self.labels)
        return [{"role": "system", "content": _fill(self.cfg.system_prompt, text, labels, self.instructions)},
                {"role": "user", "content": _fill(self.prompt, text, labels, self.instructions)}]

    def _problem(self, item: str, reason: str, detail: str, field: str | None = None) -> dict:
        return {"source": f"model:{self.name}", "source_row": None, "field": field, "reason": reason,
                "detail": f"model {self.name!r} on item {item}: {detail}", "raw": item}

    def _view(self, item: str, payload: str | None) -> tuple[str, str | None]:
        """(what the model reads in `{text}`, what the kind's parser gets): the kind's rendering of the item
        where it has one (pairwise: the prompt and both candidates in an order drawn per item and source)."""
        view = getattr(self.facet, "llm_view", None)
        return (payload or "", payload) if view is None else view(item, payload, f"model:{self.name}", self.project)

    def ask(self, item: str, payload: str | None) -> Reply:
        """One item's answer (or the problem that set it aside). Raises only what stops the run."""
        try:
            shown, text = self._view(item, payload)
        except AnswerError as e:  # an item the kind cannot show: set aside without paying for a call
            field = e.field or "item"
            return Reply(item, None, self._problem(item, e.code, f"{field}: {e}", field))
        body = orjson.dumps({"model": self.cfg.model, "messages": self._messages(shown),
                             "temperature": self.cfg.temperature, "max_tokens": self.cfg.max_tokens})
        try:
            r = self.client.post("/v1/chat/completions", content=body, headers=_JSON)
        except ServiceError as e:
            if isinstance(e.__cause__, httpx.TimeoutException):
                return Reply(item, None, self._problem(item, "timeout", f"no answer within {self.cfg.timeout_seconds:g} s "
                                                       f"({self.cfg.retries} attempts); asked again on the next run"))
            if isinstance(e.__cause__, httpx.ConnectError):
                raise  # unreachable: every item would fail alike (transient: Prefect retries the task)
            return Reply(item, None, self._problem(item, "server_error", f"{' '.join(str(e).split())[:300]}; asked again on the next run"))
        except RequestRefusedError as e:
            if e.status in _RUN_LEVEL:
                raise TerminalError(f"model {self.name!r}: {e}; check `url` and `model`"
                                    f"{' and the key in ' + self.cfg.api_key_env if self.cfg.api_key_env else ''}") from None
            reason = "rate_limited" if e.status == 429 else "refused"
            hint = "rate limited past the retries; asked again on the next run" if e.status == 429 else "refused"
            return Reply(item, None, self._problem(item, reason, f"{hint} ({e.status}): {' '.join(str(e).split())[:300]}"))
        return self._read(item, text, r)

    def _read(self, item: str, text: str | None, r: httpx.Response) -> Reply:
        if _is_html(r):
            return Reply(item, None, self._problem(item, "html_body", f"the endpoint answered {_what(r)} instead of chat-completions JSON"))
        try:
            body = orjson.loads(r.content)
            usage = body.get("usage") or {}
            tin, tout = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            choice = body["choices"][0]
            content = choice["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, ValueError):
            return Reply(item, None, self._problem(item, "invalid_response", f"the endpoint answered {_what(r)}, not chat-completions JSON"))
        if not isinstance(content, str):
            return Reply(item, None, self._problem(item, "invalid_response", f"the reply has no text content ({content!r:.80})"), tin, tout)
        try:
            answer = self.facet.parse_llm_answer(content, text, self.project)
        except AnswerError as e:
            cut = " (the reply was cut at max_tokens)" if choice.get("finish_reason") == "length" else ""
            field = e.field or "answer"
            return Reply(item, None, self._problem(item, e.code, f"{field}: {e}{cut}", field), tin, tout)
        return Reply(item, answer, None, tin, tout)

    def annotate(self, item_ids: list[str], texts: list[str | None]) -> tuple[list[Reply], BaseException | None]:
        """Every item asked, at most `concurrency` requests in flight; (the replies of the items that got one,
        the first error that stops the run or None), so what was paid for is stored before the run stops."""
        def one(k: int) -> Reply | BaseException:
            try:
                return self.ask(item_ids[k], texts[k])
            except (ServiceError, TerminalError) as e:
                return e

        if self.cfg.concurrency == 1 or len(item_ids) <= 1:
            out = [one(k) for k in range(len(item_ids))]
        else:
            with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
                out = list(pool.map(one, range(len(item_ids))))
        errors = [o for o in out if isinstance(o, BaseException)]
        return [o for o in out if isinstance(o, Reply)], (errors[0] if errors else None)


def _is_html(r: httpx.Response) -> bool:
    return "html" in r.headers.get("content-type", "") or r.content.lstrip()[:1] == b"<"


def _is_json(r: httpx.Response) -> bool:
    try:
        orjson.loads(r.content)
    except orjson.JSONDecodeError:
        return False
    return True


def _what(r: httpx.Response) -> str:
    kind = "an HTML page" if _is_html(r) else "a body that is not JSON" if not _is_json(r) else "JSON"
    _, msg = server_message(r)
    return f"{kind} ({r.status_code}, {r.headers.get('content-type', 'no content-type')}: {' '.join(msg.split())[:80]!r})"
