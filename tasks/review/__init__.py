"""Review: the policy that picks answers for reviewers (`policy`), what collect does with their decisions
and with reworked answers (`decisions`), and reviewers' figures per annotator (`stats`)."""
