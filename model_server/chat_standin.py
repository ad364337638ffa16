"""A STAND-IN for a language model: speaks the OpenAI chat-completions protocol, answers from keyword rules.

This is not a language model. It exists so tests and benches can run the LLM annotator path
(`[[prelabel.models]] kind = "llm"`) against a real HTTP server on 127.0.0.1 with known behaviour:
`python -m model_server --chat-standin --rules "spam=check,subscribe;ham=song,love" --accuracy 0.8`.

How it answers. The item's text is what the prompt holds between `<text>` and `</text>` (the default
prompt puts it there). The answer form follows the instructions in the prompt: `"choice"` -> a pairwise
judgment, `"score"` / `"scores"` -> a rating, `"entities"` -> spans (every whole-word keyword occurrence,
with its rule's label), `"labels"` -> multi-label (every label with a keyword in the text), otherwise single
label (the first rule with a keyword in the text, else `--default`). A simulated judge of comparisons reads
`<prompt>`, `<response_a>`, `<response_b>` and prefers the response with more keyword hits (any rule), then
the longer one; equal on both, a tie where the instructions offer one, else "A". `--position-bias` makes
it answer "A" (the response shown first) whatever it reads. A simulated rater gives, per criterion of the
instructions' JSON form (or once), the scale's low end plus the keyword hits of the rule named like the
criterion (of every rule for a single score), plus `--leniency`, kept on the scale read from the
instructions ("scale from LO to HI"). With `--accuracy A`, an item whose seeded hash of the text (for a
comparison: of the prompt and the two responses in either order, so the draw does not depend on the shown
order) falls at or above A gets a wrong answer (single: the next label of the rules; multi: one label
flipped; spans: the first entity's label changed; pairwise: the other response; rating: one point off),
so the measured accuracy of its answers is known in advance.

Misbehaviour on purpose, per item, triggered by a word in the item's text: `--malformed-on W` (prose
without JSON), `--unknown-label-on W` (a label outside the set; pairwise: choice "C"; rating: a score two
points past the scale's top), `--tie-on W` (pairwise: "tie", allowed or not), `--html-on W` (an HTML page with 200), `--error-on W` (a gateway's 502 HTML page),
`--slow-on W` (sleeps `--delay` seconds first), `--rate-limit-on W` (429 with `Retry-After:
--retry-after` the first `--rate-limit-times` times that text is asked), `--fence` (every answer inside a
```json fence, with prose around), `--api-key K` (401 unless the request carries `Bearer K`). Usage counts four characters a token. `GET /stats` counts the calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

__all__ = ["StandinRules", "create_chat_standin", "parse_rules"]

_TEXT = re.compile(r"<text>\n?(.*?)\n?</text>", re.DOTALL)
_SCALE = re.compile(r"scale from (-?\d+) to (-?\d+)")
_CRITERION = re.compile(r'"([^"]+)": <-?\d+--?\d+>')


def _part(tag: str, text: str) -> str:
    m = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return m.group(1) if m else ""


def parse_rules(spec: str) -> dict[str, list[str]]:
    """`"spam=check,subscribe;ham=song"` -> {"spam": ["check", "subscribe"], "ham": ["song"]} (order kept)."""
    rules: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        label, _, words = part.partition("=")
        rules[label.strip()] = [w.strip() for w in words.split(",") if w.strip()]
    return rules


@dataclass
class StandinRules:
    rules: dict[str, list[str]]
    default: str | None = None
    accuracy: float = 1.0
    seed: int = 0
    model: str = "chat-standin"
    malformed_on: str | None = None
    unknown_label_on: str | None = None
    html_on: str | None = None
    slow_on: str | None = None
    delay: float = 0.0
    rate_limit_on: str | None = None
    error_on: str | None = None
    retry_after: float = 1.0
    rate_limit_times: int = 1
    fence: bool = False
    api_key: str | None = None
    position_bias: bool = False
    leniency: int = 0
    tie_on: str | None = None
    asked: Counter = field(default_factory=Counter)
    stats: Counter = field(default_factory=Counter)

    def wrong(self, text: str) -> bool:
        h = hashlib.sha256(f"{self.seed}\x1f{text}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64 >= self.accuracy

    def _hits(self, text: str) -> list[tuple[int, int, str]]:
        found = []
        for label, words in self.rules.items():
            for w in words:
                found += [(m.start(), m.end(), label) for m in re.finditer(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE)]
        return sorted(found)

    def single(self, text: str) -> str:
        labels = list(self.rules)
        found = {label for _, _, label in self._hits(text)}
        hit = next((label for label in labels if label in found), self.default or labels[0])
        return labels[(labels.index(hit) + 1) % len(labels)] if self.wrong(text) and hit in labels else hit

    def multi(self, text: str) -> list[str]:
        present = {label for _, _, label in self._hits(text)}
        if self.wrong(text):
            flip = list(self.rules)[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(self.rules)]
            present ^= {flip}
        return sorted(present)

    def judge(self, text: str, ties: bool) -> str:
        """A comparison's choice ("A", "B" or "tie") in the order shown in `text` (`<response_a>` first)."""
        if self.position_bias:
            return "A"
        first, second = _part("response_a", text), _part("response_b", text)
        merit = [(len(self._hits(c)), len(c)) for c in (first, second)]
        choice = "A" if merit[0] > merit[1] else "B" if merit[1] > merit[0] else ("tie" if ties else "A")
        if self.wrong("\x1f".join([_part("prompt", text), *sorted([first, second])])):
            choice = "B" if choice == "A" else "A"
        return choice

    def rate(self, text: str, scale: tuple[int, int], criteria: list[str]) -> dict:
        """A rating of `text`: `{"score": n}`, or `{"scores": {c: n}}` for the criteria the instructions name."""
        lo, hi = scale
        hits = self._hits(text)
        off = 1 if self.wrong(text) else 0

        def one(labels: set[str]) -> int:
            raw = lo + sum(label in labels for _, _, label in hits) + self.leniency
            raw = min(max(raw, lo), hi)
            return raw + off if lo <= raw + off <= hi else raw - off

        if criteria:
            return {"scores": {c: one({c}) for c in criteria}}
        return {"score": one(set(self.rules))}

    def entities(self, text: str) -> list[dict]:
        ents = [{"text": text[a:b], "label": label} for a, b, label in self._hits(text)]
        if ents and self.wrong(text):
            labels = list(self.rules)
            ents[0]["label"] = labels[(labels.index(ents[0]["label"]) + 1) % len(labels)]
        return ents


