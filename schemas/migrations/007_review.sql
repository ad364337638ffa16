-- Review (issue 15). This file is shared: the review tables (review_targets, task_contexts, reviews,
-- superseded_votes) are written by the pipeline-review part; each part keeps its own marked block.

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
