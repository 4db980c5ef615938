"""Policy tests: the tests a policy carries, run against the engine, and their coverage."""
