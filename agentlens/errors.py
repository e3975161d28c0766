"""The one error shape: every 4xx and 5xx is ``{"error": "..."}``."""
import logging
import sqlite3

from flask import current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from .db import BUSY_TIMEOUT_MS
from .ingest.events import EventError
from .read.sessions import SessionNotFound

logger = logging.getLogger(__name__)


class APIError(Exception):
    """An error the client can act on; ``extra`` adds fields to the body."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_response(status, message, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def describe_validation_error(messages, prefix=""):
    """Flatten marshmallow's nested messages to ``field: problem; ...``."""
    if isinstance(messages, list):
        return f"{prefix}: {' '.join(str(m) for m in messages)}" if prefix else " ".join(map(str, messages))
    parts = []
    for field, problem in messages.items():
        name = field if field != "_schema" else ""
        path = f"{prefix}.{name}" if prefix and name else (prefix or name)
        parts.append(describe_validation_error(problem, path))
    return "; ".join(parts)


def http_error_message(error):
    if error.code == 404:
        return f"Not found: {request.path}"
    if error.code == 405:
        return f"Method {request.method} is not allowed for {request.path}"
    if error.code == 413:
        return f"Request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    if error.code == 429:
        return f"Rate limit exceeded: {error.description}"
    return error.description or error.name


def register_error_handlers(app):
    @app.errorhandler(APIError)
    def handle_api_error(error):
        return error_response(error.status, error.message, **error.extra)

    @app.errorhandler(SessionNotFound)
    def handle_session_not_found(error):
        return error_response(404, "Session not found")

    @app.errorhandler(EventError)
    def handle_event_error(error):
        return error_response(400, error.message)

    @app.errorhandler(ValidationError)
    def handle_validation_error(error):
        return error_response(400, describe_validation_error(error.normalized_messages()))

    @app.errorhandler(ClientDisconnected)
    def handle_incomplete_body(error):
        # Reading the body failed: under gunicorn, the client sent nothing for
        # CLIENT_TIMEOUT seconds (serving.py) before the end of its body.
        return error_response(408, "Request body incomplete: the client stopped sending it")

    @app.errorhandler(HTTPException)
    def handle_http_exception(error):
        response = error_response(error.code, http_error_message(error))
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(sqlite3.OperationalError)
    def handle_database_error(error):
        if str(error) != "database is locked":  # SQLITE_BUSY; not "database table is locked"
            return handle_unexpected(error)
        # Another writer held the database past the busy timeout: a client may retry.
        response = error_response(503, f"The database stayed busy for {BUSY_TIMEOUT_MS // 1000} s "
                                       "(another writer): try again later")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        logger.exception("Unhandled exception")
        return error_response(500, "Internal server error")
