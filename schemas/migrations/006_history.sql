-- Analytics over time. Each stage run appends dated aggregates (never copies of votes) to
-- `metric_history`, keyed by the run so a re-run of the same run writes nothing twice; retention
-- (`[history] keep_days`) prunes old runs. The table is long ("tidy"): a new kind's metrics, or a new
-- metric, is new rows, not new columns, so the dashboard shows them without a migration.

CREATE TABLE metric_history (
    run_id      VARCHAR NOT NULL,          -- stage_runs.run_id of the run that measured it
    stage       VARCHAR NOT NULL,          -- ingest | prelabel | dispatch | collect | consensus | export
    measured_at TIMESTAMPTZ NOT NULL,      -- when the run measured it (the run's finish)
    scope       VARCHAR NOT NULL,          -- project | source | label | pair | state | decision | queue | lf | model | agreement
    subject     VARCHAR NOT NULL,          -- '' for project; a source_id, a label, 'a|b' for a pair, a state name ...
    metric      VARCHAR NOT NULL,          -- e.g. judgments, seconds_per_judgment, gold_accuracy, alpha, cost
    value       DOUBLE,
    low         DOUBLE,                    -- interval (or quartile) bounds where the metric has them
    high        DOUBLE,
    n           BIGINT,                    -- the evidence behind the value (votes, gold items, audits)
    PRIMARY KEY (run_id, scope, subject, metric)
);

-- What happened to an annotator and why: behaviour flags, pause / resume, ban / unban,
-- re-qualification. Append-only, the audit trail behind `sources.paused` and `sources.banned`.
CREATE TABLE annotator_events (
    event_id    VARCHAR PRIMARY KEY,       -- md5 of (source, action, rule, the evidence's run): re-runs add nothing
    source_id   VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,          -- flag | pause | resume | ban | unban | requalify_start | requalify_pass | requalify_fail
    rule        VARCHAR,                   -- too_fast | straight_lining | gold_drift | manual | ...
    reason      VARCHAR,                   -- the readable sentence shown to people
    evidence    JSON,                      -- the numbers the rule saw
    actor       VARCHAR NOT NULL,          -- 'annoflow' for rules, else who ran the command
    run_id      VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A paused annotator gets no new work and their leases are released; unlike a ban, their past
-- votes keep counting. Re-qualification (a gold-only batch) or `annoflow annotators resume` ends it.
ALTER TABLE sources ADD COLUMN paused BOOLEAN DEFAULT false;
ALTER TABLE sources ADD COLUMN paused_at TIMESTAMPTZ;
ALTER TABLE sources ADD COLUMN pause_reason VARCHAR;
