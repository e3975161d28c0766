"""Hand-made OTLP trace requests for the tests, built with opentelemetry-proto's classes.

    request = export([span(TRACE, "00000000000000a1", "chat gpt-4o", attrs={...})],
                     resource={"service.name": "svc"})
    request.SerializeToString()      # application/x-protobuf
    as_json(request)                 # OTLP/JSON text, ids in hex, as a collector sends it

Ids are given in hex; times in nanoseconds since the epoch.
"""
import base64
import json

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

T0_NS = 1_714_910_000_000_000_000  # 2024-05-05T11:53:20.000Z
MS = 1_000_000


def any_value(value):
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        result = AnyValue()
        result.array_value.values.extend(any_value(item) for item in value)
        return result
    if isinstance(value, dict):
        result = AnyValue()
        result.kvlist_value.values.extend(key_values(value))
        return result
    if value is None:
        return AnyValue()
    raise TypeError(value)


def key_values(mapping):
    return [KeyValue(key=key, value=any_value(value)) for key, value in mapping.items()]


def span(trace_id, span_id, name, *, parent=None, start_ms=0, duration_ms=10, attrs=None,
         status=None, events=(), kind=Span.SPAN_KIND_INTERNAL, links=()):
    """A span starting ``start_ms`` after T0. ``status``: (code, message); ``events``:
    (name, ms after T0, attributes) triples; ``links``: (trace_id, span_id) pairs."""
    result = Span(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id), name=name,
                  kind=kind, start_time_unix_nano=T0_NS + start_ms * MS,
                  end_time_unix_nano=T0_NS + (start_ms + duration_ms) * MS,
                  attributes=key_values(attrs or {}))
    if parent:
        result.parent_span_id = bytes.fromhex(parent)
    if status:
        result.status.CopyFrom(Status(code=status[0], message=status[1]))
    for event_name, at_ms, event_attrs in events:
        result.events.add(name=event_name, time_unix_nano=T0_NS + at_ms * MS,
                          attributes=key_values(event_attrs))
    for link_trace, link_span in links:
        result.links.add(trace_id=bytes.fromhex(link_trace), span_id=bytes.fromhex(link_span))
    return result


def export(spans, resource=None, scope_name="tests", scope_version="1.0"):
    """One resource, one scope, these spans."""
    scope_spans = ScopeSpans(spans=spans)
    scope_spans.scope.name = scope_name
    scope_spans.scope.version = scope_version
    resource_spans = ResourceSpans(scope_spans=[scope_spans])
    resource_spans.resource.attributes.extend(key_values(resource or {}))
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def as_json_dict(request):
    """OTLP/JSON of a request as a collector writes it: ids in hex, not base64."""
    data = json_format.MessageToDict(request)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                for record in [item, *item.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in record:
                            record[key] = base64.b64decode(record[key]).hex()
    return data


def as_json(request):
    return json.dumps(as_json_dict(request))


def response_of(http_response):
    """The ExportTraceServiceResponse of a protobuf answer."""
    assert http_response.status_code == 200, http_response.get_data(as_text=True)
    assert http_response.mimetype == "application/x-protobuf"
    return ExportTraceServiceResponse.FromString(http_response.get_data())
