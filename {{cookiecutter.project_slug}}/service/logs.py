"""One logging setup for both servers: stderr always, plus LOG_FILE when it is set."""

from __future__ import annotations

import os
from typing import Any

from service.config import Settings

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# WatchedFileHandler reopens the file after logrotate moves it; it exists on POSIX only.
FILE_HANDLER = "logging.FileHandler" if os.name == "nt" else "logging.handlers.WatchedFileHandler"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, also used as Gunicorn's `logconfig_dict`."""
    handlers: dict[str, dict[str, Any]] = {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    }
    if settings.log_file is not None:
        handlers["file"] = {
            "class": FILE_HANDLER,
            "filename": str(settings.log_file),
            "formatter": "plain",
        }
    names = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": handlers,
        "root": {"level": settings.log_level, "handlers": names},
        "loggers": {
            # Gunicorn's own loggers do not propagate: give them the same handlers.
            "gunicorn.error": {"level": settings.log_level, "handlers": names, "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": names, "propagate": False},
            # Waitress warns for every request that waits for a thread; in a burst that is
            # the design working, and thousands of lines would bury real problems.
            "waitress.queue": {"level": "ERROR"},
        },
    }
