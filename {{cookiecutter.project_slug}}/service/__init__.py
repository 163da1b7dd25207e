"""The service's building blocks; `app.py` at the project root puts them together."""
