"""Agnost SDKs: point them at this server with ``endpoint=<base URL>``."""
from flask import Blueprint, current_app, request

from .. import metrics, openapi
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
@openapi.operation("Agnost: start a session", "Agnost", auth=openapi.ORG_ID,
                   body=agnost.CaptureSession, ok="AgnostSession")
def capture_session():
    org = org_id()
    event, update = agnost.session_start(
        json_body(), org, current_app.config["MAX_FIELD_BYTES"], now_ms())
    store(agnost.SOURCE, [event], [update])
    return {"session_id": event["session_id"]}


@bp.post("/capture-event")
@openapi.operation("Agnost: record one event (a tool call, agent turn, resource or prompt)",
                   "Agnost", auth=openapi.ORG_ID, body=agnost.CaptureEvent, ok="AgnostEvent")
@metrics.counts_refused_event(agnost.SOURCE)
def capture_event():
    org = org_id()
    event, updates = agnost.capture_event(
        json_body(), org, current_app.config["MAX_FIELD_BYTES"], now_ms())
    store(agnost.SOURCE, [event], updates)
    return {"success": True, "event_id": event["event_id"]}
