import re

from flask import Blueprint, Response
from marshmallow import EXCLUDE, Schema, fields, validate

from .. import openapi
from ..db import get_db, spooled
from ..errors import APIError
from ..ingest import store
from ..ingest.events import STATUSES
from ..ingest.formats.shared import Text
from ..read import compare, explain, export, sessions
from ..security import require_api_key
from . import json_body, load_args, shapes
from .args import SessionFilterArgs

bp = Blueprint("sessions", __name__)


class SessionListArgs(SessionFilterArgs):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=0, max=2**62))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    status = fields.String(validate=validate.OneOf(STATUSES))


class Lowercase(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).lower()


class ExportArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    format = Lowercase(load_default="json", validate=validate.OneOf(("json", "csv")))


class CompareBody(Schema):
    class Meta:
        unknown = EXCLUDE

    session_a = Text(required=True, validate=validate.Length(min=1))
    session_b = Text(required=True, validate=validate.Length(min=1))


SESSION_LIST_ARGS = SessionListArgs()
EXPORT_ARGS = ExportArgs()
COMPARE_BODY = CompareBody()


EXPORTS = {"json": (export.export_json, "application/json"), "csv": (export.export_csv, "text/csv")}


def export_download(session_id, export_format):
    """A session's export as a download (the API's and the web viewer's)."""
    produce, mimetype = EXPORTS[export_format]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_id)[:100]
    return Response(spooled(produce, session_id), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="session-{safe}.{export_format}"'})


@bp.get("/sessions")
@openapi.operation("Sessions, newest first", "AgentLens", auth=openapi.API_KEY,
                   query=SessionListArgs, ok="SessionList", errors=(400,),
                   description="`limit` above 200 is taken as 200.")
@require_api_key
def list_sessions():
    return Response(spooled(sessions.session_list_json, **load_args(SESSION_LIST_ARGS)),
                    mimetype="application/json")


@bp.get("/sessions/<path:session_id>")
@openapi.operation("A session and all its events, oldest first", "AgentLens",
                   auth=openapi.API_KEY, ok="SessionDetail", errors=(404,))
@require_api_key
def get_session(session_id):
    return Response(spooled(sessions.session_json, session_id), mimetype="application/json")


@bp.delete("/sessions/<path:session_id>")
@openapi.operation("Delete a session, its events and every figure they fed", "AgentLens",
                   auth=openapi.API_KEY, status=204, errors=(404,),
                   description="Analytics afterwards are those of a store that never had it.")
@require_api_key
def delete_session(session_id):
    if not store.delete_session(get_db(), session_id):
        raise APIError(404, "Session not found")
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body, so no type (not Flask's text/html)
    return response


@bp.get("/sessions/<path:session_id>/explain")
@openapi.operation("The session told as Markdown", "AgentLens", auth=openapi.API_KEY,
                   ok="Explanation", errors=(404,))
@require_api_key
def explain_session(session_id):
    explanation = explain.explain_session(get_db(), session_id)
    if explanation is None:
        raise APIError(404, "Session not found")
    return {"session_id": session_id, "explanation": explanation}


@bp.get("/sessions/<path:session_id>/export")
@openapi.operation("The whole session as JSON (with a summary) or CSV", "AgentLens",
                   auth=openapi.API_KEY, query=ExportArgs, errors=(400, 404),
                   ok={"application/json": shapes.ref("Export"), "text/csv": shapes.STRING})
@require_api_key
def export_session(session_id):
    export_format = load_args(EXPORT_ARGS)["format"]
    return export_download(session_id, export_format)


@bp.post("/sessions/compare")
@openapi.operation("Two sessions side by side, B relative to A", "AgentLens",
                   auth=openapi.API_KEY, body=CompareBody, ok="Comparison", errors=(404,))
@require_api_key
def compare_sessions():
    body = load_args(COMPARE_BODY, json_body())
    metrics = {}
    for which in ("session_a", "session_b"):
        metrics[which] = compare.session_metrics(get_db(), body[which])
        if metrics[which] is None:
            raise APIError(404, f"Session not found: {which} {body[which]!r}")
    return compare.compare(metrics["session_a"], metrics["session_b"])
