"""Policy change: the semantic diff of two versions, backtests, and the notice period of a change."""
