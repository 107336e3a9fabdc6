"""Every model of the store's database, for comparing the schema with the migrations.

Importing them all is slow (the drafts module pulls in the admin UI), so only autogenerate
and the schema tests do it; the migrations themselves never import models.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

MODEL_MODULES = (
    "server.store.tables",
    "server.store.audit",
    "server.store.tickets",
    "server.store.feedback",
    "server.auth.users",
    "server.admin.drafts",
)


def all_metadata() -> MetaData:
    """``Base.metadata`` with every table the app uses registered on it."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    from server.store.tables import Base

    return Base.metadata
