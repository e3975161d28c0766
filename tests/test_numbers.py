"""read/numbers.py: integer ratios computed without Decimal give what hand arithmetic
on the decimals gives (rounded half away from zero, then the nearest double)."""
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from agentlens.read.numbers import milliseconds, ratio

BIG = 10**20


def by_hand(numerator, denominator, places, scale=1):
    with localcontext() as context:
        context.prec = 100
        quotient = Decimal(numerator) * scale / Decimal(denominator)
        rounded = quotient.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(rounded) if places == 0 else float(rounded)


@given(st.integers(-BIG, BIG), st.integers(-BIG, BIG).filter(bool),
       st.integers(0, 6), st.sampled_from([1, 100]))
def test_integer_ratio_is_the_decimal_one(numerator, denominator, places, scale):
    result = ratio(numerator, denominator, places, scale)
    assert repr(result) == repr(by_hand(numerator, denominator, places, scale))  # -0.0 too


@given(st.integers(-BIG, BIG))
def test_milliseconds_of_microseconds(microseconds):
    assert repr(milliseconds(microseconds)) == repr(float(Decimal(microseconds).scaleb(-3)))


def test_halves_round_away_from_zero():
    assert ratio(5, 2, places=0) == 3
    assert ratio(-5, 2, places=0) == -3
    assert ratio(1, 8, places=2) == 0.13    # 0.125
    assert ratio(-1, 8, places=2) == -0.13
    assert ratio(2675, 1000, places=2) == 2.68  # 2.675, which a double holds below the half
    assert ratio(7, 0) == 0
    assert repr(ratio(-1, 1000)) == "-0.0"  # as the decimal path gives it
    assert repr(ratio(0, -5)) == "-0.0"
