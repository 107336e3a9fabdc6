"""The store fixtures (SQLite and a real PostgreSQL) for the store and turn tests here."""

from tests.store.pg import pg_url, postgres, store_url

__all__ = ["pg_url", "postgres", "store_url"]
