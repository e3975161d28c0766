"""OTLP/HTTP trace bodies -> opentelemetry-proto messages, and their values -> plain Python.

Protobuf is read by opentelemetry-proto's generated classes. OTLP/JSON is read by
protobuf's own JSON mapping (``json_format``: field names in lowerCamelCase or as
in the .proto, enum values as names or numbers, 64-bit integers as strings or
numbers, unknown fields ignored), after the one thing OTLP/JSON does otherwise:
trace and span ids are hex, not base64. A span whose id is not hex is not a
reason to refuse its neighbours: its id is read as empty and the problem is
returned with its position, for the mapping to refuse that span alone. So is a
span that does not decode (a string that is not UTF-8, values nested past
protobuf's depth limit, a JSON value of the wrong type): an export that does not
decode as a whole is read again a piece at a time (its resources, scopes and
spans), and only one whose frame does not decode is an EventError (a 400), as is
one of more than MAX_SPANS spans.
"""
import base64
import binascii
import math
import re

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ... import jsonstrict
from ..events import EventError

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer",
              5: "consumer"}
HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
PROBLEM_CHARS = 300  # of a parser's message quoted back


def parse_protobuf(body, message=ExportTraceServiceRequest):
    """``(request, problems)``, as parse_json; the problems are of spans that do not
    decode (only a trace export is read again piece by piece)."""
    try:
        request = message.FromString(body)
    except (DecodeError, ValueError) as error:  # ValueError: the pure-Python decoder's UTF-8
        problem = EventError(f"Request body is not a protobuf {message.__name__}: {error}")
    else:
        if message is ExportTraceServiceRequest:
            check_span_count(request.resource_spans)
        return request, {}
    if message is not ExportTraceServiceRequest:
        raise problem
    try:
        frame = TRACE_FRAME.FromString(body)
    except (DecodeError, ValueError):
        raise problem from None
    check_span_count(frame.resource_spans)
    # A message field given twice is merged: so are its pieces, once joined.
    return piece_by_piece(
        [(b"".join(resource_spans.resource), [(b"".join(scope_spans.scope), scope_spans.spans)
                                              for scope_spans in resource_spans.scope_spans])
         for resource_spans in frame.resource_spans],
        lambda message, data: message.MergeFromString(data), protobuf_ids)


def parse_json(body):
    """``(request, problems)``: problems maps (resource, scope, span) positions to the
    message that refuses that span (an id that is not hex, a span that does not decode)."""
    data = json_object(body, ExportTraceServiceRequest)
    problems = hex_ids_to_base64(data)
    try:
        frame = json_frame(data)
    except TypeError:
        frame = None  # not the frame of an export: from_json says what is wrong
    else:
        check_span_count(frame, lambda resource: resource[1], lambda scope: scope[1])
    try:
        return from_json(data, ExportTraceServiceRequest), problems
    except EventError:
        if frame is None:
            raise
        request, undecoded = piece_by_piece(frame, read_json, json_ids)
        return request, {**undecoded, **problems}


def check_span_count(resources, scopes_of=lambda resource: resource.scope_spans,
                     spans_of=lambda scope: scope.spans):
    """EventError if an export has more than MAX_SPANS spans."""
    count = sum(len(spans_of(scope)) for resource in resources for scope in scopes_of(resource))
    if count > MAX_SPANS:
        raise EventError(f"Request body has {count} spans, more than the {MAX_SPANS} an "
                         "export may have")


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
    except PIECE_ERRORS as error:
        raise EventError(f"Request body is not an OTLP/JSON {message.__name__}: "
                         + str(error)[:PROBLEM_CHARS])


