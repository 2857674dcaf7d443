"""Keep the JSON contract at the edges: clients of /api/ and /auth/ get JSON errors even for
failures raised outside a view (oversized bodies, too many fields, unknown URLs)."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse

from .errors import error_response

JSON_PREFIXES = ("/api/", "/auth/")


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES) or "application/json" in request.headers.get("Accept", "")


class JsonErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 404 and request.path.startswith(JSON_PREFIXES) and not _is_json(response):
            return error_response("not_found", f"No endpoint at {request.path}.", 404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return error_response("payload_too_large", "The request body is larger than this endpoint accepts.", 413)
        if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
            return error_response("too_many_parts", "The request has too many form fields or files.", 400)
        if isinstance(exception, SuspiciousOperation) and wants_json(request):
            return error_response("bad_request", "The request was refused as malformed.", 400)
        return None


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
