"""The store: sessions, transcripts, audit, tickets, feedback; SQLite or PostgreSQL, Alembic migrations."""

import logging

# Alembic logs each plugin and migration context at INFO on every start (each worker, each
# test store); its warnings still show.
if logging.getLogger("alembic").level == logging.NOTSET:
    logging.getLogger("alembic").setLevel(logging.WARNING)
