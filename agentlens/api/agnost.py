"""Agnost SDKs: point them at this server with ``endpoint=<base URL>``."""
from flask import Blueprint, current_app, request

from ..ingest.formats import agnost
from ..security import check_key, credential_label
from ..timestamps import now_ms
from . import json_body, store

bp = Blueprint("agnost", __name__, url_prefix="/api/v1")


def org_id():
    """``X-Org-Id`` is these SDKs' credential: one of the API keys, unless in dev mode.
    Returns what the session keeps of it."""
    org = request.headers.get("X-Org-Id")
    check_key(org, "X-Org-Id")
    return credential_label(org)


@bp.post("/capture-session")
def capture_session():
    org = org_id()
    event, update = agnost.session_start(
        json_body(), org, current_app.config["MAX_FIELD_BYTES"], now_ms())
    store([event], [update])
    return {"session_id": event["session_id"]}


@bp.post("/capture-event")
def capture_event():
    org = org_id()
    event, updates = agnost.capture_event(
        json_body(), org, current_app.config["MAX_FIELD_BYTES"], now_ms())
    store([event], updates)
    return {"success": True, "event_id": event["event_id"]}
