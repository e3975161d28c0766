"""Marshmallow fields and helpers shared by the wire formats (and query parameters)."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from ... import jsonstrict
from ...errors import describe_validation_error
from ...pricing.money import nanos
from ...timestamps import parse_iso
from ..events import EventError

# Beyond being non-empty, strings are bounded only by the field cap (make_event).
NOT_EMPTY = validate.Length(min=1)
MAX_TOKENS = 10**12  # far above any real count, far below what a SUM could overflow
MAX_COST_USD = 10**6  # for one event; keeps sums of nano-dollars far from overflow


class Timestamp(fields.Field):
    """ISO 8601 text (any offset; none means UTC) -> epoch milliseconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid ISO 8601 timestamp string.")
        try:
            return parse_iso(value)
        except ValueError:
            raise ValidationError(f"Not a valid ISO 8601 timestamp: {value[:64]!r}.")


class Text(fields.String):
    """A string SQLite can store: no lone surrogates (a "\\ud800" escape)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise ValidationError(jsonstrict.SURROGATE)
        return text


def Count(**kwargs):
    """A token count: a JSON integer from 0 to 10^12."""
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_TOKENS), **kwargs)


class Number(fields.Float):
    """A JSON number (not a numeric string, not a boolean)."""

    def _validated(self, value):
        if isinstance(value, (str, bool)):
            raise self.make_error("invalid")
        return super()._validated(value)


def Cost(**kwargs):
    """A cost the client already knows, in USD: a JSON number from 0 to 10^6."""
    return Number(allow_nan=False, validate=validate.Range(min=0, max=MAX_COST_USD), **kwargs)


def client_cost(cost_usd):
    """A client's cost in USD -> nano-dollars (None stays None)."""
    return None if cost_usd is None else nanos(cost_usd)


class Boolean(fields.Boolean):
    """A JSON true or false (not "true", not 1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class JSONValue(fields.Raw):
    """Any JSON value, or only an object with ``object_only``."""

    def __init__(self, *, object_only=False, **kwargs):
        super().__init__(**kwargs)
        self.object_only = object_only

    def _deserialize(self, value, attr, data, **kwargs):
        if self.object_only and not isinstance(value, dict):
            raise ValidationError("Must be a JSON object.")
        return value


JSON_STARTS = frozenset('{["-0123456789tfn')  # what a JSON text can start with, after blanks


def decode(value):
    """SDKs JSON-encode arguments and results (even plain text): decode once when it
    parses, else keep the text (not even tried when it cannot start a JSON text: the
    parser's failure is slow). An empty string is what they send for none."""
    if value == "":
        return None
    if isinstance(value, str) and value.lstrip()[:1] in JSON_STARTS:
        try:
            return jsonstrict.loads_strict(value)  # e.g. "NaN" is not: then kept as text
        except jsonstrict.JSONProblem:
            return value
    return value


def drop_nulls(data, name):
    """Optional fields sent as null count as absent; a non-object is refused."""
    if not isinstance(data, dict):
        raise ValidationError("Must be a JSON object.", name)
    return {key: value for key, value in data.items() if value is not None}


class SDKSchema(Schema):
    """An SDK's body: unknown fields ignored (SDKs send internals), null as absent.
    ``subject`` names the object in the error when the body is not one."""

    subject = "body"

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def treat_null_as_missing(self, data, **kwargs):
        return drop_nulls(data, self.subject)


def problem(error):
    """``field: problem`` text for a refused event (ValidationError or EventError)."""
    if isinstance(error, ValidationError):
        return describe_validation_error(error.normalized_messages())
    return error.message


def batch_items(body, max_batch):
    """The ``events`` array of a batch body; EventError (a 400) when the body is unusable."""
    items = body.get("events") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise EventError('events: required; the body must be a JSON object with an "events" array')
    if len(items) > max_batch:
        raise EventError(f"events: at most {max_batch} events per batch, got {len(items)}")
    if not items:
        raise EventError("events: must contain at least one event")
    return items


def parse_each(items, parse_one):
    """Validate each item on its own: ``(events, rejected)``, where rejected is
    ``[{"index": i, "error": "field: problem"}]`` for the refused ones."""
    events, rejected = [], []
    for index, item in enumerate(items):
        try:
            events.append(parse_one(item))
        except (ValidationError, EventError) as error:
            rejected.append({"index": index, "error": problem(error)})
    return events, rejected
