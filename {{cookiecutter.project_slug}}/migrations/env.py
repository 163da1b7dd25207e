"""Alembic's environment, which `flask --app app db ...` (Flask-Migrate) runs in the app."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from service.settings import REQUIRED

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

if current_app.config["SETTINGS"].database_url is None:
    raise SystemExit(f"error: DATABASE_URL is not set: {REQUIRED['DATABASE_URL']}")
db = current_app.extensions["migrate"].db


def skip_empty_revision(migration_context: object, revision: object, directives: list) -> None:
    """`flask db migrate` with no model change writes no empty revision file."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_offline() -> None:
    """`flask db upgrade --sql`: print the SQL for a DBA instead of running it."""
    context.configure(url=db.engine.url, target_metadata=db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    options = {
        "process_revision_directives": skip_empty_revision,
        **current_app.extensions["migrate"].configure_args,
    }
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
