from flask import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from ..db import get_db
from ..errors import APIError
from ..ingest.events import STATUSES
from ..read import sessions
from ..security import require_api_key
from . import load_args

bp = Blueprint("sessions", __name__)


class SessionListArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=50, validate=validate.Range(min=0))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))
    status = fields.String(validate=validate.OneOf(STATUSES))


SESSION_LIST_ARGS = SessionListArgs()


def session_or_404(session_id):
    session = sessions.get_session(get_db(), session_id)
    if session is None:
        raise APIError(404, "Session not found")
    return session


@bp.get("/sessions")
@require_api_key
def list_sessions():
    args = load_args(SESSION_LIST_ARGS)
    found, total = sessions.list_sessions(get_db(), **args)
    return {"sessions": found, "total": total}


@bp.get("/sessions/<session_id>")
@require_api_key
def get_session(session_id):
    session = sessions.get_session_with_events(get_db(), session_id)
    if session is None:
        raise APIError(404, "Session not found")
    return session
