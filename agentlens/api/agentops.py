"""AgentOps REST v2: an API key buys a session JWT, the JWT authorises the rest.

Point the SDK at this server with ``agentops.init(api_key=..., endpoint=<base URL>)``.
Routes answer under ``/v2/`` and, as in the document's first examples, bare.
"""
from flask import Blueprint, current_app, request

from .. import openapi
from ..db import get_db
from ..errors import APIError
from ..ingest.formats import agentops
from ..ingest.formats.shared import batch_items
from ..ingest.store import amend_events
from ..security import bearer_session, check_key, issue_session_token
from ..timestamps import now_ms
from . import ingest_response, json_body, store

bp = Blueprint("agentops", __name__)
EVENTS_BODY = openapi.batch_body("AgentOpsEvents", agentops.EventBody)
AMENDMENTS_BODY = {"type": "object", "required": ["events"], "properties": {"events": {
    "type": "array", "minItems": 1, "items": {"allOf": [
        agentops.EventBody, {"anyOf": [{"required": ["id"]}, {"required": ["event_id"]}]}]}}}}
SESSION_FIELDS = 'The fields may also come under `"session"`, as the SDK sends them.'


def check_api_key():
    check_key(request.headers.get("X-Agentops-Api-Key"), "X-Agentops-Api-Key")


def events_of(body):
    return batch_items(body, current_app.config["MAX_BATCH"])


def check_same_session(token_session, named):
    if named is not None and named != token_session:
        raise APIError(401, "Token is for another session")


@openapi.operation("AgentOps: start a session and get its JWT", "AgentOps",
                   auth=openapi.AGENTOPS_KEY, body=agentops.SessionBody, ok="AgentOpsSession",
                   description=SESSION_FIELDS)
def create_session():
    check_api_key()
    session_id, event = agentops.create_session(
        json_body(), now_ms(), current_app.config["MAX_FIELD_BYTES"])
    store(agentops.SOURCE, [event])
    return {"status": "success", "jwt": issue_session_token(session_id),
            "session_id": session_id, "session_url": f"{request.host_url}sessions/{session_id}"}


@openapi.operation("AgentOps: a new JWT for a session", "AgentOps", auth=openapi.AGENTOPS_KEY,
                   body=agentops.ReauthorizeBody, ok="AgentOpsToken")
def reauthorize_jwt():
    check_api_key()
    session_id = agentops.reauthorized_session(json_body())
    return {"status": "success", "jwt": issue_session_token(session_id)}


@openapi.operation("AgentOps: end a session, or change its tags", "AgentOps",
                   auth=openapi.SESSION_TOKEN, body=agentops.SessionBody, ok="AgentOpsSuccess",
                   description=SESSION_FIELDS)
def update_session():
    token_session = bearer_session()
    session_id, events, updates = agentops.update_session(
        json_body(), token_session, now_ms(), current_app.config["MAX_FIELD_BYTES"])
    check_same_session(token_session, session_id)
    store(agentops.SOURCE, events, updates)
    return {"status": "success"}


@openapi.operation("AgentOps: record events (llms, tools, actions, errors)", "AgentOps",
                   auth=openapi.SESSION_TOKEN, body=EVENTS_BODY, ok="IngestResult")
def create_events():
    session_id = bearer_session()
    raw_events = events_of(json_body())
    for raw in raw_events:
        check_same_session(session_id, raw.get("session_id") if isinstance(raw, dict) else None)
    events, rejected = agentops.create_events(
        raw_events, session_id, now_ms(), current_app.config["MAX_FIELD_BYTES"])
    return ingest_response(agentops.SOURCE, events, rejected)


@openapi.operation("AgentOps: amend stored events by id", "AgentOps",
                   auth=openapi.SESSION_TOKEN, body=AMENDMENTS_BODY, ok="AgentOpsAmended")
def update_events():
    session_id = bearer_session()
    changes = [agentops.amendment(raw, current_app.config["MAX_FIELD_BYTES"])
               for raw in events_of(json_body())]
    missing = amend_events(get_db(), session_id, changes)
    return {"status": "success", "updated": len(changes) - len(missing), "not_found": missing}


@openapi.operation("AgentOps: name the session's agent", "AgentOps",
                   auth=openapi.SESSION_TOKEN, body=agentops.AgentBody, ok="AgentOpsSuccess")
def create_agent():
    update = agentops.create_agent(json_body(), bearer_session(), now_ms(),
                                   current_app.config["MAX_FIELD_BYTES"])
    store(agentops.SOURCE, [], [update])
    return {"status": "success"}


for view in (create_session, reauthorize_jwt, update_session, create_events, update_events,
             create_agent):
    bp.add_url_rule(f"/v2/{view.__name__}", view_func=view, methods=["POST"])
    bp.add_url_rule(f"/{view.__name__}", endpoint=f"bare_{view.__name__}", view_func=view,
                    methods=["POST"])
