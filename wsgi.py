"""Entry point for production servers: ``gunicorn wsgi:app``."""
from agentlens import create_app

app = create_app()
