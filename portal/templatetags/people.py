"""`{% person addr %}`: a person as people read them: identicon, display name (or the short
address 0x1234…abcd), the full address in its title, linking to their profile page. The display
name is filled in after rendering by portal.people.PeopleNamesMiddleware (one query per page)."""

from __future__ import annotations

import re

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from portal.people import identicon_svg, name_marker

register = template.Library()
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@register.filter
def short_address(address: str) -> str:
    address = str(address)
    return f"{address[:6]}…{address[-4:]}" if _ADDRESS.match(address) else address


@register.simple_tag
def identicon(address: str) -> str:
    address = str(address)
    return mark_safe(identicon_svg(address)) if _ADDRESS.match(address) else ""  # noqa: S308 (drawn from hex digits only)


@register.simple_tag
def person(address: str) -> str:
    address = str(address)
    if not _ADDRESS.match(address):
        return format_html('<span class="mono">{}</span>', address)
    short = format_html('<span class="mono">{}</span>', short_address(address))
    return format_html(
        '<a class="person" href="{}" title="{}">{}<span class="person-name">{}</span></a>',
        reverse("person", kwargs={"address": address}),
        address,
        mark_safe(identicon_svg(address)),  # noqa: S308 (drawn from hex digits only)
        mark_safe(name_marker(address, short)),  # noqa: S308 (address is checked hex; short is escaped)
    )
