"""Keep the JSON contract at the edges: clients of /api/ and /auth/ get `{"error", "detail"}`
JSON for failures raised outside a view (bad text in the URL, oversized bodies, too many fields,
wrong methods, unknown URLs); pages keep their HTML error pages (portal.views handlers)."""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render

from .errors import error_response
from .parsing import url_has_bad_text

JSON_PREFIXES = ("/api/", "/auth/")


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES) or "application/json" in request.headers.get("Accept", "")


def is_api_path(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def exception_response(request: HttpRequest, exception: BaseException | None) -> HttpResponse | None:
    """The JSON answer for a request-parsing failure, wherever it was raised (view, middleware,
    handler400/500); None for anything else."""
    if isinstance(exception, RequestDataTooBig):
        return error_response("payload_too_large", "The request body is larger than this endpoint accepts.", 413)
    if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        return error_response("too_many_parts", "The request has too many form fields or files.", 400)
    if isinstance(exception, MultiPartParserError):
        return error_response("bad_request", "The multipart body is malformed.", 400)
    if isinstance(exception, SuspiciousOperation) and wants_json(request):
        return error_response("bad_request", "The request was refused as malformed.", 400)
    return None


class JsonErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # PostgreSQL refuses NUL in any text: a 400 here, not a 500 deep in a query.
        if url_has_bad_text(request.META.get("PATH_INFO", ""), request.META.get("QUERY_STRING", "")):
            detail = "The address or query string holds a NUL byte, a lone surrogate or bytes that are not UTF-8."
            if wants_json(request):
                return error_response("invalid_text", detail, 400)
            return render(request, "portal/error.html", {"title": "Bad request", "detail": detail}, status=400)
        response = self.get_response(request)
        if is_api_path(request) and response.status_code in (404, 405) and not _is_json(response):
            if response.status_code == 404:
                return error_response("not_found", f"No endpoint at {request.path}.", 404)
            allowed = response.get("Allow", "")
            answer = error_response(
                "method_not_allowed", f"{request.method} is not allowed here (allowed: {allowed}).", 405
            )
            if allowed:
                answer["Allow"] = allowed
            return answer
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return exception_response(request, exception)


def _is_json(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class PortalCSPMiddleware(CSPMiddleware):
    """django-csp for pages; JSON responses get the fixed policy OWASP recommends for APIs.

    A JSON answer is never rendered as a document (it also carries nosniff), so the page policy
    adds nothing there, and building it costs ~70 µs on the hottest endpoints (votes, usage)."""

    API_POLICY = "default-src 'none'; frame-ancestors 'none'"

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.get("Content-Type", "").startswith("application/json"):
            response.headers.setdefault("Content-Security-Policy", self.API_POLICY)
            return response
        return super().process_response(request, response)


class PageMessageMiddleware(MessageMiddleware):
    """Django's messages (the notices a page shows after a form), set up for pages only.

    No JSON operation adds or shows one (only the apps' views.py use django.contrib.messages), and
    building the storage cost a signed-in API call about 3% of its CPU. An API request leaves any
    stored messages as they are, as it did (nothing read them); process_response skips a request
    without storage."""

    def process_request(self, request: HttpRequest) -> None:
        if not is_api_path(request):
            super().process_request(request)
