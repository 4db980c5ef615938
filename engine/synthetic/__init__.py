"""Synthetic data drawn from a policy: accounts and event streams."""
