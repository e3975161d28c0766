"""Query-parameter schemas shared by the reading endpoints."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from ..ingest.formats.shared import Timestamp


class SessionFilterArgs(Schema):
    """``agent_name`` and a ``from``/``to`` range on the session start, [from, to)."""

    class Meta:
        unknown = EXCLUDE

    agent_name = fields.String()
    started_from = Timestamp(data_key="from")
    started_to = Timestamp(data_key="to")

    @validates_schema
    def check_range(self, data, **kwargs):
        if data.get("started_from", 0) > data.get("started_to", float("inf")):
            raise ValidationError("Must not be before 'from'.", "to")
