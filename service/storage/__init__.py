"""PostgreSQL: the system of record. Only this package imports asyncpg."""
