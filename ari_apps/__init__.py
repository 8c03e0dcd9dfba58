"""Call flows: each a small explicit state machine driven by typed ARI events."""
