@echo off
{% if cookiecutter.server == "granian" -%}
rem Start the service with Granian, as ./start.sh does on Linux and macOS.
rem Settings (HOST, PORT, THREADS, ...) come from the environment and .env (service/settings.py).
{% else -%}
rem Start the service with Waitress, the production server that runs on Windows.
rem Settings (HOST, PORT, THREADS, ...) come from the environment and .env; app.py reads them.
{% endif -%}
setlocal
cd /d "%~dp0"

rem Use the project's virtual environment when there is one, unless PYTHON says otherwise.
if not defined PYTHON (
  if exist ".venv\Scripts\python.exe" (set "PYTHON=.venv\Scripts\python.exe") else (set "PYTHON=python")
)

"%PYTHON%" wsgi.py
exit /b %ERRORLEVEL%
