from flask import Blueprint

from ..db import get_db
from ..read.analytics import analytics
from ..security import require_api_key
from . import load_args
from .args import SessionFilterArgs

bp = Blueprint("analytics", __name__)
ANALYTICS_ARGS = SessionFilterArgs()


@bp.get("/analytics")
@require_api_key
def get_analytics():
    return analytics(get_db(), **load_args(ANALYTICS_ARGS))
