"""OTLP/HTTP (traces; metrics and logs are answered and discarded) and the AgentOps 0.4
SDK's calls.

Point an OpenTelemetry exporter at ``OTEL_EXPORTER_OTLP_ENDPOINT=<base URL>`` (it
adds ``/v1/traces``) with ``OTEL_EXPORTER_OTLP_HEADERS=x-api-key=<key>``; AgentOps
0.4 with ``agentops.init(api_key=..., endpoint=<base URL>,
exporter_endpoint=<base URL>/v1/traces)``. Bodies are protobuf or OTLP/JSON,
plain, gzip or deflate; the answer is in the request's encoding.
"""
import zlib

from flask import Blueprint, Response, current_app, request
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest, ExportLogsServiceResponse)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest, ExportMetricsServiceResponse)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .. import jsonstrict, metrics, openapi
from ..errors import APIError
from ..ingest.formats import agentops4, otlp, otlp_decode
from ..security import check_key_or_token, issue_api_token
from ..timestamps import now_ms
from . import json_body, request_body, store

bp = Blueprint("otlp", __name__)

PROTOBUF, JSON = "application/x-protobuf", "application/json"
ENCODINGS = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}
GZIP = 16 + zlib.MAX_WBITS
CODINGS = {"gzip": GZIP, "x-gzip": GZIP, "deflate": zlib.MAX_WBITS}
# OTLP bodies and answers: protobuf, or protobuf's JSON mapping (with hex ids).
EXPORT = {PROTOBUF: {"type": "string", "format": "binary"}, JSON: {"type": "object"}}
CREDENTIALS = ("X-API-Key, or Authorization: Bearer with an API key or a token from "
               "/v3/auth/token. ")
ENCODINGS_TEXT = ("Content-Encoding gzip, deflate or none; the answer is in the request's "
                  "encoding. ")
TOKEN = {"type": "object", "required": ["token", "project_id", "project_prem_status"],
         "additionalProperties": False,
         "properties": {"token": {"type": "string"}, "project_id": {"type": "string"},
                        "project_prem_status": {"const": "pro"}}}
LOGGED = {"type": "object", "required": ["trace_id", "event_id"], "additionalProperties": False,
          "properties": {"trace_id": {"type": "string"}, "event_id": {"type": "string"}}}


def encoding():
    """The request's encoding, from its Content-Type; 415 for any other."""
    found = ENCODINGS.get(request.mimetype)
    if found is None:
        raise APIError(415, f"Content-Type must be {PROTOBUF} or {JSON}, "
                            f"not {request.mimetype or '(none)'!r}")
    return found


def otlp_body():
    """The body, decompressed as Content-Encoding says; over MAX_CONTENT_LENGTH bytes
    before or after decompression is a 413 (a gzip bomb is refused, never inflated)."""
    body = request_body()
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in CODINGS:
        raise APIError(415, f"Content-Encoding must be gzip, deflate or identity, not {coding!r}")
    try:
        return inflate(body, CODINGS[coding], current_app.config["MAX_CONTENT_LENGTH"])
    except zlib.error as error:
        raise APIError(400, f"Request body could not be decompressed ({coding}): {error}")


def inflate(data, wbits, limit):
    """Decompress at most ``limit`` bytes, a piece at a time (several gzip members too)."""
    pieces, size = [], 0
    while True:
        decompressor = zlib.decompressobj(wbits)
        while not decompressor.eof:
            piece = decompressor.decompress(data, limit + 1 - size)
            size += len(piece)
            if size > limit:
                raise APIError(413, f"Request body is larger than {limit} bytes once decompressed")
            data = decompressor.unconsumed_tail
            if not piece and not data:
                raise zlib.error("incomplete or truncated stream")
            pieces.append(piece)
        data = decompressor.unused_data
        if not data or wbits != GZIP:
            return b"".join(pieces)


def answer(message, kind):
    if kind == PROTOBUF:
        return Response(message.SerializeToString(), mimetype=PROTOBUF)
    return Response(jsonstrict.dumps(json_format.MessageToDict(message)), mimetype=JSON)


