from flask import Blueprint, current_app

from .. import openapi
from ..ingest.formats import agentlens
from ..security import require_api_key
from . import ingest_response, json_body

bp = Blueprint("events", __name__)


@bp.post("/events")
@openapi.operation(
    "Store a batch of events", "AgentLens", auth=openapi.API_KEY,
    body=openapi.batch_body("EventBatch", agentlens.EventSchema), ok="IngestResult",
    description="At most AGENTLENS_MAX_BATCH events (1000). Each event is validated on its "
                "own: the valid ones are stored, the others listed in `rejected`; a 400 "
                "only when none is valid. An event stored before counts in `duplicates`.")
@require_api_key
def ingest_events():
    events, rejected = agentlens.parse_batch(
        json_body(),
        max_batch=current_app.config["MAX_BATCH"],
        max_field_bytes=current_app.config["MAX_FIELD_BYTES"],
    )
    return ingest_response(agentlens.SOURCE, events, rejected)
