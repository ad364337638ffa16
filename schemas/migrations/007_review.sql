-- Review. A reviewer checks one answer (a person's vote or the machine's auto-accepted label) and
-- accepts, corrects or rejects it. The review policy picks targets once (`review_targets`, keyed by
-- target); dispatch gives each target one assignment of kind 'review' whose task carries the
-- target in its context (`task_contexts`); collect records each decision once (`reviews`, keyed by
-- the judgment) and turns accepts and corrections into votes of the reviewer.

-- One row per picked target. target = the reviewed vote's id (a person's answer) or
-- 'machine:<item_id>:<pre-label run>' (an auto-accepted machine label).
CREATE TABLE review_targets (
    target        VARCHAR PRIMARY KEY,
    item_id       VARCHAR NOT NULL,
    origin        VARCHAR NOT NULL,        -- human | machine
    source_id     VARCHAR NOT NULL,        -- whose answer: human:<id>, or the pre-label's combiner (machine:<name>)
    reviewed_assignment VARCHAR,           -- the reviewed person's assignment (null for a machine label)
    reason        VARCHAR NOT NULL,        -- new_annotator | below_confidence | share | machine_share
    assignment_id VARCHAR NOT NULL,        -- the review assignment dispatch created for it
    selected_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id        VARCHAR
);

-- What a task shows the one who takes it besides the item, pushed with it (the queue's `context`).
-- exclude_annotators: who must never get it (the reviewed annotator and everyone else who answered the item).
CREATE TABLE task_contexts (
    assignment_id VARCHAR PRIMARY KEY,
    context       JSON NOT NULL,
    exclude_annotators VARCHAR[]
);

-- One row per reviewer decision, as pulled. A machine-label decision (a review of a machine label, or
-- an audit answered accept/reject in the grid) is also an audit of the pre-label.
CREATE TABLE reviews (
    review_id     VARCHAR PRIMARY KEY,     -- the decision's judgment id
    target        VARCHAR NOT NULL,
    item_id       VARCHAR NOT NULL,
    origin        VARCHAR NOT NULL,        -- human | machine
    reviewed_source VARCHAR,               -- human:<id> of the reviewed answer; the combiner for a machine label
    reviewer      VARCHAR NOT NULL,        -- the reviewer's annotator id
    decision      VARCHAR NOT NULL,        -- accept | correct | reject
    comment       VARCHAR,
    decided_at    TIMESTAMPTZ NOT NULL,
    judgment_id   VARCHAR NOT NULL,
    assignment_id VARCHAR NOT NULL,        -- the review (or audit) assignment the decision answered
    run_id        VARCHAR
);

-- A vote replaced by a later answer of the same person (a rework after a rejection, an edit in the
-- queue): the old answer is kept here, the live one stays in `votes`.
CREATE TABLE superseded_votes AS SELECT * FROM votes WITH NO DATA;
ALTER TABLE superseded_votes ADD COLUMN superseded_by VARCHAR;
ALTER TABLE superseded_votes ADD COLUMN superseded_at TIMESTAMPTZ;

-- >>> comments (issue 15, grid + comments): added below by its owner
-- Item comment threads and guideline questions, pulled from the built-in app at every collect (the app
-- holds them; a question is resolved later, so every row is re-read and replaced by comment_id). The
-- export lists, per version, the comments and questions of the items it exports (lineage/comments.parquet).
CREATE TABLE comments (
    comment_id  VARCHAR PRIMARY KEY,       -- the app's id
    item_id     VARCHAR NOT NULL,
    author      VARCHAR NOT NULL,          -- the app annotator id of a reviewer / expert / annotator, or 'admin'
    kind        VARCHAR NOT NULL,          -- comment | guideline_question | rejection | adjudication_note
    body        VARCHAR NOT NULL,
    reply_to    VARCHAR,                   -- the comment_id answered, in the same thread
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,               -- guideline questions: when the project owner answered
    resolved_by VARCHAR,
    resolution  VARCHAR,
    queue       VARCHAR NOT NULL,          -- the queue it was pulled from
    pulled_at   TIMESTAMPTZ NOT NULL
);
-- <<< comments
