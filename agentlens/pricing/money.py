"""Money is kept in integer nano-dollars (USD x 10^9), so that sums are exact in any
order; it is computed in decimal arithmetic and shown in USD rounded to 6 places."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

from ..rules import NANOS_PER_USD

PRECISION = 60  # digits: ample for any price times any token count
SHOWN_PLACES = Decimal("0.000001")


def exact(value):
    """A number as the decimal it prints as (0.1 is 0.1, not its binary neighbour)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def nanos(usd):
    """USD (a Decimal, int or float) -> integer nano-dollars, rounded half up."""
    with localcontext() as context:
        context.prec = PRECISION
        return int((exact(usd) * NANOS_PER_USD).to_integral_value(ROUND_HALF_UP))


def usd(nanos_total):
    """Integer nano-dollars -> USD rounded half up to 6 places, as a JSON number;
    None stays None (unpriced)."""
    if nanos_total is None:
        return None
    with localcontext() as context:
        context.prec = PRECISION
        return float((Decimal(nanos_total) / NANOS_PER_USD).quantize(SHOWN_PLACES, ROUND_HALF_UP))


def usd_text(nanos_total):
    """``$0.001234``: nano-dollars as text, 6 places."""
    with localcontext() as context:
        context.prec = PRECISION
        return f"${(Decimal(nanos_total) / NANOS_PER_USD).quantize(SHOWN_PLACES, ROUND_HALF_UP)}"
