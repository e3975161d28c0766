"""gunicorn -c for the fairness test: the production settings (./gunicorn.conf.py),
with 2 threads per worker."""
from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text())
threads = 2
