"""The built-in annotation app: a long-running HTTP service with its own SQLite store.

The pipeline reaches it only over HTTP (`tasks/queues/builtin.py`), exactly like an external tool,
and it never holds the pipeline's DuckDB file: only the admins' quality dashboard reads it, read-only
for the length of one request (dashboard_api.py). Start it with `python -m annotation_app --db PATH`.
"""

__all__: list[str] = []
