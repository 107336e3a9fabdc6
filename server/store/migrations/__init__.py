"""Alembic migrations of the store (run by ``server.store.migrate``, not by an ini file)."""