@bp.post("/v1/traces")
@openapi.operation(
    "OTLP/HTTP: export spans (ExportTraceServiceRequest)", "OTLP", auth=openapi.API_KEY,
    body=EXPORT, ok=EXPORT, errors=(415,),
    description=CREDENTIALS + ENCODINGS_TEXT + "Spans that cannot be stored are refused one by "
    "one and counted in partial_success; the others are stored.")
def traces():
    check_key_or_token()
    kind = encoding()
    body = otlp_body()
    parse = otlp_decode.parse_protobuf if kind == PROTOBUF else otlp_decode.parse_json
    batch = otlp.export_request(*parse(body), now_ms(), current_app.config["MAX_FIELD_BYTES"])
    metrics.count_ingest(otlp.SOURCE, rejected=len(batch.rejected))
    rejected = batch.rejected
    if batch.events or batch.updates or batch.claims:
        result = store(otlp.SOURCE, batch.events, batch.updates, batch.claims)
        rejected = sorted(rejected + batch.refused_by_store(result.rejected))
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = len(rejected)
        response.partial_success.error_message = (
            f"{len(rejected)} of {batch.spans} spans rejected; the first: {rejected[0][1]}")
    return answer(response, kind)


DISCARDED = (CREDENTIALS + ENCODINGS_TEXT + "AgentLens keeps traces; a body that does not "
             "decode is a 400, as OTLP says.")


@bp.post("/v1/metrics")
@openapi.operation("OTLP/HTTP: metrics, accepted and discarded", "OTLP", auth=openapi.API_KEY,
                   body=EXPORT, ok=EXPORT, errors=(415,), description=DISCARDED)
def export_metrics():
    return discard(ExportMetricsServiceRequest, ExportMetricsServiceResponse)


@bp.post("/v1/logs")
@openapi.operation("OTLP/HTTP: logs, accepted and discarded (OpenLIT sends its GenAI events "
                   "there; their content is on its spans too)", "OTLP", auth=openapi.API_KEY,
                   body=EXPORT, ok=EXPORT, errors=(415,), description=DISCARDED)
def export_logs():
    return discard(ExportLogsServiceRequest, ExportLogsServiceResponse)


def discard(request_class, response_class):
    """Check the credentials and that the body decodes as ``request_class``; keep nothing."""
    check_key_or_token()
    kind = encoding()
    body = otlp_body()
    if kind == PROTOBUF:
        otlp_decode.parse_protobuf(body, request_class)
    else:  # their hex ids (exemplars', log records') read as base64 too: nothing is kept
        otlp_decode.from_json(otlp_decode.json_object(body, request_class), request_class)
    return answer(response_class(), kind)


@bp.post("/v3/auth/token")
@openapi.operation("AgentOps 0.4: an API key for a token", "AgentOps", body=agentops4.TokenBody,
                   ok=TOKEN, errors=(401,),
                   description="The key, in the body, is checked like every API key (401 when "
                   "keys are set and it is missing or wrong). The token authorises the OTLP "
                   "routes until the configured keys change, for 24 h at most.")
def auth_token():
    token, project_id = issue_api_token(agentops4.api_key_of(json_body()))
    # The SDK prints an upgrade notice unless the plan is "pro"; nothing is limited here.
    return {"token": token, "project_id": project_id, "project_prem_status": "pro"}


@bp.post("/v4/logs/upload/")
@openapi.operation("AgentOps 0.4: the log a trace printed", "AgentOps", auth=openapi.API_KEY,
                   body=agentops4.LogBody, ok=LOGGED,
                   description=CREDENTIALS + "The trace id, in decimal, in the Trace-Id header. "
                   "Kept as a log event of the trace, stored once however often it is sent.")
def upload_log():
    check_key_or_token()
    event = agentops4.log_event(json_body(), request.headers.get("Trace-Id"), now_ms(),
                                current_app.config["MAX_FIELD_BYTES"])
    store(otlp.SOURCE, [event])
    return {"trace_id": event["trace_id"], "event_id": event["event_id"]}
