#!/usr/bin/env bash
{%- if cookiecutter.server == "granian" %}
# Start the service with Granian (start.ps1 does the same on Windows).
# Settings (HOST, PORT, WORKERS, THREADS, ...) come from the environment and .env;
# wsgi.py reads them.
{%- else %}
# Start the service with Gunicorn, the production server for Linux and macOS.
# Settings (HOST, PORT, WORKERS, THREADS, ...) come from the environment and .env;
# gunicorn.conf.py reads them.
{%- endif %}
set -euo pipefail

cd "$(dirname "$0")"

# Use the project's virtual environment when there is one, unless PYTHON says otherwise.
if [[ -z "${PYTHON:-}" && -x .venv/bin/python ]]; then
  PYTHON=.venv/bin/python
fi

{%- if cookiecutter.server == "granian" %}
# exec: Granian replaces this shell, so TERM and HUP from a process manager reach it.
exec "${PYTHON:-python3}" wsgi.py
{%- else %}
# exec: Gunicorn replaces this shell, so TERM and HUP from a process manager reach it.
exec "${PYTHON:-python3}" -m gunicorn --config gunicorn.conf.py wsgi:app
{%- endif %}
