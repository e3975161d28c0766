from flask import Blueprint

from .. import openapi
from ..db import get_db
from ..timestamps import format_ms, now_ms

bp = Blueprint("health", __name__)


@bp.get("/health")
@openapi.operation("Liveness, with a database round trip; never needs a key", "Operations",
                   ok="Health")
def health():
    get_db().execute("SELECT 1")
    return {"status": "ok", "timestamp": format_ms(now_ms())}
