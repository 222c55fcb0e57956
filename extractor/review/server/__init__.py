"""``imr-extract review STORE --serve``: a local web app where a person resolves each flagged value,
with the decisions appended to the store's ``corrections`` table (``extractor.sinks.corrections``).

``store.py`` reads and writes the store, ``app.py`` is the FastAPI app (pages and JSON API), ``serve.py``
runs it. Nothing here is imported at start-up: FastAPI, uvicorn and DuckDB load only to serve.
"""

from .serve import serve

__all__ = ["serve"]
