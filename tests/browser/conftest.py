"""What the browser tests of the annotation page share: a real app on 127.0.0.1 and a way to drive its page in
headless Chromium with one of the drivers here (`<driver>.cjs PLAN.json`, signed in by `signin.cjs`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from annotation_app.process import start_app
from tasks.queues.builtin import BuiltinBackend
from tests.browser.span_harness import CHROMIUM, browser_missing

ADMIN = "browser-page-admin"


@dataclass
class BrowserApp:
    """The app under test (`url`, media root `root`) and its page in Chromium; screenshots go to `shots`."""

    url: str
    root: Path
    shots: Path
    backends: list[BuiltinBackend] = field(default_factory=list)

    def project(self, cfg: Any) -> BuiltinBackend:
        """The project of `cfg` made in the app; its backend (push, annotators, pull) is closed after the test."""
        backend = BuiltinBackend(self.url, ADMIN, cfg.name)
        self.backends.append(backend)
        backend.ensure_project(cfg)
        return backend

    def drive(self, driver: str, token: str, tasks: dict[str, Any], **plan: Any) -> dict[str, Any]:
        """Run `tests/browser/<driver>` signed in with `token` over the tasks' actions; its one JSON line."""
        path = self.root / f"plan-{Path(driver).stem}-{token[-6:]}.json"
        path.write_text(json.dumps({"url": self.url, "chromium": CHROMIUM, "screenshotDir": str(self.shots),
                                    "userDataDir": str(self.root / f"profile-{token[-6:]}"), "token": token,
                                    "tasks": tasks, **plan}))
        run = subprocess.run(["node", str(Path(__file__).with_name(driver)), str(path)],
                             capture_output=True, text=True, timeout=240, check=False)
        assert run.returncode == 0, f"browser driver failed:\n{run.stderr}\napp log: {self.root / 'app.log'}"
        return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture
def browser_app(tmp_path: Path) -> Iterator[BrowserApp]:
    """A real app whose media root is the test's folder, stopped after the test; fails when Chromium is missing."""
    missing = browser_missing()
    if missing:
        pytest.fail(f"browser test needs {missing}: run `bash .ci/browser.sh` (`.ci/run` does)")
    app = start_app(tmp_path / "app.db", ADMIN, media_roots=[tmp_path], log=tmp_path / "app.log")
    shots = tmp_path / "shots"
    shots.mkdir()
    page = BrowserApp(app.url, tmp_path, shots)
    try:
        yield page
    finally:
        for b in page.backends:
            b.close()
        app.stop()
