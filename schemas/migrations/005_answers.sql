-- Structured answers (spans, boxes, transcripts, segments, comparisons, ratings): one JSON column per
-- table that holds answers. Choice kinds keep `label` / `labels`; which column a project's kind uses is
-- the kind's `storage.column` (tasks/kinds).

ALTER TABLE votes ADD COLUMN answer JSON;
ALTER TABLE gold ADD COLUMN answer JSON;
ALTER TABLE labels ADD COLUMN answer JSON;
ALTER TABLE prelabels ADD COLUMN answer JSON;
