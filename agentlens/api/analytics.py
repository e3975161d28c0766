from flask import Blueprint

from .. import openapi
from ..db import get_db
from ..read.analytics import analytics
from ..security import require_api_key
from . import load_args
from .args import SessionFilterArgs

bp = Blueprint("analytics", __name__)
ANALYTICS_ARGS = SessionFilterArgs()


@bp.get("/analytics")
@openapi.operation("Aggregates over the sessions the filters select", "AgentLens",
                   auth=openapi.API_KEY, query=SessionFilterArgs, ok="Analytics",
                   errors=(400,))
@require_api_key
def get_analytics():
    return analytics(get_db(), **load_args(ANALYTICS_ARGS))
