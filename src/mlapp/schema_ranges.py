"""The ranges the schema draft (``mlapp.schema_draft``) gives a number column: wider than the
values seen.

Validate, the service and the monitor refuse a value outside a feature's range, and a draft is
often kept as written. With the sample's extremes as bounds the service refused an 80-year-old
because the oldest seen was 76, validate then failed the next training table holding one, and a
monitored batch holding one was invalid (exit 2, no drift report). Refusing plausible traffic
costs more than accepting it, which the monitor's drift then shows. What a range is for stays
caught: a sign no value had (-1 for a missing count), and a placeholder (999, 99999) or a unit
error (cents for dollars, 100x) past twice the furthest value seen.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from mlapp.cells import FLOAT32_MAX, INT64_LIMIT

# The furthest value the model takes, which validate, the batch scorer and the service refuse past
# (float32's largest; int64's): a bound twice a value near it is it, not a range no value can fill
# (3.3e38 drafted 7e38, shown as 700_000_000_000_000_003_131_134_695_670_819_061_760.0).
LIMITS = {"float": Decimal(repr(FLOAT32_MAX)), "int": Decimal(int(INT64_LIMIT) - 1)}


def shown(value: float | Decimal, kind: str) -> str:
    """A bound as FEATURES writes it (``kind``: int or float): 40_000, 12.0, 0.7, 4e38 (a float's
    digits past 1e16 are binary noise: 4e38 is 399_999_..._272.0 written out)."""
    if kind == "float":
        number = float(value)
        if abs(number) >= 1e16:
            return repr(number).replace("e+", "e")
        return format(number, "_.1f" if number.is_integer() else "_")
    whole = int(value)
    return format(whole, "_" if abs(whole) >= 10_000 else "")


def bound(value: float, kind: str, up: bool) -> str:
    """The upper (``up``) or lower bound drafted from the largest or smallest value seen: 0 on a
    side no value reached (a count, an amount: never negative), else twice the value, rounded away
    from 0 to one significant digit: ages 18..76 draft 0..200, -3.2 drafts -7.0, 0.35 drafts 0.7;
    at most the model's limit (``LIMITS``). The same values draft the same bounds (decimal
    arithmetic, exact for these)."""
    far = Decimal(repr(float(value) if up else -float(value))) * 2
    if far <= 0:
        return shown(0, kind)
    unit = Decimal(1).scaleb(far.adjusted())  # 10 ** the place of the leading digit
    wide = min((far / unit).to_integral_value(ROUND_CEILING) * unit, LIMITS[kind])
    return shown(wide if up else -wide, kind)
