"""Blueprints: parse the request, call one function, serialise the result."""
from flask import current_app, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge

from .. import jsonstrict, metrics
from ..db import get_db
from ..errors import APIError
from ..ingest.store import store_batch
from ..pricing.book import price_events

READ_BYTES = 64 * 1024


def request_body():
    """The raw body, at most MAX_CONTENT_LENGTH bytes (413 above), whatever its framing.

    With a Content-Length, Werkzeug refuses a larger body before reading it. A
    chunked body has none: it is read here up to one byte past the cap, because
    Werkzeug's own limit would silently cut it there. A body that cannot be read
    (a malformed chunk) is the client's error, not a 500.
    """
    if request.content_length is not None:
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream, chunks, size = request.environ["wsgi.input"], [], 0
    try:
        while size <= limit and (chunk := stream.read(min(READ_BYTES, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except HTTPException:
        raise
    except TimeoutError:  # the client stopped sending (CLIENT_TIMEOUT): a 408, as errors.py says
        raise ClientDisconnected()
    except Exception as error:  # the server's chunk parser: InvalidChunkSize and the like
        raise APIError(400, f"Request body could not be read: {error}")
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(chunks)


def json_body():
    """The request body parsed as strict JSON (jsonstrict), whatever the Content-Type;
    400 if it is not JSON."""
    data = request_body()
    if not data.strip():
        raise APIError(400, "Request body is empty: expected a JSON object")
    try:
        return jsonstrict.loads(data)
    except jsonstrict.JSONProblem as problem:
        raise APIError(400, f"Request body is not valid JSON: {problem}")


def load_args(schema, args=None):
    """Query parameters (or ``args``) through a marshmallow schema; a ValidationError
    becomes the 400 naming the parameter in the one error handler (errors.py)."""
    return schema.load(request.args if args is None else args)


def store(source, events, session_updates=(), trace_claims=()):
    """Price the events, then store_batch them on this request's connection, with the
    configured metadata cap (every wire format passes here); counted in the metrics
    under the wire format ``source``."""
    conn = get_db()
    result = store_batch(conn, price_events(conn, events), session_updates, trace_claims,
                         max_metadata_bytes=current_app.config["MAX_FIELD_BYTES"])
    metrics.count_ingest(source, result.stored, result.duplicates, len(result.rejected))
    return result


def ingest_response(source, events, rejected):
    """Store the valid events of a batch in format ``source``; 400 only when none is valid.

    ``processed`` counts the events stored or already there; ``rejected`` the
    refused ones by their index in the request, whether the format refused them
    or the store (a session's merged metadata would be too large).
    """
    metrics.count_ingest(source, rejected=len(rejected))
    processed, duplicates = 0, 0
    if events:
        result = store(source, events)
        processed, duplicates = len(events) - len(result.rejected), result.duplicates
        rejected = merge_rejected(rejected, result.rejected, len(events) + len(rejected))
    if not processed:
        first = rejected[0]
        raise APIError(
            400,
            f"No valid events: all {len(rejected)} rejected "
            f"(event {first['index']}: {first['error']})",
            rejected=rejected,
        )
    response = {"status": "ok", "processed": processed}
    if duplicates:
        response["duplicates"] = duplicates
    if rejected:
        response["rejected"] = rejected
    return response


def merge_rejected(rejected, by_store, items):
    """The format's rejections plus the store's, which name a position among the valid
    events (they are in request order), as one list by request index."""
    if not by_store:
        return rejected
    refused = {r["index"] for r in rejected}
    valid = [index for index in range(items) if index not in refused]
    return sorted(rejected + [{"index": valid[position], "error": message}
                              for position, message in by_store], key=lambda r: r["index"])
