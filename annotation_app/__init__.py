"""The built-in annotation app: a long-running HTTP service with its own SQLite store.

The pipeline reaches it only over HTTP (`tasks/queues/builtin.py`), exactly like an external tool,
and it never opens the pipeline's DuckDB file. Start it with `python -m annotation_app --db PATH`.
"""

__all__: list[str] = []
