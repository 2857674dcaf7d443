"""`{% person addr %}`: an address kept readable (0x1234…abcd) with the full one in its title,
linking to the person's profile page."""

from __future__ import annotations

import re

from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@register.filter
def short_address(address: str) -> str:
    address = str(address)
    return f"{address[:6]}…{address[-4:]}" if _ADDRESS.match(address) else address


@register.simple_tag
def person(address: str) -> str:
    address = str(address)
    if not _ADDRESS.match(address):
        return format_html('<span class="mono">{}</span>', address)
    return format_html(
        '<a class="mono" href="{}" title="{}">{}</a>',
        reverse("person", kwargs={"address": address}),
        address,
        short_address(address),
    )
