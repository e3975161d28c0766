"""Money is kept in integer nano-dollars (USD x 10^9), so that sums are exact in any
order; it is computed in decimal arithmetic and shown in USD rounded to 6 places."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

from ..rules import NANOS_PER_USD

PRECISION = 60  # digits: ample for any price times any token count
NANOS_PER_MICRO = 1000


def exact(value):
    """A number as the decimal it prints as (0.1 is 0.1, not its binary neighbour)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def nanos(usd):
    """USD (a Decimal, int or float) -> integer nano-dollars, rounded half up."""
    with localcontext() as context:
        context.prec = PRECISION
        return int((exact(usd) * NANOS_PER_USD).to_integral_value(ROUND_HALF_UP))


def micros(nanos_total):
    """Nano-dollars -> micro-dollars, rounded half away from zero, in integers."""
    magnitude = (abs(nanos_total) + NANOS_PER_MICRO // 2) // NANOS_PER_MICRO
    return magnitude if nanos_total >= 0 else -magnitude


def usd(nanos_total):
    """Integer nano-dollars -> USD rounded half up to 6 places, as a JSON number (the
    double nearest that decimal: an int divided by an int is correctly rounded);
    None stays None (unpriced)."""
    return None if nanos_total is None else micros(nanos_total) / 10**6


def usd_text(nanos_total):
    """``$0.001234``: nano-dollars as text, 6 places."""
    shown = micros(nanos_total)
    return f"{'-' if shown < 0 else ''}${abs(shown) // 10**6}.{abs(shown) % 10**6:06d}"
