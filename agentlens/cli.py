"""The ``agentlens`` command: Flask's CLI bound to this app, serving on $PORT."""
import os

from flask.cli import FlaskGroup


def main():
    """``agentlens run`` listens on $PORT (3000 by default), like the reference server."""
    from . import create_app  # not at import time: the package imports its modules first

    os.environ.setdefault("FLASK_RUN_PORT", os.environ.get("PORT", "3000"))
    FlaskGroup(create_app=create_app, help="AgentLens server and maintenance commands.")()
