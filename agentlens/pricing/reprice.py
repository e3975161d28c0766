"""``agentlens reprice``: stored events priced again with the prices in force now.

A new price (an override, a newer genai-prices) applies to events received after
it; stored events keep their cost until this command runs. It reads the events in
id order, a chunk at a time, prices each at its own time, and writes those whose
cost changed through the store (``store.reprice_events``: one short transaction per
chunk, so ingest goes on meanwhile), so every session total and rollup moves
exactly. A cost the client gave is never changed.
"""
import sys
from collections import defaultdict
from dataclasses import dataclass

import click
from flask.cli import with_appcontext

from .. import rules
from ..db import get_db
from ..ingest.store import PRICED_FROM, reprice_events
from ..timestamps import parse_iso
from .book import CLIENT, current_book
from .money import usd_text

CHUNK = 1000


@dataclass
class ModelChange:
    """What repricing does to one model's events (only those whose cost changes)."""
    events: int = 0
    before_nanos: int = 0  # sums of the priced ones
    after_nanos: int = 0
    newly_priced: int = 0
    no_longer_priced: int = 0

    def add(self, before, after):
        self.events += 1
        self.before_nanos += before or 0
        self.after_nanos += after or 0
        self.newly_priced += before is None and after is not None
        self.no_longer_priced += before is not None and after is None

    def __str__(self):
        text = (f"{self.events} event{'s' * (self.events != 1)}, "
                f"{usd_text(self.before_nanos)} -> {usd_text(self.after_nanos)}")
        notes = [f"{count} {what}" for count, what in ((self.newly_priced, "newly priced"),
                                                       (self.no_longer_priced, "no longer priced"))
                 if count]
        return text + (f" ({', '.join(notes)})" if notes else "")


def selection(model, since):
    """``(where, params)``: the events a reprice looks at."""
    where = [rules.COUNTED, "model IS NOT NULL", "(cost_source IS NULL OR cost_source != ?)"]
    params = [CLIENT]
    if model is not None:
        where.append("model = ?")
        params.append(model)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    return " AND ".join(where), params


def count_events(conn, model=None, since=None):
    where, params = selection(model, since)
    return conn.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone()[0]


def reprice(conn, book, *, model=None, since=None, dry_run=False, progress=None):
    """Price the selected events again with ``book``; write the changes unless
    ``dry_run``. Returns ``({model: ModelChange}, events repriced)``; ``progress``
    is called with the number of events read after each chunk."""
    where, params = selection(model, since)
    changes_by_model, repriced, last_id = defaultdict(ModelChange), 0, 0
    while True:
        rows = conn.execute(
            f"SELECT id, session_id, cost_nanos, cost_source, {', '.join(PRICED_FROM)} "
            f"FROM events WHERE id > ? AND {where} ORDER BY id LIMIT ?",
            [last_id, *params, CHUNK]).fetchall()
        if not rows:
            break
        last_id = rows[-1]["id"]
        changes = []
        for row in rows:
            cost_nanos, cost_source = book.cost(row)
            if (cost_nanos, cost_source) != (row["cost_nanos"], row["cost_source"]):
                changes.append({**{column: row[column] for column in PRICED_FROM},
                                "id": row["id"], "session_id": row["session_id"],
                                "old_cost_nanos": row["cost_nanos"],
                                "old_cost_source": row["cost_source"],
                                "cost_nanos": cost_nanos, "cost_source": cost_source})
                changes_by_model[row["model"]].add(row["cost_nanos"], cost_nanos)
        if changes and not dry_run:
            repriced += reprice_events(conn, changes)
        if progress is not None:
            progress(len(rows))
    return dict(changes_by_model), repriced


def since_ms(context, parameter, value):
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time")


@click.command("reprice")
@click.option("--model", help="Only the events of this model.")
@click.option("--since", callback=since_ms, metavar="DATE",
              help="Only events from this date or time on (ISO 8601, UTC unless it says).")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@with_appcontext
def reprice_command(model, since, dry_run):
    """Price stored events again with today's prices (overrides and genai-prices)."""
    conn = get_db()
    book = current_book(conn)
    with click.progressbar(length=count_events(conn, model, since), label="Pricing events",
                           file=sys.stderr) as bar:
        by_model, repriced = reprice(conn, book, model=model, since=since, dry_run=dry_run,
                                     progress=bar.update)
    changing = sum(change.events for change in by_model.values())
    if dry_run:
        click.echo(f"Would reprice {changing} event{'s' * (changing != 1)} "
                   "(dry run, nothing changed).")
    else:
        click.echo(f"Repriced {repriced} event{'s' * (repriced != 1)}.")
    for name, change in sorted(by_model.items()):
        click.echo(f"  {name}: {change}")


def init_app(app):
    app.cli.add_command(reprice_command)
