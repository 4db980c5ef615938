"""The audit trail: the append-only log of decision records, its writer, verification and replay."""
