"""Decisions: compile a policy, decide on an account's facts, the grace timeline and the decision record."""
