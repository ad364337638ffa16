"""Errors raised by the consensus cores (all terminal: bad input, never retried).

    ConsensusError (ValueError)
    ├── UnknownLabelError   a vote or gold label outside the project's label set
    └── InvalidVotesError   missing columns, null ids, negative weights
"""

from __future__ import annotations

__all__ = ["ConsensusError", "UnknownLabelError", "InvalidVotesError"]


class ConsensusError(ValueError):
    """Base class: the votes or settings given to a consensus core are unusable."""


class UnknownLabelError(ConsensusError):
    """A label is not in the project's label set.

    The message names the offending labels, the source and item of the first offending row,
    and the allowed labels, so the user can fix the config or the source without searching.
    """

    def __init__(self, bad_labels, first_source, first_item, allowed, what="vote"):
        self.bad_labels = list(bad_labels)
        self.first_source = first_source
        self.first_item = first_item
        self.allowed = list(allowed)
        shown = ", ".join(repr(b) for b in self.bad_labels[:10])
        more = f" (and {len(self.bad_labels) - 10} more)" if len(self.bad_labels) > 10 else ""
        where = f"source {first_source!r} on item {first_item!r}" if first_source is not None \
            else f"item {first_item!r}"
        super().__init__(
            f"unknown {what} label(s) {shown}{more}; first one from {where}; "
            f"allowed labels are {self.allowed!r}. Add the label to the project's label set "
            f"or fix the source."
        )


class InvalidVotesError(ConsensusError):
    """The votes table does not follow the contract (columns, nulls, weights)."""
