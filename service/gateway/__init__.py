"""Gateway stage: authenticated HTTP in front of sales.raw, plus the read API."""
