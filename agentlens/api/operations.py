"""What an operator's tools read: ``/metrics`` (Prometheus) and ``/openapi.json``."""
from flask import Blueprint, Response, current_app

from .. import metrics, openapi
from ..db import get_db
from ..security import require_api_key

bp = Blueprint("operations", __name__)


@bp.get("/metrics")
@openapi.operation("Prometheus metrics: requests, latency, ingest counts, store size",
                   "Operations", auth=openapi.API_KEY, ok={"text/plain": {"type": "string"}})
@require_api_key
def get_metrics():
    body, content_type = metrics.exposition(get_db())
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
@openapi.operation("This document", "Operations", ok={"application/json": {"type": "object"}})
def get_openapi():
    return openapi.document(current_app)
