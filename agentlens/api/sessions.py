import re

from flask import Blueprint, Response
from marshmallow import EXCLUDE, Schema, fields, validate

from ..db import get_db, spooled
from ..errors import APIError
from ..ingest.events import STATUSES
from ..ingest.formats.shared import Text
from ..read import compare, explain, export, sessions
from ..security import require_api_key
from . import json_body, load_args
from .args import SessionFilterArgs

bp = Blueprint("sessions", __name__)


class SessionListArgs(SessionFilterArgs):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=0, max=2**62))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    status = fields.String(validate=validate.OneOf(STATUSES))


class ExportArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class CompareBody(Schema):
    class Meta:
        unknown = EXCLUDE

    session_a = Text(required=True, validate=validate.Length(min=1))
    session_b = Text(required=True, validate=validate.Length(min=1))


SESSION_LIST_ARGS = SessionListArgs()
EXPORT_ARGS = ExportArgs()
COMPARE_BODY = CompareBody()


def session_or_404(session_id):
    session = sessions.get_session(get_db(), session_id)
    if session is None:
        raise APIError(404, "Session not found")
    return session


def attachment_name(session_id, extension):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", session_id)[:100]
    return f'attachment; filename="session-{safe}.{extension}"'


@bp.get("/sessions")
@require_api_key
def list_sessions():
    return Response(spooled(sessions.session_list_json, **load_args(SESSION_LIST_ARGS)),
                    mimetype="application/json")


@bp.get("/sessions/<path:session_id>")
@require_api_key
def get_session(session_id):
    session_or_404(session_id)
    return Response(spooled(sessions.session_json, session_id), mimetype="application/json")


@bp.get("/sessions/<path:session_id>/explain")
@require_api_key
def explain_session(session_id):
    explanation = explain.explain_session(get_db(), session_id)
    if explanation is None:
        raise APIError(404, "Session not found")
    return {"session_id": session_id, "explanation": explanation}


@bp.get("/sessions/<path:session_id>/export")
@require_api_key
def export_session(session_id):
    export_format = load_args(EXPORT_ARGS)["format"]
    session_or_404(session_id)
    if export_format == "csv":
        return Response(
            spooled(export.export_csv, session_id),
            mimetype="text/csv",
            headers={"Content-Disposition": attachment_name(session_id, "csv")},
        )
    return Response(spooled(export.export_json, session_id), mimetype="application/json")


@bp.post("/sessions/compare")
@require_api_key
def compare_sessions():
    body = load_args(COMPARE_BODY, json_body())
    metrics = {}
    for which in ("session_a", "session_b"):
        metrics[which] = compare.session_metrics(get_db(), body[which])
        if metrics[which] is None:
            raise APIError(404, f"Session not found: {which} {body[which]!r}")
    return compare.compare(metrics["session_a"], metrics["session_b"])
