"""Event monitoring: policy signals over an account's events, compiled to a Rete network."""
