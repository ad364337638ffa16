"""Review: the policy that picks answers for reviewers (`policy`), the queue their tasks go to (`queue`),
what collect does with their decisions and with reworked answers (`decisions`), and reviewers' figures
per annotator (`stats`). docs/review.md, "Review in the pipeline"."""
