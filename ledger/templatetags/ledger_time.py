"""`{{ seconds|unix_utc }}`: Unix seconds (as block headers and ballots carry them) as a UTC date a person reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template

register = template.Library()


@register.filter
def unix_utc(seconds: Any) -> str:
    try:
        return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(seconds)
