#!/usr/bin/env bash
# Start the service with Gunicorn, the production server for Linux and macOS.
# Settings (HOST, PORT, WORKERS, THREADS, ...) come from the environment and .env;
# gunicorn.conf.py reads them.
set -euo pipefail

cd "$(dirname "$0")"

# Use the project's virtual environment when there is one, unless PYTHON says otherwise.
if [[ -z "${PYTHON:-}" && -x .venv/bin/python ]]; then
  PYTHON=.venv/bin/python
fi

# exec: Gunicorn replaces this shell, so TERM and HUP from a process manager reach it.
exec "${PYTHON:-python3}" -m gunicorn --config gunicorn.conf.py wsgi:app
