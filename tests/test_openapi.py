"""/openapi.json: an OpenAPI 3.1 document in step with the app's URL map."""
import re

import pytest
from flask import Blueprint
from openapi_spec_validator import validate

from agentlens import openapi

METHODS = {"get", "post", "put", "patch", "delete"}


def documented(document):
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in METHODS}


def api_rules(app):
    """``(METHOD, OpenAPI path)`` of every API rule of the URL map."""
    return {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules() if openapi.is_api(rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_a_valid_openapi_3_1_document(document):
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "AgentLens"


def test_every_api_rule_is_documented_and_nothing_else(app, document):
    assert documented(document) == api_rules(app)
    assert ("GET", "/sessions/{session_id}/export") in documented(document)
    assert ("POST", "/v2/create_events") in documented(document)
    assert ("POST", "/create_events") in documented(document)


def test_a_route_added_later_must_declare_itself(make_app):
    """A new blueprint's route without a declaration breaks the check above."""
    extra = Blueprint("extra", __name__)

    @extra.get("/budgets")
    def budgets():
        return {}

    app = make_app()
    app.register_blueprint(extra)
    assert ("GET", "/budgets") in api_rules(app)
    assert ("GET", "/budgets") not in documented(openapi.build(app))


def test_other_media_types_and_statuses(make_app):
    """What the routes to come need: a protobuf body, a success without a body."""
    extra = Blueprint("extra", __name__)

    @extra.post("/v1/traces")
    @openapi.operation("OTLP traces", "OTLP", auth=openapi.API_KEY, ok={"type": "object"},
                       body={"application/x-protobuf": {"type": "string", "format": "binary"},
                             "application/json": {"type": "object"}})
    def traces():
        return {}

    @extra.delete("/things/<path:thing_id>")
    @openapi.operation("Delete a thing", "AgentLens", auth=openapi.API_KEY, status=204,
                       errors=(404,))
    def delete_thing(thing_id):
        return "", 204

    app = make_app()
    app.register_blueprint(extra)
    document = openapi.build(app)
    validate(document)
    otlp = document["paths"]["/v1/traces"]["post"]
    assert sorted(otlp["requestBody"]["content"]) == ["application/json", "application/x-protobuf"]
    assert otlp["responses"]["200"]["content"] == {"application/json": {"schema": {"type": "object"}}}
    delete = document["paths"]["/things/{thing_id}"]["delete"]
    assert delete["responses"]["204"] == {"description": "Success"}
    assert sorted(delete["responses"]) == ["204", "401", "404"]


def test_html_pages_are_not_api(make_app):
    pages = Blueprint("pages", __name__)

    def page():
        return "<html></html>"

    pages.add_url_rule("/", view_func=page)
    pages.add_url_rule("/ui/sessions/<path:session_id>", view_func=page, endpoint="session")
    app = make_app()
    app.register_blueprint(pages)
    assert api_rules(app) == api_rules(make_app())
    assert documented(openapi.build(app)) == api_rules(app)


def test_the_marshmallow_schemas_are_the_request_bodies(document):
    schemas = document["components"]["schemas"]
    event = schemas["EventSchema"]["properties"]
    assert event["tokens_in"] == {"type": ["integer", "null"], "minimum": 0,
                                  "maximum": 1000000000000}
    assert event["timestamp"] == {"type": ["string", "null"], "format": "date-time"}
    assert event["metadata"] == event["input_data"] == {}  # any JSON value
    assert event["tool_call"] == {"type": ["object", "null"]}
    body = document["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/EventBatch"}
    assert schemas["EventBatch"]["properties"]["events"] == {
        "type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/EventSchema"}}
    assert schemas["CaptureEvent"]["required"] == ["primitive_name", "session_id"]
    # SDK formats: null means absent
    assert schemas["AgentBody"]["properties"]["id"] == {"type": ["string", "null"]}
    parameters = document["paths"]["/sessions"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("enum") for p in parameters}["status"] == [
        "active", "completed", "error"]


def test_responses_and_errors_are_described(document):
    ingest = document["paths"]["/events"]["post"]
    assert sorted(ingest["responses"]) == ["200", "400", "401", "413", "429"]
    assert ingest["security"] == [{"ApiKey": []}]
    error = {"$ref": "#/components/schemas/Error"}
    assert all(response["content"]["application/json"]["schema"] == error
               for code, response in ingest["responses"].items() if code != "200")
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    export = document["paths"]["/sessions/{session_id}/export"]["get"]
    assert sorted(export["responses"]) == ["200", "400", "401", "404", "429"]
    assert sorted(export["responses"]["200"]["content"]) == ["application/json", "text/csv"]
    health = document["paths"]["/health"]["get"]
    assert sorted(health["responses"]) == ["200"] and "security" not in health
    metrics = document["paths"]["/metrics"]["get"]
    assert sorted(metrics["responses"]) == ["200", "401"]  # not rate-limited
    assert document["paths"]["/v2/update_events"]["post"]["security"] == [{"SessionToken": []}]
    assert document["paths"]["/api/v1/capture-event"]["post"]["security"] == [{"OrgId": []}]


def test_public_even_with_a_key(make_app):
    response = make_app(API_KEYS=["k1"]).test_client().get("/openapi.json")
    assert response.status_code == 200 and response.get_json()["openapi"] == "3.1.0"
