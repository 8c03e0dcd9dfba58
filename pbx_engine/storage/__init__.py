"""Storage: PostgreSQL migrations from `sql/`, the asyncpg pool and every query the engine runs."""
