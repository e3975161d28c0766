"""Arithmetic as people do it by hand: on the decimals as they print, rounding
half away from zero (not to even, and not on binary floating point)."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

PRECISION = 60  # digits: ample for any sum of token counts or microseconds


def exact(value):
    """A number as the decimal it prints as: 0.1 is 0.1, not its binary neighbour."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def round_half_up(value, places=2):
    with localcontext() as context:
        context.prec = PRECISION
        rounded = exact(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(rounded) if places == 0 else float(rounded)


def ratio(numerator, denominator, places=2, scale=1):
    """numerator * scale / denominator, rounded; 0 when the denominator is 0."""
    if not denominator:
        return 0
    if type(numerator) is int and type(denominator) is int and type(scale) is int:
        return integer_ratio(numerator * scale, denominator, places)
    with localcontext() as context:
        context.prec = PRECISION
        return round_half_up(exact(numerator) * scale / exact(denominator), places)


def integer_ratio(numerator, denominator, places):
    """:func:`ratio` of integers in integer arithmetic, with the decimal path's results
    to the sign of zero: the nearest multiple of 10**-places, halves away from zero,
    then (places > 0) the double nearest it, which int / int gives exactly."""
    units, remainder = divmod(abs(numerator) * 10**places, abs(denominator))
    if 2 * remainder >= abs(denominator):
        units += 1
    value = units if places == 0 else units / 10**places
    return -value if (numerator < 0) != (denominator < 0) else value


def milliseconds(microseconds):
    """A sum of durations in µs, as ms with 3 decimals."""
    return ratio(microseconds, 1000, places=3)
