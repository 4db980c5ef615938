"""Side-by-side benchmarks of Clearline against peer engines (`python -m benchmarks.run`)."""
