"""Prices set by hand, which win over genai-prices: through ``PUT /pricing/<model>``
(kept in the ``price_overrides`` table) or in the JSON file named by
``AGENTLENS_PRICES`` (read at start-up).

An override is ``{"input", "cached_input", "cache_write", "output"}`` in USD per
million tokens, and an optional ``valid_from`` (ISO 8601): it applies to events
from that time on; without one it applies at every date. The file holds
``{"<model>": <override> or [<override>, ...]}``. A model matches an override
when its name is the same, exactly.
"""
from dataclasses import dataclass
from decimal import Decimal

from marshmallow import RAISE, Schema, ValidationError, validate

from .. import jsonstrict
from ..db import transaction
from ..errors import describe_validation_error
from ..ingest.formats.shared import Number, Timestamp
from ..timestamps import format_ms, now_ms
from . import rates
from .money import exact

MAX_PRICE = 10**6  # USD per million tokens; far above any real price
MAX_MODEL_CHARS = 256
API, FILE = "api", "file"
PRICES = ("input", "cached_input", "cache_write", "output")


def Price(**kwargs):
    return Number(allow_nan=False, validate=validate.Range(min=0, max=MAX_PRICE), **kwargs)


class OverrideBody(Schema):
    class Meta:
        unknown = RAISE  # a misspelt price must not be ignored silently

    input = Price(required=True)
    cached_input = Price(allow_none=True)
    cache_write = Price(allow_none=True)
    output = Price(required=True)
    valid_from = Timestamp(allow_none=True)


OVERRIDE_BODY = OverrideBody()


@dataclass(frozen=True)
class Override:
    model: str
    valid_from: object  # epoch ms, or None: every date
    input: Decimal
    cached_input: object  # Decimal or None: billed as input
    cache_write: object
    output: Decimal
    origin: str = API

    def model_price(self):
        return rates.flat_price(self.input, self.output, self.cached_input, self.cache_write)

    def as_dict(self):
        shown = {name: None if getattr(self, name) is None else float(getattr(self, name))
                 for name in PRICES}
        return {"model": self.model, **shown, "valid_from": format_ms(self.valid_from),
                "origin": self.origin}


def check_model(model):
    if not model or len(model) > MAX_MODEL_CHARS:
        raise ValidationError(f"Must be 1 to {MAX_MODEL_CHARS} characters.", "model")
    if "\x00" in model:
        raise ValidationError("Must not contain U+0000 (NUL).", "model")
    return model


def parse(model, body, origin=API):
    """An override from a request body (or a file entry); ValidationError naming the field."""
    if not isinstance(body, dict):
        raise ValidationError("Must be a JSON object.", "body")
    data = OVERRIDE_BODY.load(body)
    prices = {name: None if data.get(name) is None else exact(data[name]) for name in PRICES}
    return Override(check_model(model), data.get("valid_from"), **prices, origin=origin)


def load_file(path):
    """The overrides of an ``AGENTLENS_PRICES`` file; ValueError saying what is wrong."""
    try:
        with open(path, "rb") as handle:
            data = jsonstrict.loads(handle.read())
    except (OSError, jsonstrict.JSONProblem) as error:
        raise ValueError(str(error))
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object {"<model>": {"input": ..., "output": ...}}')
    overrides = []
    for model, entries in data.items():
        for index, entry in enumerate(entries if isinstance(entries, list) else [entries]):
            where = f"{model}[{index}]" if isinstance(entries, list) else model
            if not isinstance(entry, dict):
                raise ValueError(f"{where}: must be a JSON object of prices")
            try:
                overrides.append(parse(model, entry, FILE))
            except ValidationError as error:
                raise ValueError(describe_validation_error(error.normalized_messages(), where))
    return overrides


# --- the table ---------------------------------------------------------------

COLUMNS = ("model", "valid_from", *PRICES)
EVERY_DATE_KEY = "coalesce(valid_from, -9223372036854775808)"


def stored(conn):
    """Every override in the table, by model and date."""
    return [Override(row["model"], row["valid_from"],
                     *(None if row[name] is None else Decimal(row[name]) for name in PRICES))
            for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM price_overrides "
                                    f"ORDER BY model, {EVERY_DATE_KEY}")]


def version(conn):
    return conn.execute("SELECT version FROM pricing_version").fetchone()[0]


def moved(conn):
    conn.execute("UPDATE pricing_version SET version = version + 1")


def put(conn, override):
    """Store an override, replacing the model's one for the same date."""
    values = [override.model, override.valid_from,
              *(None if getattr(override, name) is None else str(getattr(override, name))
                for name in PRICES), now_ms()]
    with transaction(conn):
        conn.execute(
            f"INSERT INTO price_overrides ({', '.join(COLUMNS)}, updated_at) "
            f"VALUES ({', '.join('?' * len(values))}) "
            f"ON CONFLICT (model, {EVERY_DATE_KEY}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in (*PRICES, "updated_at")), values)
        moved(conn)


ANY_DATE = object()


def delete(conn, model, valid_from=ANY_DATE):
    """Remove a model's overrides (only the one for ``valid_from`` if given: None is the
    every-date one); returns how many were removed."""
    where, params = "model = ?", [model]
    if valid_from is None:
        where += " AND valid_from IS NULL"
    elif valid_from is not ANY_DATE:
        where += " AND valid_from = ?"
        params.append(valid_from)
    with transaction(conn):
        removed = conn.execute(f"DELETE FROM price_overrides WHERE {where}", params).rowcount
        if removed:
            moved(conn)
    return removed
