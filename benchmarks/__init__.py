"""Benchmarks of Clearline (run as modules, e.g. `python -m benchmarks.monitor`)."""
