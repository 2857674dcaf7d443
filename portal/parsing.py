"""Request text is checked once, here, before any field reaches a schema or the database.

PostgreSQL refuses NUL in text and a lone surrogate cannot be encoded as UTF-8, so either would
become a 500 deep inside a query. `ensure_text` walks parsed JSON, form fields and query strings
and raises 400 `invalid_text`; JSON nested deeper than MAX_DEPTH is 400 `nesting_too_deep`
(checked by a scan of the raw bytes before parsing); a body that is not JSON is 422 `invalid_json`.
The middleware (portal.middleware) applies the same rule to the path and query string of every
request, and the streaming upload view calls `ensure_querydict_text` on its form fields."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from .errors import DomainError, InvalidText

MAX_DEPTH = 64
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# Brackets outside strings: strings (with escapes) are matched whole and skipped.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class NestingTooDeep(DomainError):
    code = "nesting_too_deep"
    status = 400


class InvalidJson(DomainError):
    code = "invalid_json"
    status = 422


def has_bad_text(value: str) -> bool:
    return _BAD_TEXT.search(value) is not None


def ensure_text(value: Any, *, where: str = "body") -> Any:
    """Raise InvalidText if any string (key or value) in a parsed structure holds a NUL byte or a
    lone surrogate; return the value unchanged."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD_TEXT.search(item):
                raise InvalidText(f"Some text in the {where} holds a NUL byte or a lone surrogate.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def ensure_querydict_text(data: MultiValueDict, *, where: str = "form") -> None:
    for key, values in data.lists():
        ensure_text(key, where=where)
        for value in values:
            # Form values are text; uploaded files carry metadata (their file name) as text.
            text = value if isinstance(value, str) else getattr(value, "name", "") or ""
            ensure_text(text, where=where)
            # Django decodes form bytes with errors="replace": bytes that are not UTF-8 (a lone
            # surrogate's among them) arrive as U+FFFD, which no browser sends for typed text.
            if "\ufffd" in text or "\ufffd" in key:
                raise InvalidText(f"Some text in the {where} is not valid UTF-8 (or holds a lone surrogate).")


def url_has_bad_text(path_info: str, query_string: str) -> bool:
    """True if the raw path (WSGI latin-1 text of the bytes) or query string decodes to a NUL
    byte, a lone surrogate or bytes that are not UTF-8. Django would otherwise re-percent-encode
    or replace them silently and pass junk on to views."""
    try:
        # Django's test client and some servers leave undecodable bytes percent-encoded.
        path = unquote_to_bytes(path_info.encode("latin-1").decode("utf-8")).decode("utf-8")
        query = unquote_to_bytes(query_string.replace("+", " ")).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return True
    return has_bad_text(path) or has_bad_text(query)


def json_depth_exceeds(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if brackets outside strings nest deeper than `limit` (a scan, no parsing)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


# Parsed JSON can hold a NUL or a lone surrogate only through a \\u escape (strict UTF-8 decoding
# and json.loads refuse them raw), so text without such an escape needs no walk.
_MAYBE_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _nested_deeper_than(data: Any, limit: int) -> bool:
    """True if lists and objects in parsed JSON nest deeper than `limit` (the top level is 1)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def parse_json(raw: bytes) -> Any:
    """The one JSON body parser: depth limit, strict UTF-8, no NaN/Infinity, text check.

    A refused body is checked for depth first (the raw scan), so its error is the same whichever
    problem the parser met first; a parsed one is measured as parsed (no second pass over bytes)."""
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        if json_depth_exceeds(raw):
            raise NestingTooDeep(f"The JSON body is nested deeper than {MAX_DEPTH} levels.") from None
        raise InvalidText("The body is not valid UTF-8.") from None
    except RecursionError:
        raise NestingTooDeep(f"The JSON body is nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError as exc:
        if json_depth_exceeds(raw):
            raise NestingTooDeep(f"The JSON body is nested deeper than {MAX_DEPTH} levels.") from None
        raise InvalidJson(f"The body is not JSON ({exc.args[0] if exc.args else 'malformed'}).") from None
    if _nested_deeper_than(data, MAX_DEPTH):
        raise NestingTooDeep(f"The JSON body is nested deeper than {MAX_DEPTH} levels.")
    return ensure_text(data) if _MAYBE_BAD_ESCAPE.search(text) else data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class PortalParser(Parser):
    """django-ninja's parser for every operation: JSON bodies and form fields are checked here."""

    def parse_body(self, request: HttpRequest) -> Any:
        return parse_json(request.body)

    def parse_querydict(self, data: MultiValueDict, list_fields: list[str], request: HttpRequest) -> dict[str, Any]:
        ensure_querydict_text(data)
        return super().parse_querydict(data, list_fields, request)
