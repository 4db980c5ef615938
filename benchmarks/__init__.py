"""Benchmarks, each run as `python -m benchmarks.<name>`; `run` sets Clearline beside peer engines."""
