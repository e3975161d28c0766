"""Ingest: wire formats (``formats/``) turn request bodies into normalised
events; :func:`store.store_batch` is the only code that writes them."""
