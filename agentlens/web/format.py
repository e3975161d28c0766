"""Jinja filters: how figures read on a page. Every one shows a missing value as a dash."""
import json

from ..read.numbers import round_half_up
from ..timestamps import format_ms, parse_iso

DASH = "—"
# A value of an event shown on the page is cut here; the exports carry it whole.
MAX_SHOWN_CHARS = 20_000


def number(value):
    """``12,345``; up to two decimals where the value has them (``250.5``), rounded half up."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{round_half_up(value, 2):,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def duration(ms):
    """``150 ms``, ``1.2 s``, ``3 min 4 s``, ``2 h 5 min``, ``3 d 4 h``."""
    if ms is None:
        return DASH
    if ms < 1000:
        return f"{number(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{round_half_up(seconds, 1):.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def when(iso):
    """``2026-02-14 10:30:05`` (UTC, as every time on the pages)."""
    if not iso:
        return DASH
    return iso.replace("T", " ").rsplit(".", 1)[0].removesuffix("Z")


def usd(value):
    """Costs to 6 decimals, as the API rounds them."""
    if value is None:
        return DASH
    return f"${value:,.6f}"


def signed_percent(value):
    if value is None:
        return "new"  # A was 0 and B is not: no percentage exists
    return f"{value:+,.2f} %".replace("+0.00 ", "0.00 ").replace("-", "−")


def signed_number(value):
    return "0" if value == 0 else ("+" if value > 0 else "−") + number(abs(value))


def pretty_json(value):
    """Indented JSON (text as it is), shortened past MAX_SHOWN_CHARS."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    if len(text) > MAX_SHOWN_CHARS:
        return (text[:MAX_SHOWN_CHARS] + f"\n… shortened: {len(text):,} characters in all;"
                " the JSON export has the whole value")
    return text


def input_value(iso):
    """An ISO time as a ``datetime-local`` field shows it: ``2026-02-14T10:30`` (UTC)."""
    if not iso:
        return ""
    try:
        text = when(format_ms(parse_iso(iso)))
    except ValueError:
        return iso
    return text.replace(" ", "T").removesuffix(":00")


def compact(value):
    """An axis label: ``950``, ``1.2k``, ``3M``; ``0.025`` below 1."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    if 0 < abs(value) < 1:
        return f"{value:.4g}"
    return number(value)


FILTERS = {function.__name__: function for function in (
    number, duration, when, usd, signed_percent, signed_number, pretty_json, input_value,
    compact,
)}
