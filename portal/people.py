"""People in human terms: display names (set by their owner), identicons drawn from the address,
and the one batched lookup that puts names on every page.

`{% person addr %}` (portal.templatetags.people) cannot know, while a page renders, which other
people the page will name, and a query per name would make every list's query count grow with its
rows. So the tag writes the short address inside a marker, and `PeopleNamesMiddleware` swaps the
markers of a finished HTML response for display names with one query, whatever the number of
people on the page (none when the page names nobody). Output rendered outside a request keeps the
short address, which is what the marker wraps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from .errors import DomainError, InvalidText
from .parsing import has_bad_text

DISPLAY_NAME_MAX = 80  # the column's length (User.display_name)
_MARK = re.compile(r"<!--pn:(0x[0-9a-fA-F]{40})-->(.*?)<!--/pn-->", re.S)


class InvalidDisplayName(DomainError):
    code = "invalid_input"
    status = 422


def display_name_set(*, user: Any, display_name: str) -> Any:
    """Set (or clear, with an empty string) the name shown for `user` instead of their address."""
    if not isinstance(display_name, str):
        raise InvalidDisplayName("The display name is text.")
    if has_bad_text(display_name):
        raise InvalidText("The display name holds a NUL byte or a lone surrogate.")
    name = " ".join(display_name.split())
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidDisplayName(f"A display name has at most {DISPLAY_NAME_MAX} characters.")
    if name.lower().startswith("0x"):
        raise InvalidDisplayName("A display name may not look like an address.")
    user.display_name = name
    user.save(update_fields=["display_name"])
    return user


def display_names(addresses: Iterable[str]) -> dict[str, str]:
    """{address: display name} for the given addresses that have one (one query)."""
    from .models import User

    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    rows = User.objects.filter(address__in=wanted).exclude(display_name="").values_list("address", "display_name")
    return dict(rows)


def identicon_svg(address: str, *, size: int = 16) -> str:
    """A 5×5 mirrored grid coloured from sha256(lowercase address): the same picture for the same
    address everywhere, drawn here (no script, no external service)."""
    digest = hashlib.sha256(address.lower().encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    colour = f"hsl({hue},55%,45%)"
    cells = []
    for row in range(5):
        for col in range(3):
            if digest[2 + row * 3 + col] & 1:
                for x in {col, 4 - col}:
                    cells.append(f'<rect x="{x}" y="{row}" width="1" height="1"/>')
    return (
        f'<svg class="identicon" width="{size}" height="{size}" viewBox="0 0 5 5" aria-hidden="true" '
        f'focusable="false"><rect width="5" height="5" fill="#eef0f3"/><g fill="{colour}">{"".join(cells)}</g></svg>'
    )


def name_marker(address: str, fallback: str) -> str:
    """What `{% person %}` writes where a display name may go (fallback is already escaped)."""
    return f"<!--pn:{address}-->{fallback}<!--/pn-->"


def fill_names(html: str) -> str:
    """Replace every name marker with the person's display name (one query) or its fallback."""
    if "<!--pn:" not in html:
        return html
    names = display_names(m.group(1) for m in _MARK.finditer(html))

    def swap(match: re.Match[str]) -> str:
        name = names.get(match.group(1))
        return escape(name) if name else match.group(2)

    return _MARK.sub(swap, html)


class PeopleNamesMiddleware:
    """Puts display names into the finished HTML of a page or an htmx fragment (see module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not getattr(response, "streaming", False)
            and response.get("Content-Type", "").startswith("text/html")
            and b"<!--pn:" in response.content
        ):
            charset = response.charset or "utf-8"
            response.content = fill_names(response.content.decode(charset)).encode(charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
