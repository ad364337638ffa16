"""Whether a process still runs: used where a pid recorded in a file may have outlived its process."""

from __future__ import annotations

__all__ = ["pid_alive"]

import os


def pid_alive(pid: int) -> bool:
    """True if `pid` exists (also when it belongs to another user, who may not be signalled)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
