"""Prefect retries transient errors only: a locked store is retried, bad input fails at once."""

from __future__ import annotations

import pytest
from prefect import flow, task

from tasks.errors import InputError, StoreLockedError, retry_if_transient

calls: dict[str, int] = {}


@task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_if_transient)
def flaky(kind: str) -> str:
    calls[kind] = calls.get(kind, 0) + 1
    if kind == "transient" and calls[kind] == 1:
        raise StoreLockedError("held by process 1")
    if kind == "terminal":
        raise InputError("row 3: bad")
    return "ok"


@flow
def run(kind: str) -> str:
    return flaky(kind)


def test_transient_error_is_retried(prefect_harness) -> None:
    assert run("transient") == "ok"
    assert calls["transient"] == 2


def test_terminal_error_is_not_retried(prefect_harness) -> None:
    with pytest.raises(InputError, match="row 3"):
        run("terminal")
    assert calls["terminal"] == 1
