"""Real reference model servers (`python -m model_server`) on 127.0.0.1 for the model tests.

Several variants start together and are polled afterwards: each takes seconds to import its stack, so
starting them one after another would multiply that wait.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from annotation_app.process import free_port

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def model_servers(model_args: Sequence[str], variants: Mapping[str, Sequence[str]], timeout: float,
                  what: str = "model server") -> Iterator[dict[str, str]]:
    """Yield `variant → base URL` of one server per variant (`model_args` + the variant's flags), all healthy."""
    procs, urls = [], {}
    try:
        for key, flags in variants.items():
            port = free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "model_server", *model_args, "--port", str(port), *flags],
                                          cwd=ROOT))
            urls[key] = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        for url in urls.values():
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{what} at {url} did not start") from None
                    time.sleep(0.1)
        yield urls
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


@contextmanager
def chat_standins(variants: Mapping[str, Sequence[str]]) -> Iterator[dict[str, str]]:
    """`variant → base URL` of the chat-completions stand-in (`python -m model_server --chat-standin` + the variant's flags)."""
    with model_servers(["--chat-standin"], variants, timeout=60, what="chat stand-in") as urls:
        yield urls


def chat_calls(url: str) -> int:
    """Chat requests a stand-in has answered so far (what a run paid for)."""
    return httpx.get(url + "/stats").json()["chat_calls"]
