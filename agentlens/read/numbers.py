"""Rounding as people do it by hand: half away from zero, not to even."""
from decimal import ROUND_HALF_UP, Decimal


def round_half_up(value, places=2):
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    return int(rounded) if places == 0 else float(rounded)


def ratio(numerator, denominator, places=2, scale=1):
    """numerator / denominator * scale, rounded; 0 when the denominator is 0."""
    if not denominator:
        return 0
    return round_half_up(numerator * scale / denominator, places)
