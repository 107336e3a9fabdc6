"""Revisions of the store's schema, oldest first (``0001_initial`` is every table of 0.1)."""
