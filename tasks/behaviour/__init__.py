"""Behaviour rules over annotators (too fast, straight-lining, gold drift) and pausing them."""
