-- Pre-labeling: which version of a machine source cast a vote, the combined pre-label per item, and the
-- per-class auto-accept thresholds chosen on each run (with the evidence behind them).

-- lf:<name> / model:<name> votes carry the source version (hash of the LF's code, the model's training
-- data); votes of a superseded version are deleted when the new version is applied.
ALTER TABLE votes ADD COLUMN source_version VARCHAR;

-- One row per item (replaced on every run): the combined machine label and where routing sent it.
-- route: auto   = auto-accepted (items.state = 'auto_accepted', labels row with method 'auto')
--        audit  = auto-accepted AND sampled for a human audit (items.state = 'queued', labels row with
--                 method 'auto'); the dispatch stage creates assignments of kind 'audit' for these
--        human  = below threshold: items.state = 'queued', items.priority = uncertainty
--        gold   = a gold item: pre-labeled for calibration, never auto-accepted nor re-routed
--        held   = already has human votes or a human decision: left to the humans
CREATE TABLE prelabels (
    item_id     VARCHAR NOT NULL,
    label       VARCHAR,
    confidence  DOUBLE NOT NULL,
    probs       JSON,
    route       VARCHAR NOT NULL,
    threshold   DOUBLE,
    n_sources   INTEGER NOT NULL,
    combiner    VARCHAR NOT NULL,
    run_id      VARCHAR,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE prelabel_thresholds (
    run_id      VARCHAR NOT NULL,
    label       VARCHAR NOT NULL,
    threshold   DOUBLE,                -- NULL: no confidence reaches the target, nothing of this class is auto-accepted
    precision   DOUBLE,                -- on evaluated items (gold + audited) at or above the threshold
    precision_low DOUBLE,              -- lower confidence bound that was compared with the target
    n_eval      INTEGER NOT NULL,      -- evaluated items predicted as this class at or above the threshold
    target      DOUBLE NOT NULL,
    confidence_level DOUBLE NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
