-- Consensus: the fitted parameters a re-run warm-starts from, and the fingerprint of the inputs
-- they were fitted on (a re-run whose inputs have the same fingerprint changes nothing).

CREATE TABLE consensus_state (
    scope        VARCHAR PRIMARY KEY,      -- 'labels': the project's one consensus model
    method       VARCHAR NOT NULL,
    settings_hash VARCHAR NOT NULL,        -- the config values the result depends on
    fingerprint  VARCHAR NOT NULL,         -- votes + gold + bans the parameters were fitted on
    n_votes      BIGINT NOT NULL,
    params       BLOB,                     -- npz: per model source ids, confusions, priors (EM methods)
    fit          JSON,                     -- iterations, convergence, objective, warm start
    agreement    JSON,                     -- the agreement summary of that run
    decisions    JSON,                     -- counts per decision of that run
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
