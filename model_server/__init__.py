"""A small HTTP model server for the scikit-learn pre-labeling model (tests, benches, local serving)."""
