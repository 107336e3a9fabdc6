"""The store's tests run on SQLite and on a real PostgreSQL (``tests/store/pg.py``)."""

from tests.store.pg import pg_url, postgres, store_url

__all__ = ["pg_url", "postgres", "store_url"]
