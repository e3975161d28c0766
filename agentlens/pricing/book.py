"""The price book: overrides over the genai-prices catalog, and what an event cost.

Each process keeps one book (per app) and checks ``pricing_version`` once per
batch, a single-row read: when a PUT or DELETE on ``/pricing`` (in any worker,
on any host sharing the database) moved it, the book is rebuilt from the table
before the batch is priced. So a changed price applies from the next batch on,
in every worker. Events already stored keep their cost until ``agentlens reprice``.
"""
import threading
from collections import defaultdict

from flask import current_app

from .. import rules
from ..timestamps import format_ms
from . import catalog, overrides, rates, tokens

OVERRIDE = "override"
CLIENT = "client"


class PriceBook:
    def __init__(self, file_overrides=(), table_overrides=()):
        merged = {}
        for override in (*file_overrides, *table_overrides):  # the table wins a tie
            merged[(override.model, override.valid_from)] = override
        by_model = defaultdict(list)  # model -> [(valid_from, Override, Rate)], by date
        for override in sorted(merged.values(), key=lambda o: (o.valid_from is not None,
                                                               o.valid_from or 0)):
            by_model[override.model].append(
                (override.valid_from, override, rates.Rate(override.model_price())))
        self.overrides = dict(by_model)

    def override_at(self, model, ts):
        """``(Override, Rate)`` in force for a model at a time, or None."""
        found = None
        for valid_from, override, rate in self.overrides.get(model, ()):
            if valid_from is not None and valid_from > ts:
                break
            found = override, rate
        return found

    def rate_at(self, model, provider, ts):
        """``(Rate, source)`` of a model at a time (epoch ms), or None: unpriced."""
        found = self.override_at(model, ts)
        if found is not None:
            return found[1], OVERRIDE
        rate = catalog.rate_at(model, provider, ts)
        return None if rate is None else (rate, catalog.SOURCE)

    def cost(self, event):
        """``(cost_nanos, cost_source)`` of a counted event (a mapping with model,
        provider, ts and the token buckets); ``(None, None)`` when it has no price:
        no model, no token count, buckets that do not fit, or a model without a price."""
        if event["model"] is None or (event["tokens_in"] is None and event["tokens_out"] is None):
            return None, None
        usage = tokens.Usage.of(event)
        if not usage.fits():
            return None, None
        found = self.rate_at(event["model"], event["provider"], event["ts"])
        if found is None:
            return None, None
        cost = found[0].nanos(usage)
        return (None, None) if cost is None else (cost, found[1])


class Cache:
    """One process's price book, rebuilt when ``pricing_version`` moves."""

    def __init__(self, file_overrides):
        self.file_overrides = file_overrides
        self.lock = threading.Lock()
        self.version, self.book = None, None

    def book_for(self, conn):
        seen = overrides.version(conn)  # read before the table: a change in between reloads again
        with self.lock:
            if seen != self.version:
                self.book = PriceBook(self.file_overrides, overrides.stored(conn))
                self.version = seen
            return self.book


def current_book(conn):
    """The app's price book, up to date with the overrides table."""
    return current_app.extensions["agentlens_prices"].book_for(conn)


def price_events(conn, events):
    """Set ``cost_nanos``/``cost_source`` of normalised events, before ``store_batch``
    and outside its write lock. A cost the client gave wins; lifecycle events are
    not counted and get none."""
    book = current_book(conn)
    for event in events:
        if event["cost_source"] != CLIENT and rules.is_counted(event["event_type"]):
            event["cost_nanos"], event["cost_source"] = book.cost(event)
    return events


def init_app(app):
    """Read ``AGENTLENS_PRICES`` once (a bad file stops the start, saying why)."""
    path = app.config.get("PRICES_FILE")
    file_overrides = []
    if path:
        try:
            file_overrides = overrides.load_file(path)
        except ValueError as problem:
            raise SystemExit(f"AGENTLENS_PRICES={path}: {problem}")
    app.extensions["agentlens_prices"] = Cache(file_overrides)


def price_list(conn, book, now):
    """``GET /pricing``: the price in force now of each model seen in events or given
    an override (USD per million tokens, and where it comes from), and the overrides."""
    seen = {row[0] for row in conn.execute(
        "SELECT DISTINCT model FROM event_rollup WHERE model != ''")}
    models = []
    for model in sorted(seen | book.overrides.keys()):
        found = book.rate_at(model, None, now)
        override = book.override_at(model, now)
        prices = (rates.displayed(found[0].model_price) if found else
                  dict.fromkeys(("input", "cached_input", "cache_write", "output")))
        models.append({"model": model, **prices, "source": found[1] if found else None,
                       "valid_from": format_ms(override[0].valid_from) if override else None})
    return {"catalog": catalog.SOURCE, "models": models,
            "overrides": [override.as_dict() for entries in book.overrides.values()
                          for _, override, _ in entries]}
