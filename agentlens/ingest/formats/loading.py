"""Loading a flat body with a marshmallow schema, paying only for the fields it carries.

``Schema.load`` visits every declared field of every event, present or not, and
runs each value through the field's machinery. On the ingest path most events
carry a few of the fields, and most values are plainly valid: a string where a
string is wanted, a non-negative integer for a count. :class:`FieldLoader` reads
the schema's own fields and validators once, and for each field the body
carries either recognises such a value as certainly valid (the same verdict
and the same result marshmallow would give) or hands it to the field itself,
which stays the judge of everything else and writes the error message.
"""
from marshmallow import ValidationError, fields, validate

from ...timestamps import parse_iso
from .shared import JSONValue, Number, Timestamp

UNSURE = object()


def certain(field):
    """A function value -> loaded value, or UNSURE when marshmallow must decide;
    None when nothing about the field is certain enough to skip marshmallow."""
    low, high = 0, None
    lengths = ranges = 0
    for validator in field.validators:
        if isinstance(validator, validate.Length) and validator.max is None and validator.equal is None:
            lengths += 1
            low = max(low, validator.min or 0)
        elif (isinstance(validator, validate.Range) and validator.min_inclusive
              and validator.max_inclusive):
            ranges += 1
            low, high = validator.min, validator.max
        else:
            return None
    if type(field) is fields.String and not ranges:
        return lambda value: value if type(value) is str and len(value) >= low else UNSURE
    if type(field) is JSONValue and not field.validators:
        if field.object_only:
            return lambda value: value if type(value) is dict else UNSURE
        return lambda value: value
    if type(field) is fields.Integer and field.strict and not lengths:
        return lambda value: (value if type(value) is int and (low is None or value >= low)
                              and (high is None or value <= high) else UNSURE)
    if type(field) is Timestamp and not field.validators:
        return _timestamp
    if type(field) is Number and not lengths:
        # A float from the parser is always finite (jsonstrict marks the rest); an
        # integer past 2**53 is left to marshmallow, which knows when float() overflows.
        return lambda value: (float(value) if (type(value) is float or (
            type(value) is int and -2**53 <= value <= 2**53))
            and (low is None or value >= low) and (high is None or value <= high) else UNSURE)
    return None


def _timestamp(value):
    if type(value) is not str:
        return UNSURE
    try:
        return parse_iso(value)
    except ValueError:
        return UNSURE


class FieldLoader:
    """``load(item)`` like ``schema.load(item)`` for a schema of flat fields with
    ``unknown = EXCLUDE`` whose fields allow None (kept as None)."""

    def __init__(self, schema):
        self.fields = {field.data_key or name: (name, field, certain(field))
                       for name, field in schema.fields.items()}
        self.order = list(self.fields)

    def load(self, item):
        if not isinstance(item, dict):
            raise ValidationError("Must be a JSON object.", "event")
        data, errors = {}, {}
        for key, value in item.items():
            known = self.fields.get(key)
            if known is None:
                continue
            name, field, fast = known
            if value is None:
                data[name] = None
                continue
            if fast is not None:
                loaded = fast(value)
                if loaded is not UNSURE:
                    data[name] = loaded
                    continue
            try:
                data[name] = field.deserialize(value, key, item)
            except ValidationError as error:
                errors[key] = error.messages
        if errors:
            raise ValidationError({key: errors[key] for key in self.order if key in errors})
        return data