def frame_messages():
    """Message classes with the field numbers of ExportTraceServiceRequest, whose
    resources, scopes and spans are left as bytes (which protobuf does not check as
    it checks strings), to be decoded one at a time; and one with a span's ids alone."""
    file = descriptor_pb2.FileDescriptorProto(name="agentlens/otlp_frame.proto",
                                              package="agentlens.otlp_frame", syntax="proto3")
    fields = descriptor_pb2.FieldDescriptorProto
    for name, pieces in (("ScopeSpans", (("scope", 1, None), ("spans", 2, None))),
                         ("ResourceSpans", (("resource", 1, None),
                                            ("scope_spans", 2, "ScopeSpans"))),
                         ("Request", (("resource_spans", 1, "ResourceSpans"),)),
                         ("SpanIds", (("trace_id", 1, None), ("span_id", 2, None)))):
        message = file.message_type.add(name=name)
        for field_name, number, type_name in pieces:
            message.field.add(
                name=field_name, number=number,
                label=fields.LABEL_OPTIONAL if name == "SpanIds" else fields.LABEL_REPEATED,
                type=fields.TYPE_MESSAGE if type_name else fields.TYPE_BYTES,
                type_name=f".agentlens.otlp_frame.{type_name}" if type_name else None)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"agentlens.otlp_frame.{name}")) for name in ("Request", "SpanIds"))


TRACE_FRAME, SPAN_IDS = frame_messages()
PIECE_ERRORS = (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError)
MAX_SPANS = 100_000  # an export's: a 10 MiB body of empty spans would take seconds and GBs


def piece_by_piece(frame, read, read_ids):
    """``(ExportTraceServiceRequest, problems)`` from ``frame``, ``[(resource, [(scope,
    spans)])]``, each piece read into its message by ``read(message, piece)``: a span
    that does not decode (kept in its place with only its ids, by ``read_ids``, which
    name it in the problem), or whose scope or resource does not, is refused by its
    problem."""
    request, problems = ExportTraceServiceRequest(), {}
    for r, (resource, scopes) in enumerate(frame):
        resource_spans = request.resource_spans.add()
        above = read_piece(read, resource_spans.resource, resource, "its resource")
        for s, (scope, spans) in enumerate(scopes):
            scope_spans = resource_spans.scope_spans.add()
            outer = above or read_piece(read, scope_spans.scope, scope, "its scope")
            for k, piece in enumerate(spans):
                span = scope_spans.spans.add()  # in its place, refused or not
                problem = read_piece(read, span, piece, "the span")
                if problem:
                    read_piece(read_ids, span, piece, "its ids")
                if outer or problem:
                    problems[(r, s, k)] = outer or problem
    return request, problems


def read_piece(read, message, piece, what):
    try:
        read(message, piece)
    except PIECE_ERRORS as error:
        message.Clear()
        return f"{what} does not decode: {str(error)[:PROBLEM_CHARS]}"
    return None


def protobuf_ids(span, data):
    ids = SPAN_IDS.FromString(data)
    span.trace_id, span.span_id = ids.trace_id, ids.span_id


def read_json(message, value):
    if value is not None:
        json_format.ParseDict(value, message, ignore_unknown_fields=True)


def json_ids(span, value):
    json_format.ParseDict({key: value[key] for key in ("traceId", "trace_id", "spanId", "span_id")
                           if key in value}, span)


def json_frame(data):
    """The frame of an OTLP/JSON export (as piece_by_piece takes it); TypeError if its
    lists of resources and scopes are not lists of objects. A span that is not an
    object is a span that does not decode."""
    def listed(record, camel, snake, objects=True):
        value = field(record, camel, snake)
        if value is None:
            return []
        if not isinstance(value, list) or objects and not all(
                isinstance(item, dict) for item in value):
            raise TypeError(f"{camel}: not a list of objects")
        return value
    return [(field(resource_spans, "resource", "resource"),
             [(field(scope_spans, "scope", "scope"),
               listed(scope_spans, "spans", "spans", objects=False))
              for scope_spans in listed(resource_spans, "scopeSpans", "scope_spans")])
            for resource_spans in listed(data, "resourceSpans", "resource_spans")]


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
