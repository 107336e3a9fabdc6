"""Alembic's environment for the store: runs on the connection ``server.store.migrate`` passes in.

The caller owns the transaction (and the lock that serialises concurrent upgrades), so
revisions, stamps and the version row all commit together or not at all. Model metadata
(for ``alembic revision --autogenerate``) is loaded only when asked
(``alembic_config(..., with_models=True)``): importing every model pulls in the admin UI.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData

config = context.config


def _target_metadata() -> MetaData | None:
    if not config.attributes.get("with_models"):
        return None
    from server.store.models import all_metadata

    return all_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `teller db upgrade` (server.store.migrate), not bare alembic")
    _run(connection)


_main()
