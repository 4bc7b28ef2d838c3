"""Reporter stage: sales.stored → facts (SQL) → prompt → LLM → verify → PostgreSQL → sales.reports."""
