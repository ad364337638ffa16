"""Dispatch: select items needing human votes, create assignments under the overlap and gold policy, push them.

`plan` decides (read-only queries over state), `stage` writes and pushes, `access` resolves the
queue backend and its admin token.
"""

from tasks.dispatch.access import (
    admin_token,
    backend_for,
    known_annotators,
    queue_name,
    token_file,
)
from tasks.dispatch.plan import plan_assignments, plan_gold, plan_work
from tasks.dispatch.stage import (
    banned_annotators,
    dispatch,
    dispatch_task,
    pending_task_batches,
)

__all__ = [
    "admin_token",
    "backend_for",
    "banned_annotators",
    "dispatch",
    "dispatch_task",
    "known_annotators",
    "pending_task_batches",
    "plan_assignments",
    "plan_gold",
    "plan_work",
    "queue_name",
    "token_file",
]
