"""Prices: ``GET /pricing`` (what each model costs now, and why), and overrides set
with ``PUT``/``DELETE /pricing/<model>``. A change applies to events received from
then on; ``agentlens reprice`` applies it to stored ones."""
from flask import Blueprint
from marshmallow import EXCLUDE, Schema

from .. import openapi
from ..db import get_db
from ..errors import APIError
from ..ingest.formats.shared import Timestamp
from ..pricing import overrides
from ..pricing.book import current_book, price_list
from ..security import require_api_key
from ..timestamps import now_ms
from . import json_body, load_args

bp = Blueprint("pricing", __name__)


class DeleteArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    valid_from = Timestamp()


DELETE_ARGS = DeleteArgs()


@bp.get("/pricing")
@openapi.operation("The price in force now of each model seen, and the overrides", "AgentLens",
                   auth=openapi.API_KEY, ok="Prices",
                   description="USD per million tokens; `source` is `genai-prices <version>`, "
                               "`override`, or null for a model without a price.")
@require_api_key
def get_prices():
    conn = get_db()
    return price_list(conn, current_book(conn), now_ms())


@bp.put("/pricing/<path:model>")
@openapi.operation("Set a price override for a model (from valid_from on, or at every date)",
                   "AgentLens", auth=openapi.API_KEY, body=overrides.OverrideBody,
                   ok="PriceOverride",
                   description="Applies to events received from then on; `agentlens reprice` "
                               "applies it to stored ones.")
@require_api_key
def put_price(model):
    override = overrides.parse(model, json_body())
    overrides.put(get_db(), override)
    return override.as_dict()


@bp.delete("/pricing/<path:model>")
@openapi.operation("Remove a model's overrides set through the API (one date with valid_from)",
                   "AgentLens", auth=openapi.API_KEY, query=DeleteArgs, ok="PricesDeleted",
                   errors=(400, 404))
@require_api_key
def delete_price(model):
    args = load_args(DELETE_ARGS)
    removed = overrides.delete(get_db(), model, args.get("valid_from", overrides.ANY_DATE))
    if not removed:
        raise APIError(404, f"No price override set through /pricing for model {model!r}"
                            + (" at that valid_from" if "valid_from" in args else ""))
    return {"deleted": removed}
