from flask import Blueprint, current_app

from ..db import get_db
from ..errors import APIError
from ..ingest.formats import agentlens
from ..ingest.store import store_batch
from ..security import require_api_key
from . import json_body

bp = Blueprint("events", __name__)


def ingest_response(events, rejected):
    """Store what is valid; ``processed`` counts the valid events, stored or duplicate."""
    if not events:
        first = rejected[0]
        raise APIError(
            400,
            f"No valid events: all {len(rejected)} rejected "
            f"(event {first['index']}: {first['error']})",
            rejected=rejected,
        )
    result = store_batch(get_db(), events)
    response = {"status": "ok", "processed": len(events)}
    if result.duplicates:
        response["duplicates"] = result.duplicates
    if rejected:
        response["rejected"] = rejected
    return response


@bp.post("/events")
@require_api_key
def ingest_events():
    events, rejected = agentlens.parse_batch(
        json_body(),
        max_batch=current_app.config["MAX_BATCH"],
        max_field_bytes=current_app.config["MAX_FIELD_BYTES"],
    )
    return ingest_response(events, rejected)
