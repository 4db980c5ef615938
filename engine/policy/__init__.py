"""The policy front end: read the YAML source, check it against the schema and the semantic rules, load the typed model."""
