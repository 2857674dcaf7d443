"""Template filters for human terms, from portal.units: `{{ n|amount:"LAZ" }}`,
`{{ bps|percent }}`, `{{ seconds|duration }}`, `{{ dt|when }}`, `{{ a|share:b }}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils.html import format_html

from portal import units

register = template.Library()


@register.filter
def amount(value: Any, asset: str = "") -> str:
    """The amount with its unit; the raw integer (smallest units) in the title."""
    if value is None or value == "":
        return "—"
    return format_html(
        '<span class="amount" title="{} (smallest units)">{}</span>', value, units.format_amount(value, asset)
    )


@register.filter
def amount_text(value: Any, asset: str = "") -> str:
    """The amount with its unit, as plain text (for titles and attributes)."""
    return units.format_amount(value, asset)


@register.filter
def percent(bps: Any) -> str:
    return units.format_bps(bps)


@register.filter
def share(numerator: Any, denominator: Any) -> str:
    return units.format_ratio(numerator, denominator)


@register.filter
def duration(value: Any) -> str:
    return units.format_duration(value)


@register.filter
def when(value: datetime | None) -> str:
    """A <time> element with the moment and its zone."""
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), units.format_when(value))