def _has(word: str | None, text: str) -> bool:
    return bool(word) and word.lower() in text.lower()


def create_chat_standin(r: StandinRules) -> FastAPI:
    app = FastAPI(title="chat-completions stand-in (not a language model)")

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/stats")
    def stats() -> dict:
        return {"chat_calls": r.stats["calls"], **{k: v for k, v in r.stats.items() if k != "calls"}}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": r.model, "object": "model", "owned_by": "annoflow-standin"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        if r.api_key and request.headers.get("authorization") != f"Bearer {r.api_key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, status_code=401)
        body = await request.json()
        messages = body.get("messages") or []
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        m = _TEXT.search(prompt)
        text = m.group(1) if m else ""
        r.stats["calls"] += 1
        if _has(r.rate_limit_on, text) and r.asked[("429", text)] < r.rate_limit_times:
            r.asked[("429", text)] += 1
            r.stats["rate_limited"] += 1
            return JSONResponse({"error": {"message": "rate limit reached, retry later", "type": "rate_limit"}}, status_code=429,
                                headers={"Retry-After": f"{r.retry_after:g}"})
        if _has(r.error_on, text):
            r.stats["errors"] += 1
            return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)
        if _has(r.slow_on, text):
            r.stats["slow"] += 1
            await asyncio.sleep(r.delay)
        if _has(r.html_on, text):
            r.stats["html"] += 1
            return HTMLResponse("<!doctype html><html><body><h1>Sign in</h1><p>Please log in to continue.</p></body></html>")
        if _has(r.malformed_on, text):
            content = "Sure! I think this one is probably about something, but I am not certain."
        elif '"choice"' in prompt:
            choice = "C" if _has(r.unknown_label_on, text) else "tie" if _has(r.tie_on, text) else r.judge(text, '"tie"' in prompt)
            content = json.dumps({"choice": choice, "reason": "stand-in judge: keyword hits, then length"})
        elif '"score' in prompt:
            m = _SCALE.search(prompt)
            scale = (int(m.group(1)), int(m.group(2))) if m else (1, 5)
            content = json.dumps(r.rate(text, scale, _CRITERION.findall(prompt) if '"scores"' in prompt else []))
            if _has(r.unknown_label_on, text):
                content = re.sub(r"-?\d+", str(scale[1] + 2), content)
        elif _has(r.unknown_label_on, text):
            content = json.dumps({"label": "eggs", "labels": ["eggs"], "entities": [{"text": text.split()[0] if text.split() else "x", "label": "eggs"}]})
        elif '"entities"' in prompt:
            content = json.dumps({"entities": r.entities(text)})
        elif '"labels"' in prompt:
            content = json.dumps({"labels": r.multi(text)})
        else:
            content = json.dumps({"label": r.single(text)})
        if r.fence:
            content = f"Here is my answer:\n```json\n{content}\n```\nLet me know if you need anything else."
        return {"id": "standin", "object": "chat.completion", "model": body.get("model", r.model),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": -(-len(prompt) // 4), "completion_tokens": -(-len(content) // 4),
                          "total_tokens": -(-len(prompt) // 4) - (-len(content) // 4)}}

    return app
