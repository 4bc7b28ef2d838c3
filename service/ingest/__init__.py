"""Ingest stage: sales.raw → validate → dedupe → PostgreSQL → sales.stored / sales.rejected."""
