"""Domain errors and the one shape every error takes on the wire:
`{"error": <stable code>, "detail": <sentence>}` with a fitting HTTP status."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse


class DomainError(Exception):
    """An expected refusal: a stable machine code, a human sentence and an HTTP status.
    Subclasses set `code` and `status`; raise with a specific sentence."""

    code = "invalid_request"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


def error_response(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail}, status=status)


def ratelimited(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """django-ratelimit's RATELIMIT_VIEW: a JSON 429, never an HTML page."""
    return error_response("rate_limited", "Too many requests from this address; wait a minute and retry.", 429)
