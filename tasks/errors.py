"""The one error tree: what Prefect retries and what fails fast with a message for the user.

    AnnoflowError
    ├── TransientError          retried with back-off (a later attempt can succeed)
    │   ├── StoreLockedError    another process holds the DuckDB file
    │   └── ServiceError        connection refused, timeout, HTTP 5xx
    └── TerminalError           retrying cannot help: fix the input and run again
        ├── ConfigError         annoflow.toml or flow parameters are invalid
        ├── InputError          a source cannot be read at all (not a bad row: those are quarantined)
        ├── RequestRefusedError a service answered 4xx: the request, token or input is wrong
        └── ContractError       a table failed its Pandera contract at a stage boundary

Every message says what failed, the offending value and what to do next.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AnnoflowError",
    "TransientError",
    "StoreLockedError",
    "ServiceError",
    "TerminalError",
    "ConfigError",
    "InputError",
    "ContractError",
    "RequestRefusedError",
    "retry_if_transient",
]


class AnnoflowError(Exception):
    """Base of every error annoflow raises on purpose."""


class TransientError(AnnoflowError):
    """A condition that may clear by itself; Prefect retries these."""


class StoreLockedError(TransientError):
    """The state database is held read-write by another process."""


class ServiceError(TransientError):
    """A service (annotation app, model endpoint, Label Studio) was unreachable or failed with 5xx."""


class TerminalError(AnnoflowError):
    """Retrying cannot help; the user has to change something."""


class ConfigError(TerminalError):
    """The project config is invalid."""


class InputError(TerminalError):
    """A source as a whole cannot be used."""


class RequestRefusedError(TerminalError):
    """A service refused the request (4xx); carries the status, the server's error code and message."""

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class ContractError(TerminalError):
    """A table crossing a stage boundary broke its schema; `failures` holds the failing rows."""

    def __init__(self, message: str, failures: Any = None) -> None:
        super().__init__(message)
        self.failures = failures


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry only errors that a later attempt could get past."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False
