"""Behaviour rules over annotators and pausing them.

`rules` (too fast, straight-lining, gold drift: pure decisions over DuckDB), `pause` (events, pause /
resume / unban), `requalify` (gold-only batches), `stage` (the step each consensus run calls),
`queue_sync` (the queue and the state in step), `simulation` (SIMULATED crowds for tests and bench).
"""
