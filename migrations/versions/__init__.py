"""One module per revision of the case database's schema (loaded by Alembic by path)."""
