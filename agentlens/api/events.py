from flask import Blueprint, current_app

from ..ingest.formats import agentlens
from ..security import require_api_key
from . import ingest_response, json_body

bp = Blueprint("events", __name__)


@bp.post("/events")
@require_api_key
def ingest_events():
    events, rejected = agentlens.parse_batch(
        json_body(),
        max_batch=current_app.config["MAX_BATCH"],
        max_field_bytes=current_app.config["MAX_FIELD_BYTES"],
    )
    return ingest_response(events, rejected)
