"""OTLP/HTTP trace bodies -> opentelemetry-proto messages, and their values -> plain Python.

Protobuf is read by opentelemetry-proto's generated classes. OTLP/JSON is read by
protobuf's own JSON mapping (``json_format``: field names in lowerCamelCase or as
in the .proto, enum values as names or numbers, 64-bit integers as strings or
numbers, unknown fields ignored), after the one thing OTLP/JSON does otherwise:
trace and span ids are hex, not base64. A span whose id is not hex is not a
reason to refuse its neighbours: its id is read as empty and the problem is
returned with its position, for the mapping to refuse that span alone. A body
that does not decode at all is an EventError (a 400).
"""
import base64
import binascii
import math
import re

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ... import jsonstrict
from ..events import EventError

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer",
              5: "consumer"}
HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
PROBLEM_CHARS = 300  # of a parser's message quoted back


def parse_protobuf(body, message=ExportTraceServiceRequest):
    try:
        return message.FromString(body), {}
    except DecodeError as error:
        raise EventError(f"Request body is not a protobuf {message.__name__}: {error}")


def parse_json(body):
    """``(request, problems)``: problems maps (resource, scope, span) positions to the
    message that refuses that span (an id that is not hex)."""
    data = json_object(body, ExportTraceServiceRequest)
    problems = hex_ids_to_base64(data)
    return from_json(data, ExportTraceServiceRequest), problems


def json_object(body, message):
    try:
        data = jsonstrict.loads(body)
    except jsonstrict.JSONProblem as problem:
        raise EventError(f"Request body is not valid JSON: {problem}")
    if not isinstance(data, dict):
        raise EventError(f"Request body must be a JSON object (an {message.__name__})")
    return data


def from_json(data, message):
    """A JSON object read as ``message`` by protobuf's JSON mapping; EventError if it is not one."""
    try:
        return json_format.ParseDict(data, message(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise EventError(f"Request body is not an OTLP/JSON {message.__name__}: "
                         + str(error)[:PROBLEM_CHARS])


def field(data, camel, snake):
    """A field by either of the names protobuf's JSON mapping accepts."""
    return data.get(camel, data.get(snake)) if isinstance(data, dict) else None


def items(data, camel, snake):
    value = field(data, camel, snake)
    return value if isinstance(value, list) else []


ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))


def hex_ids_to_base64(data):
    """Rewrite, in place, the hex ids of spans and of their links as base64."""
    problems = {}
    for r, resource_spans in enumerate(items(data, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(items(resource_spans, "scopeSpans", "scope_spans")):
            for k, span in enumerate(items(scope_spans, "spans", "spans")):
                if not isinstance(span, dict):
                    continue
                found = [rewrite_ids(span)] + [rewrite_ids(link, f"links[{n}].") for n, link
                                               in enumerate(items(span, "links", "links"))
                                               if isinstance(link, dict)]
                if any(found):
                    problems[(r, s, k)] = next(filter(None, found))
    return problems


def rewrite_ids(record, where=""):
    """Hex ids of one span or link (``where``: which, in a message) as base64; the
    first problem, or None."""
    problem = None
    for names in ID_FIELDS:
        for name in names:
            value = record.get(name)
            if not isinstance(value, str):
                continue
            if HEX.fullmatch(value):
                record[name] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                problem = problem or f"{where}{names[0]}: not a hex id: {value[:40]!r}"
                record[name] = ""
    return problem


# --- values -------------------------------------------------------------------

def plain(value):
    """An AnyValue as a JSON value. Bytes become base64 text; NaN and infinities,
    which JSON cannot hold, the names OTLP/JSON gives them ("NaN", "Infinity", "-Infinity")."""
    kind = value.WhichOneof("value")
    if kind in SCALARS:
        return getattr(value, kind)
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else "Infinity" if number > 0 else "-Infinity"
    if kind == "array_value":
        return [plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return binascii.b2a_base64(value.bytes_value, newline=False).decode()
    return None


SCALARS = frozenset(("string_value", "int_value", "bool_value"))


def attributes(key_values):
    """Repeated KeyValue -> dict (a repeated key: the last one wins). Strings, the
    usual case by far, are read first (another kind reads as ""), without a call to
    plain (a hot path)."""
    result = {}
    for kv in key_values:
        value = kv.value
        text = value.string_value
        if text or value.WhichOneof("value") == "string_value":
            result[kv.key] = text
        else:
            result[kv.key] = plain(value)
    return result
