"""How figures read for people, in one place for the CLI's tables and the Prefect artifacts: shares as
percentages, intervals as [low, high], and the source leaderboard as display rows."""

from __future__ import annotations

from typing import Any

__all__ = ["LEADERBOARD_COLUMNS", "interval", "leaderboard_rows", "pct"]

LEADERBOARD_COLUMNS = ("source", "kind", "votes", "gold", "gold accuracy [95% CI]", "learned accuracy",
                       "agrees with consensus", "banned")


def pct(x: float | None, nd: int = 1) -> str:
    """0.9432 -> '94.3%'; None -> '-'."""
    return "-" if x is None else f"{100 * x:.{nd}f}%"


def interval(low: float | None, high: float | None, nd: int = 1) -> str:
    """A 95% interval of a share: '[90.1%, 97.2%]'."""
    return "-" if low is None or high is None else f"[{pct(low, nd)}, {pct(high, nd)}]"


def leaderboard_rows(board: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The leaderboard (tasks/consensus/summary.py rows) keyed by LEADERBOARD_COLUMNS, every cell text."""
    return [
        {
            "source": r["source_id"],
            "kind": r["kind"],
            "votes": f"{r['n_votes']:,}",
            "gold": f"{r['n_gold']:,}",
            "gold accuracy [95% CI]": f"{pct(r['gold_accuracy'])} {interval(r['gold_low'], r['gold_high'])}"
            if r["n_gold"] else "-",
            "learned accuracy": pct(r["learned_accuracy"]),
            "agrees with consensus": pct(r["agreement_with_consensus"]),
            "banned": "yes" if r["banned"] else "",
        }
        for r in board
    ]
