"""Run the annotation app: `python -m annotation_app --db PATH [--host H] [--port P] [--admin-token T] [--project-db NAME=PATH]`.

The admin token may come from ANNOFLOW_QUEUE_TOKEN instead of the command line (keeps it out of
`ps`). One process, one event loop (uvloop + httptools): the state lives in that process, so it is
never run with several workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from annotation_app.server import create_app

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m annotation_app", description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="SQLite file of the app's own store (created if missing).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--admin-token", default=os.environ.get("ANNOFLOW_QUEUE_TOKEN"),
                    help="Bearer token of the pipeline API (default: env ANNOFLOW_QUEUE_TOKEN).")
    ap.add_argument("--media-root", action="append", default=[],
                    help="Folder whose files may be served as task media (repeatable).")
    ap.add_argument("--synchronous", choices=["normal", "full"], default="normal",
                    help="'normal' survives a crash of the app (SIGKILL); 'full' also a power loss (fsync per commit).")
    ap.add_argument("--max-body-mb", type=float, default=128,
                    help="Largest request body of the pipeline API, in MiB (annotators: 64 KiB; no token: none).")
    ap.add_argument("--project-db", action="append", default=[], metavar="NAME=PATH",
                    help="A project's pipeline DuckDB file, for its quality dashboard at /admin/dashboard (repeatable).")
    ap.add_argument("--log-level", default="warning")
    args = ap.parse_args(argv)
    args.admin_token = (args.admin_token or "").strip()
    if not args.admin_token:
        print("error: no admin token: pass --admin-token or set ANNOFLOW_QUEUE_TOKEN", file=sys.stderr)
        return 2
    bad = [p for p in args.project_db if "=" not in p or not p.split("=", 1)[0] or not p.split("=", 1)[1]]
    if bad:
        print(f"error: --project-db {bad[0]!r}: expected NAME=PATH (the project's name and its state database)", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper())
    app = create_app(args.db, args.admin_token, media_roots=args.media_root, synchronous=args.synchronous,
                     max_body_mb=args.max_body_mb, project_dbs=dict(p.split("=", 1) for p in args.project_db))
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                log_level=args.log_level, access_log=False, timeout_keep_alive=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
