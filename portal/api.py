"""The JSON API: one NinjaAPI mounted at the site root so that `/auth/…` (the SIWE endpoints
standard wallet adapters expect) and `/api/v1/…` share one OpenAPI document, served at
`/api/v1/openapi.json`. Every error leaves as `{"error": code, "detail": sentence}`."""

from __future__ import annotations

import importlib
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django_ratelimit.exceptions import Ratelimited
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError
from ninja.openapi.schema import OpenAPISchema

from .auth import BearerAuth
from .errors import DomainError
from .openapi_paths import EXTRA_PATHS
from .parsing import PortalParser
from .routers import X_ERROR_CODES
from .schemas import ErrorOut

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


class PortalAPI(NinjaAPI):
    """The API whose OpenAPI document states the whole contract of every operation: beside the
    domain codes an operation declares (portal.routers.PortalRouter `errors=`), it adds the
    statuses the request itself can cause, names each status's codes (`x-error-codes` and the
    response description) and the bearer scope the operation needs (`x-required-scope` and the
    BearerAuth security requirement)."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(*args, **kwargs)
        schema["paths"].update(EXTRA_PATHS)
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        scopes = self._operation_scopes()
        bearers = {
            name
            for name, scheme in schema["components"].get("securitySchemes", {}).items()
            if scheme.get("scheme") == "bearer"
        }
        for item in schema["paths"].values():
            for method, operation in item.items():
                if method in METHODS:
                    _complete_operation(method, operation, scopes.get(operation.get("operationId", "")), bearers)
        return schema

    def get_root_path(self, path_params: dict[str, Any]) -> str:
        # The API is mounted at the site root behind a zero-width prefix (portal.urls.API_PREFIXES),
        # which django-ninja's empty `api-root` pattern cannot be reversed through: the root is "/".
        return "/"

    def _operation_scopes(self) -> dict[str, str]:
        out = {}
        for bound in self._get_bound_routers():
            for view in bound.path_operations.values():
                for operation in view.operations:
                    for callback in operation.auth_callbacks or ():
                        if isinstance(callback, BearerAuth) and callback.scope:
                            out[operation.operation_id or self.get_openapi_operation_id(operation)] = callback.scope
        return out


def common_codes(method: str, operation: dict, scope: str | None) -> dict[int, set[str]]:
    """The codes an operation can answer because of the request itself, from its description."""
    codes: dict[int, set[str]] = {400: {"invalid_text"}}
    body = (operation.get("requestBody") or {}).get("content") or {}
    if operation.get("parameters") or body:
        codes[422] = {"invalid_input"}
    if "application/json" in body:
        codes[400] |= {"nesting_too_deep"}
        codes[422] |= {"invalid_json"}
    if "multipart/form-data" in body:
        codes[400] |= {"bad_request", "too_many_parts"}
    if body:
        codes[413] = {"payload_too_large"}
    if operation.get("security"):
        codes[401] = {"not_authenticated"}
        if method != "get":
            codes.setdefault(403, set()).add("csrf_failed")
        if scope:
            codes.setdefault(403, set()).add("insufficient_scope")
    return codes


def _complete_operation(method: str, operation: dict, scope: str | None, bearers: set[str]) -> None:
    declared = {int(status): set(group) for status, group in (operation.get(X_ERROR_CODES) or {}).items()}
    for status, group in common_codes(method, operation, scope).items():
        declared.setdefault(status, set()).update(group)
    responses = {str(status): answer for status, answer in operation.get("responses", {}).items()}
    for status, group in sorted(declared.items()):
        answer = responses.setdefault(str(status), {"content": {"application/json": {"schema": ERROR_REF}}})
        answer["description"] = f"{HTTPStatus(status).phrase}: " + ", ".join(f"`{c}`" for c in sorted(group))
    operation["responses"] = dict(sorted(responses.items()))
    operation[X_ERROR_CODES] = {str(status): sorted(group) for status, group in sorted(declared.items())}
    if scope:
        operation["x-required-scope"] = scope
        operation["security"] = [
            {name: [scope] if name in bearers else []}
            for requirement in operation.get("security") or []
            for name in requirement
        ]


api = PortalAPI(
    title="iDAO Portal API",
    version="1",
    description=(
        "Sign in with Ethereum, govern iDAOs, contribute, validate and earn. Authenticate with the "
        "session cookie (send `X-CSRFToken` on unsafe methods) or `Authorization: Bearer <token>`. "
        'Every error is JSON `{"error": <code>, "detail": <sentence>}`.'
    ),
    openapi_url="/api/v1/openapi.json",
    docs_url="/api/v1/docs",
    urls_namespace="api",
    parser=PortalParser(),
)


def _error(request: HttpRequest, code: str, detail: str, status: int) -> HttpResponse:
    return api.create_response(request, {"error": code, "detail": detail}, status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(request, exc.code, exc.detail, exc.status)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    parts = []
    for err in exc.errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return _error(request, "invalid_input", "; ".join(parts) or "The request body is not valid.", 422)


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, "not_authenticated", "Sign in with Ethereum or send a valid API token.", 401)


@api.exception_handler(AuthorizationError)
def _authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return _error(request, "forbidden", str(exc.message) if hasattr(exc, "message") else "Forbidden.", 403)


@api.exception_handler(Ratelimited)
def _ratelimited(request: HttpRequest, exc: Ratelimited) -> HttpResponse:
    return _error(request, "rate_limited", "Too many requests from this address; wait a minute and retry.", 429)


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return _error(request, "rate_limited", "Too many requests; wait and retry.", 429)


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, "forbidden", str(exc) or "You may not do this.", 403)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, "not_found", str(exc) or "Not found.", 404)


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, "payload_too_large", "The request body is larger than this endpoint accepts.", 413)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, DomainError):  # raised by PortalParser, wrapped by django-ninja
        return _domain_error(request, exc.__cause__)
    if isinstance(exc.__cause__, RequestDataTooBig):  # request.body read by django-ninja's parser
        return _too_big(request, exc.__cause__)
    if exc.status_code == 403 and "CSRF" in str(exc):
        return _error(
            request,
            "csrf_failed",
            "CSRF token missing or incorrect: send the csrftoken cookie's value as X-CSRFToken.",
            403,
        )
    codes = {
        400: "bad_request",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
    }
    return _error(request, codes.get(exc.status_code, "error"), str(exc), exc.status_code)


api.add_router("/auth", "portal.api_auth.router")
# Each domain app owns a router in its api.py; they are mounted here in dependency order.
for _prefix, _app in (
    ("/api/v1/ledger", "ledger"),
    ("/api/v1", "idaos"),
    ("/api/v1", "quorums"),
    ("/api/v1", "contributions"),
    ("/api/v1", "dats"),
    ("/api/v1", "rewards"),
    ("/api/v1", "notifications"),
):
    api.add_router(_prefix, importlib.import_module(f"{_app}.api").router)
api.add_router("/api/v1/erc8028", importlib.import_module("dats.erc8028_api").router)
