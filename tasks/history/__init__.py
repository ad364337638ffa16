"""Analytics over time: what each stage run measured (`metric_history`), what the labels cost, and the
queries that read it back (export, headline of a run)."""
