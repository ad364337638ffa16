"""How every stage task retries: transient errors (a locked database, a service down, 5xx,
timeouts) up to three times with back-off; user mistakes never. Results are not cached, since
stages are idempotent and read their work from DuckDB."""

from __future__ import annotations

__all__ = ["STAGE_TASK"]

from prefect.cache_policies import NO_CACHE

from tasks.errors import retry_if_transient

STAGE_TASK = {"retries": 3, "retry_delay_seconds": [2, 10, 30], "retry_condition_fn": retry_if_transient,
              "cache_policy": NO_CACHE}
