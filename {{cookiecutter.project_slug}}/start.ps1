{% if cookiecutter.server == "granian" -%}
# Start the service with Granian, as ./start.sh does on Linux and macOS.
# Settings (HOST, PORT, THREADS, ...) come from the environment and .env (service/settings.py).
{% else -%}
# Start the service with Waitress, the production server that runs on Windows.
# Settings (HOST, PORT, THREADS, ...) come from the environment and .env; app.py reads them.
{% endif -%}
$ErrorActionPreference = "Stop"
Set-Location -Path $PSScriptRoot

# Use the project's virtual environment when there is one, unless $env:PYTHON says otherwise.
$python = $env:PYTHON
if (-not $python) {
    $python = if (Test-Path ".venv\Scripts\python.exe") { ".venv\Scripts\python.exe" } else { "python" }
}

& $python wsgi.py
exit $LASTEXITCODE
