"""The OpenAPI 3.1 document at ``/openapi.json``, built from the app's URL map.

A view declares itself with :func:`operation`, right under its route decorator:
what it is, its credential, its body and query parameters (the marshmallow
schemas it loads), its success response and the errors it may answer with. The
document lists every rule of the URL map whose view declared itself, under every
method of the rule; the HTML pages (``/``, ``/ui/...``) and static files are not
API and stay out. ``tests/test_openapi.py`` holds the document to the URL map.
"""
import dataclasses
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import EXCLUDE, Schema, fields, validate

from .api import shapes
from .ingest.formats.shared import JSONValue, SDKSchema, Timestamp

# Credentials, as security schemes.
API_KEY = "ApiKey"
ORG_ID = "OrgId"
AGENTOPS_KEY = "AgentOpsKey"
SESSION_TOKEN = "SessionToken"
SECURITY_SCHEMES = {
    API_KEY: {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    ORG_ID: {"type": "apiKey", "in": "header", "name": "X-Org-Id",
             "description": "Agnost's organisation id: one of the API keys."},
    AGENTOPS_KEY: {"type": "apiKey", "in": "header", "name": "X-Agentops-Api-Key",
                   "description": "AgentOps' API key: one of the API keys."},
    SESSION_TOKEN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "The JWT create_session or reauthorize_jwt returned."},
}
ERRORS = {
    400: "Invalid request: the error names the field and the problem",
    401: "Missing or invalid credential (only when AGENTLENS_API_KEY is set)",
    404: "Not found",
    413: "Request body larger than AGENTLENS_MAX_BODY_BYTES",
    415: "Unsupported Content-Type or Content-Encoding",
    429: "Rate limit exceeded (see Retry-After)",
}
JSON = "application/json"
PATH_PARAMETER = re.compile(r"<(?:[a-z]+:)?(\w+)>")


@dataclasses.dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    auth: str = None
    body: object = None  # a marshmallow schema or JSON Schema (JSON), or {media type: schema}
    query: type = None  # a marshmallow schema of the query parameters
    ok: object = None  # the success body: a component name, or {media type: schema}; None: none
    status: int = 200  # of success
    errors: tuple = ()  # beyond those implied (400 with a body, 401 with auth, 413, 429)
    description: str = None


def operation(summary, tag, **declared):
    """Declare a view's place in the OpenAPI document (see :class:`Operation`)."""
    def declare(view):
        view.openapi = Operation(summary, tag, **declared)
        return view
    return declare


def is_api(rule):
    """HTML pages and static files are not part of the API."""
    return not (rule.rule == "/" or rule.rule.startswith("/ui/") or rule.endpoint.endswith("static"))


def openapi_path(rule):
    """``/sessions/<path:session_id>`` -> ``/sessions/{session_id}``."""
    return PATH_PARAMETER.sub(r"{\1}", rule.rule)


def json_value_type(converter, field, **kwargs):
    """A JSONValue that takes only objects is documented as an object."""
    if isinstance(field, JSONValue) and field.object_only:
        return {"type": ["object", "null"] if field.allow_none else "object"}
    return {}


def sdk_null_means_absent(converter, field, ret, **kwargs):
    """The SDK formats take null for an optional field as its absence."""
    if isinstance(field.parent, SDKSchema) and not field.required and isinstance(ret.get("type"), str):
        return {"type": [ret["type"], "null"]}
    return {}


def schema_name(schema):
    """A nested request schema's component name: its class name (EventSchema, EventBody)."""
    return (schema if isinstance(schema, type) else type(schema)).__name__


def make_spec():
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title="AgentLens", version="0.1.0", openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Self-hosted observability for AI agents: the AgentLens REST API "
                             "the Agnost and AgentOps SDK wire formats, and OTLP/HTTP traces."},
    )
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    plugin.converter.add_attribute_function(json_value_type)
    plugin.converter.add_attribute_function(sdk_null_means_absent)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, schema in shapes.COMPONENTS.items():
        spec.components.schema(name, schema)
    return spec


def by_media_type(schema):
    """``{media type: schema}``: as given, or the schema (a component name) as JSON."""
    if isinstance(schema, dict) and schema and all("/" in key for key in schema):
        return schema
    return {JSON: shapes.ref(schema) if isinstance(schema, str) else schema}


def responses(declared, rate_limited):
    codes = set(declared.errors)
    if declared.body is not None:
        codes |= {400, 413}
    if declared.auth is not None:
        codes.add(401)
    if rate_limited:
        codes.add(429)
    result = {str(declared.status): {"description": "Success"}}
    if declared.ok is not None:
        result[str(declared.status)]["content"] = {
            media: {"schema": schema} for media, schema in by_media_type(declared.ok).items()}
    for code in sorted(codes):
        result[str(code)] = {"description": ERRORS[code],
                             "content": {JSON: {"schema": shapes.ref("Error")}}}
    return result


def describe(declared, rule, rate_limited):
    result = {"summary": declared.summary, "tags": [declared.tag],
              "operationId": rule.endpoint.replace(".", "_"),
              "responses": responses(declared, rate_limited)}
    if declared.description:
        result["description"] = declared.description
    if declared.auth is not None:
        result["security"] = [{declared.auth: []}]
    if declared.query is not None:
        result["parameters"] = [{"in": "query", "schema": declared.query}]
    if declared.body is not None:
        result["requestBody"] = {"required": True, "content": {
            media: {"schema": schema} for media, schema in by_media_type(declared.body).items()}}
    return result


def path_parameters(rule):
    return [{"in": "path", "name": name, "required": True,
             "schema": {"type": "string", "minLength": 1}}
            for name in PATH_PARAMETER.findall(rule.rule)]


def build(app):
    spec = make_spec()
    rate_limited = app.extensions.get("agentlens_rate_limited", set())
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        declared = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if declared is None or not is_api(rule):
            continue
        operations = paths.setdefault(openapi_path(rule), {"rule": rule, "operations": {}})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operations["operations"][method.lower()] = describe(
                declared, rule, rule.endpoint.rpartition(".")[0] in rate_limited)
    for path, entry in paths.items():
        spec.path(path=path, operations=entry["operations"],
                  parameters=path_parameters(entry["rule"]))
    return spec.to_dict()


def document(app):
    """The document, built once per app (the URL map does not change once serving)."""
    if "agentlens_openapi" not in app.extensions:
        app.extensions["agentlens_openapi"] = build(app)
    return app.extensions["agentlens_openapi"]


def batch_body(name, item_schema):
    """``{"events": [...]}`` of ``item_schema`` objects, as batch bodies are."""
    class Meta:
        unknown = EXCLUDE

    events = fields.List(fields.Nested(item_schema), required=True, validate=validate.Length(min=1))
    return type(name, (Schema,), {"Meta": Meta, "events": events})
