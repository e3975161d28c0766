"""The ``agentlens`` command: Flask's CLI bound to this app, serving on $PORT."""
import os

from flask.cli import FlaskGroup


def create_cli_app():
    from . import create_app
    return create_app()


def init_app(app):
    from .demo import seed_demo_command
    app.cli.add_command(seed_demo_command)


def main():
    """``agentlens run`` listens on $PORT (3000 by default), like the reference server."""
    os.environ.setdefault("FLASK_RUN_PORT", os.environ.get("PORT", "3000"))
    FlaskGroup(create_app=create_cli_app, help="AgentLens server and maintenance commands.")()
