-- annoflow state: one database per project. Every write is keyed so a re-run changes nothing.
-- Large tables (items, votes, assignments, labels) carry no PRIMARY KEY: DuckDB's index makes bulk
-- inserts of random hash keys ~6x slower, so stages dedupe with anti-joins on the key instead
-- (safe because only one process can write the file).

CREATE TABLE projects (
    name        VARCHAR PRIMARY KEY,
    config_hash VARCHAR NOT NULL,
    config      JSON NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- item_id = md5(project name, data kind, normalised payload or media bytes): re-ingest is a no-op.
CREATE TABLE items (
    item_id     VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,          -- text | image | audio
    payload     VARCHAR,                   -- the text itself (text items)
    uri         VARCHAR,                   -- media location (file:// or http(s)://), never the bytes
    checksum    VARCHAR,                   -- sha256 of the media bytes (media items)
    metadata    JSON,                      -- every extra source column, kept as-is
    source      VARCHAR NOT NULL,
    source_row  BIGINT,                    -- 1-based line/row number in the source
    state       VARCHAR NOT NULL DEFAULT 'new',  -- new | prelabeled | auto_accepted | queued | resolved | adjudicate
    priority    DOUBLE,                    -- dispatch order, highest first (uncertainty)
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Bad input never blocks the rest of a file; it lands here with where it came from and why.
CREATE TABLE quarantine (
    quarantine_id VARCHAR PRIMARY KEY,     -- md5(stage, source, row, reason): re-runs add nothing
    stage       VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    source_row  BIGINT,
    field       VARCHAR,
    reason      VARCHAR NOT NULL,
    detail      VARCHAR,
    raw         VARCHAR,                   -- the offending row, truncated
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Humans, models, labeling functions and adjudicators are all sources.
CREATE TABLE sources (
    source_id   VARCHAR PRIMARY KEY,       -- e.g. human:alice, lf:keyword_subscribe, model:tfidf
    kind        VARCHAR NOT NULL,          -- human | model | lf | adjudicator
    name        VARCHAR NOT NULL,
    version     VARCHAR,
    banned      BOOLEAN NOT NULL DEFAULT false,
    ban_evidence JSON,
    banned_at   TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE votes (
    vote_id     VARCHAR NOT NULL,          -- deterministic per (source, version, item, submission)
    item_id     VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    source_kind VARCHAR NOT NULL,
    label       VARCHAR,                   -- NULL = explicit abstain (labeling functions)
    labels      VARCHAR[],                 -- multi-label tasks: the chosen set
    confidence  DOUBLE,
    probs       JSON,                      -- model class probabilities
    assignment_id VARCHAR,
    duration_ms BIGINT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id      VARCHAR
);

CREATE TABLE gold (
    item_id     VARCHAR PRIMARY KEY,
    label       VARCHAR,
    labels      VARCHAR[],
    origin      VARCHAR NOT NULL,          -- file | adjudication
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A micro-task: one item for one human slot. `kind` says why it exists.
CREATE TABLE assignments (
    assignment_id VARCHAR NOT NULL,     -- md5(item, round, slot): re-dispatch is a no-op
    item_id     VARCHAR NOT NULL,
    queue       VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,          -- label | gold | audit | adjudication
    round       INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    priority    DOUBLE NOT NULL DEFAULT 0,
    state       VARCHAR NOT NULL,          -- pending | pushed | done | cancelled | expired
    annotator_id VARCHAR,
    attempt     INTEGER NOT NULL DEFAULT 0,
    lease_expires_at TIMESTAMPTZ,
    external_id VARCHAR,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Where a queue's judgments were last pulled to; advanced only in the same transaction as the votes.
CREATE TABLE queue_cursors (
    queue       VARCHAR PRIMARY KEY,
    cursor      VARCHAR NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE labels (
    item_id     VARCHAR NOT NULL,
    label       VARCHAR,
    labels      VARCHAR[],
    confidence  DOUBLE NOT NULL,
    method      VARCHAR NOT NULL,          -- auto | <aggregation method> | adjudicated | gold
    decision    VARCHAR NOT NULL,          -- resolved | needs_more | adjudicate
    n_votes     INTEGER NOT NULL,
    n_human     INTEGER NOT NULL,
    agreement   DOUBLE,
    sources     VARCHAR[],
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id      VARCHAR
);

CREATE TABLE source_stats (
    source_id   VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    n_votes     BIGINT NOT NULL,
    n_gold      BIGINT NOT NULL,
    gold_correct BIGINT NOT NULL,
    gold_accuracy DOUBLE,
    gold_low    DOUBLE,
    gold_high   DOUBLE,
    learned_accuracy DOUBLE,
    agreement_with_consensus DOUBLE,
    confusion   JSON,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE export_versions (
    version     VARCHAR PRIMARY KEY,
    parent      VARCHAR,
    path        VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    n_rows      BIGINT NOT NULL,
    manifest    JSON NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stage_runs (
    run_id      VARCHAR PRIMARY KEY,
    stage       VARCHAR NOT NULL,
    flow_run_id VARCHAR,
    status      VARCHAR NOT NULL,          -- running | completed | failed
    stats       JSON,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
