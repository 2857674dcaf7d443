"""The operation contract: every app's api.py uses PortalRouter, so each operation declares

- its output schema (`response=`; a bare `dict` is refused: no untyped answers),
- the error codes it can answer (`errors=("idao_not_found", "not_member")`), which become
  `{status: ErrorOut}` responses from portal.errors.CODES and an `x-error-codes` map in OpenAPI,
- the token scope it needs (`auth=api_auth(scope="governance:write")`, see portal.auth).

The statuses every operation can answer because of the request itself (400 `invalid_text`,
401 `not_authenticated`, 403 `insufficient_scope`/`csrf_failed`, 413, 422 `invalid_input`) are
added to the document by portal.api.PortalAPI, so operations declare only their domain codes.

    @router.post("/idaos/{slug}/join", auth=api_auth(scope="governance:write"),
                 response={201: MembershipOut}, errors=("idao_not_found", "already_member"))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ninja import Router
from ninja.constants import NOT_SET

from .errors import statuses_of
from .schemas import ErrorOut

X_ERROR_CODES = "x-error-codes"


def error_responses(codes: Sequence[str | tuple[str, int]]) -> dict[int, type[ErrorOut]]:
    """`{status: ErrorOut}` for the codes (KeyError for a code missing from CODES)."""
    return dict.fromkeys(statuses_of(tuple(codes)), ErrorOut)


def with_errors(
    response: Any, codes: Sequence[str | tuple[str, int]], openapi_extra: dict[str, Any] | None, *, default_status: int
) -> tuple[dict[int, Any], dict[str, Any]]:
    """The response map and openapi_extra of an operation declaring `codes`."""
    if response is NOT_SET:
        raise TypeError("declare the operation's output schema with response=")
    responses = dict(response) if isinstance(response, dict) else {default_status: response}
    for status, model in responses.items():
        if model is dict or model is list:
            raise TypeError(f"response {status} is an untyped {model.__name__}; declare a Schema")
    responses.update({status: ErrorOut for status in error_responses(codes) if status not in responses})
    extra = dict(openapi_extra or {})
    grouped = statuses_of(tuple(codes))
    if grouped:
        extra[X_ERROR_CODES] = {str(status): sorted(group) for status, group in grouped.items()}
    return responses, extra


class PortalRouter(Router):
    """A django-ninja Router whose operations take `errors=` and must declare `response=`."""

    def _contract(
        self,
        methods: list[str],
        path: str,
        *,
        errors: Sequence[str | tuple[str, int]] = (),
        response: Any = NOT_SET,
        openapi_extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Callable[[Callable], Callable]:
        responses, extra = with_errors(response, errors, openapi_extra, default_status=200)
        return self.api_operation(methods, path, response=responses, openapi_extra=extra, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:  # type: ignore[override]
        return self._contract(["GET"], path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:  # type: ignore[override]
        return self._contract(["POST"], path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:  # type: ignore[override]
        return self._contract(["PUT"], path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:  # type: ignore[override]
        return self._contract(["PATCH"], path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Callable], Callable]:  # type: ignore[override]
        return self._contract(["DELETE"], path, **kwargs)
