-- Dispatch and collect. Audits: pre-labeling marks an auto-accepted item for a human check by
-- setting `audit = true` (state stays 'auto_accepted'); dispatch gives it one assignment of kind
-- 'audit'. Targeted gold: a gold assignment created to meet `gold.min_per_annotator` carries the
-- annotator it is meant for in `assignments.annotator_id` before it is done (collect overwrites it
-- with whoever answered, the same annotator in practice).
ALTER TABLE items ADD COLUMN audit BOOLEAN DEFAULT false;
