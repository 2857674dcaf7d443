"""The `dat_policy_bounds` proposal action (registered with idaos.hooks in DatsConfig.ready()):
the iDAO's members vote the bounds (part of the charter) that every DAT policy of the iDAO must
stay within. execute() runs inside the proposal's execution transaction."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .. import policies
from ..models import PolicyBounds

BOUNDS_ACTION = "dat_policy_bounds"


def bounds_validate(idao: Any, payload: dict) -> dict:
    if not isinstance(payload, dict) or set(payload) - {"allowed_uses", "min_price_credit", "max_price_credit"}:
        raise policies.InvalidPolicy("The payload has allowed_uses, min_price_credit and max_price_credit.")
    uses = policies.clean_uses(payload.get("allowed_uses", list(policies.USES)))
    low = int(payload.get("min_price_credit") or 0)
    high = payload.get("max_price_credit")
    high = None if high is None or high == "" else int(high)
    if low < 0 or (high is not None and high < low):
        raise policies.InvalidPolicy("Prices are whole numbers with min ≤ max.")
    return {"allowed_uses": list(uses), "min_price_credit": low, "max_price_credit": high}


def bounds_execute(proposal: Any, payload: dict) -> dict:
    PolicyBounds.objects.update_or_create(
        idao=proposal.idao,
        defaults={
            "allowed_uses": payload["allowed_uses"],
            "min_price_credit": payload["min_price_credit"],
            "max_price_credit": payload["max_price_credit"],
            "changed_at": timezone.now(),
        },
    )
    return dict(payload)


def bounds_describe(payload: dict) -> str:
    price = f"at least {payload.get('min_price_credit', 0)} CREDIT"
    if payload.get("max_price_credit") is not None:
        price += f" and at most {payload['max_price_credit']}"
    return f"DATs of this iDAO may allow {', '.join(payload.get('allowed_uses', []))}, priced {price} per use."
