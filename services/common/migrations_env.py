"""The body of every service's Alembic `env.py`: online migrations against the configured URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine

from .db import make_engine


def run(metadata: MetaData) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    # SQLite rebuilds a table to alter it ("batch" mode); with foreign keys enforced it could not
    # drop a table others refer to, so migrations run without the pragma make_engine turns on.
    engine = create_engine(url) if url.startswith("sqlite") else make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
