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


def shown(value: float, kind: str) -> str:
    """A bound as FEATURES writes it (``kind``: int or float): 40_000, 12.0, 0.7."""
    if kind == "float":
        return format(float(value), "_.1f" if float(value).is_integer() else "_")
    return format(int(value), "_" if abs(value) >= 10_000 else "")


def bound(value: float, kind: str, up: bool) -> str:
    """The upper (``up``) or lower bound drafted from the largest or smallest value seen: 0 on a
    side no value reached (a count, an amount: never negative), else twice the value, rounded away
    from 0 to one significant digit: ages 18..76 draft 0..200, -3.2 drafts -7.0, 0.35 drafts 0.7.
    The same values draft the same bounds (decimal arithmetic, exact for these)."""
    far = Decimal(repr(float(value) if up else -float(value))) * 2
    if far <= 0:
        return shown(0, kind)
    unit = Decimal(1).scaleb(far.adjusted())  # 10 ** the place of the leading digit
    wide = (far / unit).to_integral_value(ROUND_CEILING) * unit
    return shown(float(wide if up else -wide), kind)
