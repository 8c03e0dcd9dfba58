"""Contact strategies: which message a case gets next, by its days past due, its last outcome
and its segment (`plan.py`, pure), as an operator's strategy file says (`files.py`); a
campaign's cases split at random between two strategies and the two compared (`split.py`,
pure)."""
