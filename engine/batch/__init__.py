"""Portfolio-scale decisions: the policy compiled to SQL and run on DuckDB or Spark."""
