"""Amounts, shares, durations and times as a person reads them, defined in one place.

The ledger keeps every amount as an integer in its asset's smallest unit; `DECIMALS` says how many
of those digits a wallet shows after the point. LAZ and CREDIT are whole units today (0 decimals:
every figure in the portal, the API and the docs is a whole number of tokens); changing a value
here changes every page at once, and the raw integer stays in each amount's title."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

DECIMALS: dict[str, int] = {"LAZ": 0, "CREDIT": 0}


def format_amount(value: Any, asset: str = "", *, decimals: int | None = None) -> str:
    """`1234567` LAZ → "1,234,567 LAZ" (with 2 decimals: "12,345.67 LAZ"); trailing zeros after
    the point are dropped. Anything that is not a whole number is shown as given."""
    try:
        raw = int(Decimal(str(value)))
    except (ArithmeticError, ValueError, TypeError):
        return str(value)
    places = DECIMALS.get(asset, 0) if decimals is None else decimals
    sign, whole = ("-" if raw < 0 else ""), abs(raw)
    units, fraction = divmod(whole, 10**places) if places else (whole, 0)
    text = f"{sign}{units:,}"
    if places and fraction:
        text += "." + f"{fraction:0{places}d}".rstrip("0")
    return f"{text} {asset}".rstrip()


def format_bps(bps: Any, *, places: int = 1) -> str:
    """Basis points as a percentage: 6667 → "66.7%", 2000 → "20%"."""
    try:
        value = Decimal(str(bps)) / 100
    except (ArithmeticError, ValueError, TypeError):
        return str(bps)
    if 0 < abs(value) < 1:
        places = max(places, 2)  # 5 bps is 0.05%, not 0%
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def format_ratio(numerator: Any, denominator: Any, *, places: int = 1) -> str:
    """A share as a percentage ("66.7%"); "0%" of nothing."""
    try:
        n, d = Decimal(str(numerator)), Decimal(str(denominator))
    except (ArithmeticError, ValueError, TypeError):
        return "—"
    return format_bps(0 if d == 0 else n * 10_000 / d, places=places)


_STEPS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def format_duration(value: Any, *, parts: int = 2) -> str:
    """Seconds (or a timedelta) in words: 259200 → "3 days", 5400 → "1 hour 30 minutes"."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
    else:
        try:
            seconds = int(Decimal(str(value)))
        except (ArithmeticError, ValueError, TypeError):
            return str(value)
    if seconds <= 0:
        return "no time"
    words = []
    for name, size in _STEPS:
        count, seconds = divmod(seconds, size)
        if count:
            words.append(f"{count:,} {name}{'s' if count != 1 else ''}")
        if len(words) == parts:
            break
    return " ".join(words)


def format_when(value: datetime | None) -> str:
    """A moment with its zone: "2026-12-06 11:13 UTC" (the portal's zone is UTC)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M ") + (value.tzname() or "UTC")
