"""`owner|owner_address`: the person behind a `user:<address>` ledger account ("" for an iDAO
treasury, an escrow or a system account), so pages can name them with `{% person %}`."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def owner_address(owner: str) -> str:
    kind, _, rest = str(owner).partition(":")
    return rest if kind == "user" else ""
