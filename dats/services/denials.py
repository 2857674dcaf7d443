"""What a denied access request leaves behind: nothing it wrote (the denial rolls its transaction
back) except one `dat.access_denied` event to the DAT owner, written afterwards in its own short
transaction, at most once per DAT, requester, use and reason an hour (a pipeline retrying a denied
request in a loop cannot flood the owner's inbox)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import transaction

from portal.errors import DomainError
from portal.events import emit, first_in

from ..models import DAT

P = ParamSpec("P")
R = TypeVar("R")
THROTTLE_SECONDS = 3600


def tell_owner_when_denied(denied: type[DomainError]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate access_request: when it raises `denied`, tell the DAT owner, then re-raise."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @wraps(service)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return service(*args, **kwargs)
            except denied as denial:
                denial_record(kwargs, code=denial.code)
                raise

        return run

    return decorate


def denial_record(request: dict[str, Any], *, code: str) -> None:
    """`request` is access_request's keyword arguments (dat_id, use, and a token or a user)."""
    token, user = request.get("token"), request.get("user")
    requester = token.user_id if token is not None else getattr(user, "pk", None)
    dat_id, use = request["dat_id"], request["use"]
    dat = DAT.objects.filter(pk=dat_id).values("idao_id", "owner_id", "title").first()
    if (
        dat is None
        or requester is None
        or not first_in(f"dat-denied:{dat_id}:{requester}:{use}:{code}", THROTTLE_SECONDS)
    ):
        return
    with transaction.atomic():
        emit(
            kind="dat.access_denied",
            idao=dat["idao_id"],
            subject=f"dat:{dat_id}",
            actor=requester,
            recipients=[dat["owner_id"]],
            payload={"title": dat["title"], "use": use, "reason": code},
        )
