"""AgentLens: a self-hosted observability backend for AI agents."""
import logging
import os

from flask_cors import CORS

from . import (auto_retention, backup, config, db, demo, errors, headers, metrics, recount,
               retention, security, web)
from .api import agentops, agnost, analytics, events, health, operations, otlp, pricing, sessions
from .pricing import book as price_book, reprice
from .routing import AgentLens

logger = logging.getLogger(__name__)

RATE_LIMITED = {
    events.bp: "RATELIMIT_EVENTS",
    sessions.bp: "RATELIMIT_SESSIONS",
    analytics.bp: "RATELIMIT_ANALYTICS",
    agnost.bp: "RATELIMIT_SDK",
    agentops.bp: "RATELIMIT_SDK",
    otlp.bp: "RATELIMIT_SDK",
    web.bp: "RATELIMIT_SESSIONS",  # the pages: their own count, at the /sessions limit
    pricing.bp: "RATELIMIT_PRICING",
}


def create_app(test_config=None):
    """Build the app: defaults, then instance/config.py, then the environment
    (or ``test_config`` instead of those two)."""
    app = AgentLens(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    app.config["DATABASE"] = os.path.join(app.instance_path, "agentlens.sqlite3")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_mapping(config.from_environment())
    else:
        app.config.from_mapping(test_config)
    if not db.is_postgresql(app.config["DATABASE"]):
        os.makedirs(os.path.dirname(os.path.abspath(app.config["DATABASE"])), exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SECRET_KEY"] = config.instance_secret_key(app.instance_path)

    app.json.sort_keys = False
    db.init_app(app)
    errors.register_error_handlers(app)
    security.init_app(app, RATE_LIMITED)
    headers.init_app(app)
    metrics.init_app(app)
    CORS(app, origins=app.config["CORS_ORIGINS"],
         expose_headers=["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"])
    for blueprint in (health.bp, operations.bp, *RATE_LIMITED):
        app.register_blueprint(blueprint)
    demo.init_app(app)
    recount.init_app(app)
    web.init_app(app)
    backup.init_app(app)
    retention.init_app(app)
    auto_retention.init_app(app)
    price_book.init_app(app)
    reprice.init_app(app)

    if not app.config["API_KEYS"]:
        logger.warning("AGENTLENS_API_KEY is not set: dev mode, no API key is required")
    return app
