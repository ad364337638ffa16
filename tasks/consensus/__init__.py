"""Pure consensus and quality-control cores: aggregation, label model, gold, agreement, decisions."""
