"""Blueprints: parse the request, call one function, serialise the result."""
import json

from flask import request
from .. import metrics
from ..db import get_db
from ..errors import APIError
from ..ingest.store import store_batch


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def json_body():
    """The request body parsed as JSON, whatever the Content-Type; 400 if it is not JSON."""
    data = request.get_data(cache=False)
    if not data.strip():
        raise APIError(400, "Request body is empty: expected a JSON object")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise APIError(400, f"Request body is not valid JSON: {error}")


def load_args(schema, args=None):
    """Query parameters (or ``args``) through a marshmallow schema; a ValidationError
    becomes the 400 naming the parameter in the one error handler (errors.py)."""
    return schema.load(request.args if args is None else args)


def ingest_response(source, events, rejected):
    """Store the valid events of a batch in format ``source``; 400 only when none is valid.

    ``processed`` counts the valid events, new or already stored.
    """
    metrics.count_ingest(source, rejected=len(rejected))
    if not events:
        first = rejected[0]
        raise APIError(
            400,
            f"No valid events: all {len(rejected)} rejected "
            f"(event {first['index']}: {first['error']})",
            rejected=rejected,
        )
    result = store_batch(get_db(), events)
    metrics.count_ingest(source, result.stored, result.duplicates)
    response = {"status": "ok", "processed": len(events)}
    if result.duplicates:
        response["duplicates"] = result.duplicates
    if rejected:
        response["rejected"] = rejected
    return response
