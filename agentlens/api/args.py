"""Query-parameter schemas shared by the reading endpoints."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema

from ..ingest.formats.shared import Timestamp


class SessionFilterArgs(Schema):
    """``agent_name`` (or ``agent``, the reference's name for it) and a ``from``/``to``
    range on the session start, [from, to)."""

    class Meta:
        unknown = EXCLUDE

    agent_name = fields.String()
    agent = fields.String()
    started_from = Timestamp(data_key="from")
    started_to = Timestamp(data_key="to")

    @validates_schema
    def check_range(self, data, **kwargs):
        if data.get("started_from", 0) > data.get("started_to", float("inf")):
            raise ValidationError("Must not be before 'from'.", "to")
        if "agent" in data and "agent_name" in data and data["agent"] != data["agent_name"]:
            raise ValidationError("Must be the same as 'agent_name' when both are given.", "agent")

    @post_load
    def one_agent_name(self, data, **kwargs):
        if "agent" in data:
            data["agent_name"] = data.pop("agent")
        return data
