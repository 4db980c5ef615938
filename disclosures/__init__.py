"""Plain-language documents generated from a policy: disclosures, decision notices, change notices."""
