"""The vocabulary of `metric_history`: the scopes and metric names the stages write and the dashboard
reads. One place, so a writer (tasks/history/metrics.py) and a reader (tasks/report/data.py) cannot
drift apart; docs/history.md lists what each stage writes under these names."""

from __future__ import annotations

# scopes
PROJECT = "project"
SOURCE = "source"
LABEL = "label"
PAIR = "pair"
AGREEMENT = "agreement"
"""A kind's own agreement measures (`span_f1.strict`, `fleiss`, ...): subject = the key, metric = VALUE."""

# metrics
JUDGMENTS = "judgments"
SECONDS_PER_JUDGMENT = "seconds_per_judgment"
QUEUE_DEPTH = "queue_depth"
LEASE_EXPIRIES = "lease_expiries"
GOLD_ACCURACY = "gold_accuracy"
ALPHA = "alpha"
"""Krippendorff's alpha: project-wide (low/high = bootstrap interval) and per label."""
KAPPA = "kappa"
VALUE = "value"
AUDIT_PRECISION = "audit_precision"
AUTO_ACCEPT_SHARE = "auto_accept_share"
COST = "cost"
"""A source's spend so far (scope SOURCE)."""
COST_TOTAL = "cost_total"
COST_PER_LABEL = "cost_per_label"
COST_PER_RESOLVED_ITEM = "cost_per_resolved_item"
REVIEWED = "reviewed"
"""How many of a person's answers reviewers decided on (scope SOURCE); the rates below have Wilson bounds."""
REVIEW_ACCEPTANCE = "review_acceptance"
REVIEW_REJECTION = "review_rejection"
REVIEW_CORRECTED = "review_corrected"
SHARE = "share"
"""A label's share of the resolved labels (scope LABEL)."""
