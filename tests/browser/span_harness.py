"""Runs the span widget in headless Chromium inside a shell stand-in, for its tests and its benchmark.

The stand-in page (`span_shell_standin.html`) and the widget are served by a small HTTP server on
127.0.0.1 at the paths the app uses (`/kinds/spans/widget.js`), so the widget loads exactly as the
annotation page loads it. `span_widget.cjs` performs each run's actions and reports what it saw.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tasks.kinds import get

__all__ = ["CHROMIUM", "browser_missing", "run_widget"]

HERE = Path(__file__).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLAYWRIGHT = HERE.parents[1] / ".ci" / "node_modules" / "playwright-core"


def browser_missing() -> list[str]:
    """What the browser runs need and this machine lacks (`bash .ci/browser.sh` installs it)."""
    return [what for what, ok in (("chromium", Path(CHROMIUM).exists()), ("node", shutil.which("node")),
                                   ("playwright-core", PLAYWRIGHT.exists())) if not ok]


@contextmanager
def _serve() -> Iterator[str]:
    files = {"/": (HERE / "span_shell_standin.html", "text/html"),
             "/kinds/spans/widget.js": (get("spans").queue.widget, "text/javascript")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, kind = files.get(self.path.split("?")[0], (None, None))
            if path is None:
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def run_widget(workdir: Path, runs: list[dict[str, Any]], viewport: dict | None = None) -> list[dict[str, Any]]:
    """Perform `runs` (see span_widget.cjs) in one Chromium; screenshots go to `workdir/shots`."""
    shots = workdir / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    with _serve() as url:
        plan = workdir / "span-plan.json"
        plan.write_text(json.dumps(dict(url=url, chromium=CHROMIUM, userDataDir=str(workdir / "profile"),
                                        screenshotDir=str(shots), viewport=viewport, runs=runs)))
        run = subprocess.run(["node", str(HERE / "span_widget.cjs"), str(plan)], capture_output=True, text=True,
                             timeout=180)
    if run.returncode != 0:
        raise RuntimeError(f"span widget driver failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])
